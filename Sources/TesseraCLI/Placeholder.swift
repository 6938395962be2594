// Placeholder until the TesseraCLI target lands.
