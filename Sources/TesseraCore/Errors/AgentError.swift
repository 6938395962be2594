import Keyring
import TesseraNames

/// Everything the agent can answer with instead of a result. Each case maps to exactly one
/// `io.tessera.Agent1.Error.<Name>` (`name`), and `message` is the one line a person reads.
/// Messages never contain a secret: they are built from names, URLs and the provider's
/// `error`/`error_description`, never from token or secret values.
public enum AgentError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchAccount(String)
    case invalidArgument(field: String, reason: String)
    case loginRequired(account: String, reason: String)
    /// `reason`: what the provider refused, when it is not a denied device-flow login.
    case accessDenied(account: String, reason: String? = nil)
    case expiredToken(account: String)
    /// The provider answered with an OAuth error (or an unusable response).
    case provider(error: String, description: String?)
    case network(String)
    case keyringLocked(String)
    case keyringUnavailable(String)
    case cancelled(String)
    case notPermitted(String)
    case timeout(String)

    /// The wire name's table: one case, one name.
    public var name: AgentErrorName {
        switch self {
        case .noSuchAccount: .noSuchAccount
        case .invalidArgument: .invalidArgument
        case .loginRequired: .loginRequired
        case .accessDenied: .accessDenied
        case .expiredToken: .expiredToken
        case .provider: .provider
        case .network: .network
        case .keyringLocked: .keyringLocked
        case .keyringUnavailable: .keyringUnavailable
        case .cancelled: .cancelled
        case .notPermitted: .notPermitted
        case .timeout: .timeout
        }
    }

    public var message: String {
        switch self {
        case .noSuchAccount(let account):
            "no account named \"\(account)\"; \(AgentErrorName.noSuchAccount.advice)"
        case .invalidArgument(let field, let reason):
            "invalid \(field): \(reason)"
        case .loginRequired(let account, let reason):
            "\(reason); log in with `tessera login \(account)`"
        case .accessDenied(let account, let reason):
            reason ?? "the login for \"\(account)\" was denied at the provider"
        case .expiredToken(let account):
            "the login code for \"\(account)\" expired before it was approved; start the login again"
        case .provider(let error, let description):
            if let description, !description.isEmpty {
                "the provider answered \(error): \(description)"
            } else {
                "the provider answered \(error)"
            }
        case .network(let detail):
            "cannot reach the provider: \(detail)"
        case .keyringLocked(let detail):
            "the keyring is locked (\(detail)); unlock it and try again"
        case .keyringUnavailable(let detail):
            "no usable keyring (\(detail)); start a Secret Service such as gnome-keyring-daemon"
        case .cancelled(let detail):
            detail
        case .notPermitted(let detail):
            detail
        case .timeout(let detail):
            detail
        }
    }

    public var description: String { "\(name.rawValue): \(message)" }
}

extension AgentError {
    /// Keyring failures keep their distinction: locked and unavailable need different advice.
    public init(_ error: KeyringError) {
        switch error {
        case .locked:
            self = .keyringLocked("the default collection is locked")
        case .unavailable(let detail):
            self = .keyringUnavailable(detail)
        case .noDefaultCollection:
            self = .keyringUnavailable("the Secret Service has no default keyring; create a \"login\" keyring")
        case .permissionDenied(let detail):
            self = .notPermitted("the keyring refused access: \(detail)")
        case .timeout(let limit):
            self = .timeout("the keyring did not answer within \(limit); it may be waiting for an unlock prompt")
        case .cancelled:
            self = .cancelled("the keyring request was cancelled")
        case .invalidArgument(let detail):
            self = .invalidArgument(field: "secret", reason: detail)
        case .other(let detail):
            self = .keyringUnavailable(detail)
        }
    }
}
