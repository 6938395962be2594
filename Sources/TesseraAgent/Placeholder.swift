// Placeholder until the TesseraAgent target lands.
