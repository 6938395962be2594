import OIDC

extension AgentError {
    /// The agent's answer for a protocol failure of `account`. `invalid_grant` is not mapped here:
    /// what it means (login required, or a wrong password) depends on the grant.
    init(_ error: OIDCError, account: String) {
        switch error {
        case .expiredToken:
            self = .expiredToken(account: account)
        case .accessDenied:
            self = .accessDenied(account: account)
        case .invalidGrant(let description):
            self = .loginRequired(account: account, reason: "the provider no longer accepts the login of \"\(account)\""
                + (description.map { " (\($0))" } ?? ""))
        case .transport(.bodyTooLarge(_, let limit)):
            // The provider was reached and answered, just too much: not "cannot reach" (issue 12.8).
            self = .provider(error: "response_too_large", description: "the answer is larger than \(limit) bytes; refusing it")
        case .transport(.redirectRefused(_, let status, let location)):
            self = .provider(error: "redirect", description: "the provider answered with a redirect (HTTP \(status)) to \(location.map { String($0.prefix(200)) } ?? "nowhere"), which is not followed; check the issuer URL")
        case .transport(let problem):
            self = .network(problem.description)
        case .cancelled:
            self = .cancelled("the request to the provider was cancelled")
        case .insecureURL(let url):
            self = .invalidArgument(field: "issuer", reason: "\(url) must use https")
        case .server(let status, let code, let description):
            self = .provider(error: code ?? "HTTP \(status)", description: description)
        case .malformedResponse(let detail):
            self = .provider(error: "malformed_response", description: detail)
        case .issuerMismatch(let expected, let found):
            self = .provider(error: "issuer_mismatch", description: "asked for \(expected), the provider says \(found)")
        case .unsupported(let feature):
            self = .provider(error: "unsupported", description: "the provider does not offer \(feature)")
        case .stateMismatch:
            self = .provider(error: "state_mismatch", description: "the browser delivered an answer that does not belong to this login")
        case .loginTimedOut(let seconds):
            self = .timeout("no browser login for \"\(account)\" arrived within \(seconds) s; start the login again")
        case .authorizationPending, .slowDown, .invalidClient, .invalidScope, .invalidTarget, .unauthorizedClient:
            self = .provider(error: error.oauthError ?? "error", description: Self.description(of: error))
        }
    }

    private static func description(of error: OIDCError) -> String? {
        switch error {
        case .invalidClient(let d), .invalidScope(let d), .invalidTarget(let d), .unauthorizedClient(let d): d
        default: nil
        }
    }
}
