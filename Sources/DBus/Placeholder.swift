// Placeholder until the DBus target lands.
