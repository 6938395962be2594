// Parts of the contract the CLI needs beyond DESIGN.md's table, proposed by the `tessera` client.
// The service answers UnknownMethod / UnknownProperty until it implements them, and the CLI then
// says so in one line; nothing else depends on them.

/// `LoginWithPassword(s account, a{sv} options)`: the deprecated resource owner password grant
/// (RFC 6749 §4.3; RFC 9700 says not to use it). The password travels only over the session bus,
/// never on a command line; the service stores the resulting refresh token and forgets the password.
public enum PasswordLoginMethod {
    public static let name = "LoginWithPassword"
}

/// Keys of `LoginWithPassword`'s options.
public enum PasswordLoginOption: String, CaseIterable, Sendable {
    /// `s`: the user name at the provider. Required.
    case username
    /// `s`: the password. Required; never logged.
    case password
    /// `as`: scopes to request; default: the account's scopes.
    case scopes
}

/// Read-only properties of `io.tessera.Agent1` (org.freedesktop.DBus.Properties).
public enum AgentProperty: String, CaseIterable, Sendable {
    /// `s`: the service's version, e.g. `0.1.0`.
    case version = "Version"
}

/// Per-account keys of `ListAccounts` that describe state rather than settings.
public enum AccountStateKey: String, CaseIterable, Sendable {
    /// `ax`: expiry (Unix time) of each access token the service holds in memory for the account.
    case tokenExpiresAt = "token-expires-at"
}
