// Placeholder until the QRCode target lands.
