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

    /// The line a person reads: what happened and, where the wording does not say it already,
    /// what to do (`AgentErrorName.advice` or advice naming the account). Clients show it as it is.
    public var message: String {
        advice.map { "\(detail); \($0)" } ?? detail
    }

    /// What happened.
    var detail: String {
        switch self {
        case .noSuchAccount(let account): "no account named \"\(account)\""
        case .invalidArgument(let field, let reason): "invalid \(field): \(reason)"
        case .loginRequired(_, let reason): reason
        case .accessDenied(let account, let reason): reason ?? "the login for \"\(account)\" was denied at the provider"
        case .expiredToken(let account): "the login code for \"\(account)\" expired before it was approved"
        case .provider(let error, let description):
            if let description, !description.isEmpty {
                "the provider answered \(error): \(description)"
            } else {
                "the provider answered \(error)"
            }
        case .network(let detail): "cannot reach the provider: \(detail)"
        case .keyringLocked(let detail): "the keyring is locked (\(detail))"
        case .keyringUnavailable(let detail): "no usable keyring (\(detail))"
        case .cancelled(let detail), .notPermitted(let detail), .timeout(let detail): detail
        }
    }

    /// What to do, when `detail` does not say it.
    var advice: String? {
        switch self {
        case .noSuchAccount, .network: name.advice
        case .loginRequired(let account, _): "log in with `tessera login \(account)`"
        // A reason given with a denial is the whole story (e.g. a refused password, with advice).
        case .accessDenied(_, let reason): reason == nil ? "start the login again and approve it" : nil
        case .expiredToken: "start the login again"
        case .keyringLocked: "unlock it and try again"
        case .keyringUnavailable: "start a Secret Service such as gnome-keyring-daemon"
        case .invalidArgument, .provider, .cancelled, .notPermitted, .timeout: nil
        }
    }

    public var description: String { "\(name.rawValue): \(message)" }
}
