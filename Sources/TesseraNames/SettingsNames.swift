// Service-wide settings: `GetSettings() → a{sv}` and `SetSettings(a{sv})` (DESIGN.md, "The D-Bus
// contract"). Persisted by the service in `$XDG_CONFIG_HOME/tessera/settings.json`.

/// Keys of `GetSettings`/`SetSettings`.
public enum ServiceSetting: String, CaseIterable, Sendable {
    /// `s`: where tesserad serves oidc-agent's client protocol: an absolute path, `default`
    /// (`${TMPDIR:-/tmp}/oidc-agent-service-$UID/oidc-agent.sock`, where oidc-agent 5 clients look
    /// without `OIDC_SOCK`), or "" for off. Persisted; applied at once.
    case oidcAgentSocket = "oidc-agent-socket"
    /// `s`, read-only: the socket path served right now, "" when none.
    case oidcAgentSocketActive = "oidc-agent-socket-active"
    /// `s`, read-only: why the configured socket is not served (e.g. an unsafe directory), "" when fine.
    case oidcAgentSocketProblem = "oidc-agent-socket-problem"

    /// The keys `SetSettings` accepts.
    public static let writable: [ServiceSetting] = [.oidcAgentSocket]
}

/// Values of the `oidc-agent-socket` setting besides a path.
public enum OIDCAgentSocketValue {
    /// oidc-agent 5's fallback path, resolved by the service from its own `TMPDIR` and uid.
    public static let defaultPath = "default"
    public static let off = ""
}
