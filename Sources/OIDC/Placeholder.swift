// Placeholder until the OIDC target lands.
