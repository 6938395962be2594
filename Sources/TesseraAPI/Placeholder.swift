// Placeholder until the TesseraAPI target lands.
