/// Everything that can go wrong with mytoken input or a mytoken server, each with a message a
/// person can act on. No case ever carries a token, a transfer code or a polling code.
public enum MytokenError: Error, Sendable, Equatable, CustomStringConvertible {
    // Input (options, `--restriction`, files).
    /// A time value in none of the accepted forms.
    case invalidTimeValue(String)
    /// A restriction option or JSON clause that cannot be used; the text names the value and why.
    case invalidRestriction(String)
    /// A request option that cannot be sent (e.g. a negative `max_token_len`).
    case invalidArgument(String)

    // Answers of the server (`error` field of `{error, error_description}`).
    /// `invalid_token`: unknown, revoked, expired or rotated-away mytoken, or a bad transfer/polling code.
    case invalidToken(description: String?)
    /// `expired_token`: the polling or transfer code expired.
    case expiredCode(description: String?)
    /// `access_denied`: the user declined consent.
    case accessDenied(description: String?)
    /// `usage_restricted`: the mytoken's restrictions forbid this use (time, scope, audience, host, count).
    case usageRestricted(description: String?)
    /// `insufficient_capabilities`: the mytoken lacks the capability this call needs.
    case insufficientCapabilities(description: String?)
    /// `oidc_error`: the OpenID provider behind the mytoken server refused.
    case provider(error: String, description: String?)
    /// `invalid_request` "unknown include name: 'X'" (or "malformed include name"): a template or
    /// profile name the server does not know.
    case unknownTemplate(description: String)
    /// Any other error code (`invalid_request`, `invalid_grant`, `unsupported_grant_type`, …).
    case server(status: Int, error: String, description: String?)

    // Client side.
    /// The login (polling code) ran out of time before consent was given.
    case loginExpired
    /// The caller cancelled the login.
    case cancelled
    /// The server does not offer what the call needs (e.g. no revocation endpoint).
    case unsupported(String)
    /// The server could not be reached.
    case network(String)
    /// The server answered something that is not the mytoken API.
    case invalidResponse(String)

    public var description: String {
        switch self {
        case .invalidTimeValue(let value):
            "'\(value)' is not a valid time: use \(MytokenTimeParser.acceptedForms)"
        case .invalidRestriction(let what):
            "invalid restriction: \(what)"
        case .invalidArgument(let what):
            "invalid argument: \(what)"
        case .invalidToken(let detail):
            "the mytoken server rejected the token as invalid (unknown, revoked, expired or rotated away)"
                + Self.suffix(detail) + "; log in again or use a current mytoken"
        case .expiredCode(let detail):
            "the polling or transfer code has expired" + Self.suffix(detail) + "; start again"
        case .accessDenied(let detail):
            "consent was declined at the mytoken server" + Self.suffix(detail)
        case .usageRestricted(let detail):
            "the mytoken's restrictions do not allow this use (time window, scope, audience, host or usage count)"
                + Self.suffix(detail)
        case .insufficientCapabilities(let detail):
            "the mytoken lacks the capability for this operation" + Self.suffix(detail)
                + "; use a mytoken created with it"
        case .provider(let error, let detail):
            "the OpenID provider behind the mytoken server refused: \(error)" + Self.suffix(detail)
        case .unknownTemplate(let detail):
            "the mytoken server does not know a template or profile that was named (\(detail)); "
                + "list the server's with `tessera mytoken profiles`"
        case .server(let status, let error, let detail):
            "the mytoken server answered HTTP \(status) \(error)" + Self.suffix(detail)
        case .loginExpired:
            "the login at the mytoken server expired before consent was given; start it again"
        case .cancelled:
            "the login was cancelled"
        case .unsupported(let what):
            "the mytoken server does not support \(what)"
        case .network(let what):
            "cannot reach the mytoken server: \(what)"
        case .invalidResponse(let what):
            "the mytoken server sent an unexpected answer: \(what)"
        }
    }

    private static func namesAnUnknownTemplate(_ description: String) -> Bool {
        description.hasPrefix("unknown include name") || description.hasPrefix("malformed include name")
    }

    private static func suffix(_ detail: String?) -> String {
        guard let detail, !detail.isEmpty else { return "" }
        return " (\(detail))"
    }

    /// The error a server answer `{error, error_description}` with `status` stands for.
    public static func fromServer(status: Int, error: String, description: String?) -> MytokenError {
        switch error {
        case "invalid_token": .invalidToken(description: description)
        case "expired_token": .expiredCode(description: description)
        case "access_denied": .accessDenied(description: description)
        case "usage_restricted": .usageRestricted(description: description)
        case "insufficient_capabilities": .insufficientCapabilities(description: description)
        case "oidc_error": .provider(error: error, description: description)
        case "invalid_request" where description.map(Self.namesAnUnknownTemplate) ?? false:
            .unknownTemplate(description: description ?? "")
        default: .server(status: status, error: error, description: description)
        }
    }
}
