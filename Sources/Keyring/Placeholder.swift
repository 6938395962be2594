// Placeholder until the Keyring target lands.
