
/// Everything the keyring can refuse, each with advice a person can act on. Messages never
/// contain a secret value.
public enum KeyringError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The collection is locked and was not unlocked (the prompt was dismissed or could not be shown).
    case locked
    /// No Secret Service on the session bus (`org.freedesktop.secrets` cannot be activated).
    case unavailable(String)
    /// The Secret Service has no default collection (no "login" keyring yet).
    case noDefaultCollection
    /// The Secret Service or a portal refused access.
    case permissionDenied(String)
    /// The keyring did not answer within the store's timeout; the call may still finish later.
    case timeout(Duration)
    /// The calling task was cancelled before the keyring answered.
    case cancelled
    /// A value libsecret cannot store (empty, or with a NUL character).
    case invalidArgument(String)
    /// Anything else the Secret Service or libsecret reported.
    case other(String)

    public var description: String {
        switch self {
        case .locked:
            "the keyring is locked: unlock your keyring (e.g. log in again or use Seahorse) and retry"
        case .unavailable(let detail):
            "no Secret Service on the session bus: install/start gnome-keyring or KeePassXC's Secret Service (\(detail))"
        case .noDefaultCollection:
            "the Secret Service has no default keyring: create one (e.g. a \"login\" keyring in Seahorse) and retry"
        case .permissionDenied(let detail):
            "access to the keyring was denied: allow Tessera in your keyring or portal settings (\(detail))"
        case .timeout(let limit):
            "the keyring did not answer within \(limit): it may be waiting for an unlock prompt; unlock it and retry"
        case .cancelled:
            "the keyring request was cancelled"
        case .invalidArgument(let detail):
            "invalid keyring request: \(detail)"
        case .other(let detail):
            "keyring error: \(detail)"
        }
    }
}
