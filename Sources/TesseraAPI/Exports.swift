// The contract's names and keys are plain Swift in TesseraNames, so the service's core can use
// them without linking D-Bus; everyone who imports the contract gets them through this module.
@_exported import TesseraNames
