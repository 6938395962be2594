import Keyring
import OIDC
import TesseraNames

// The one place where the errors of the layers below the service — keyring, OpenID provider,
// mytoken server, account file — become `AgentError`s, and so wire names (`AgentError.name`).
// What an answer means can depend on what was asked (`invalid_grant` to a refresh is a lost
// login, to a device-code poll an expired code, to a password grant a wrong password): the
// caller says which with `Asking`, and the meaning is still written here.

extension AgentError {
    /// What the service asked when the error came back.
    public enum Asking: Sendable {
        /// Any request with the account's stored login (refresh, revoke, a sub-mytoken).
        case request
        /// Polling for a device code (RFC 8628).
        case deviceLogin
        /// The resource owner password grant.
        case passwordLogin
    }

    /// The server no longer accepts the account's stored login secret: it is gone for good.
    static func loginRejected(_ account: String, by server: String, description: String?) -> AgentError {
        .loginRequired(account: account, reason: "\(server) no longer accepts the login of \"\(account)\""
            + (description.map { " (\($0))" } ?? ""))
    }

    // MARK: Keyring

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

    // MARK: OpenID provider

    /// The agent's answer for a protocol failure of `account`.
    init(_ error: OIDCError, account: String, asking: Asking = .request) {
        switch (error, asking) {
        case (.invalidGrant, .deviceLogin):
            // The device code is gone, not the login.
            self = .expiredToken(account: account)
        case (.invalidGrant(let description), .passwordLogin):
            // The user is in the middle of logging in: "log in" would be no advice at all.
            self = .accessDenied(account: account, reason:
                "the provider refused the user name or password for \"\(account)\""
                + (description.map { " (\($0))" } ?? "")
                + "; check them and run `tessera login \(account) --password` again")
        case (.invalidGrant(let description), .request):
            self = .loginRejected(account, by: "the provider", description: description)
        case (.unauthorizedClient(let description), .passwordLogin):
            self = .provider(error: "unauthorized_client", description:
                "the client of \"\(account)\" may not use the password grant"
                + (description.map { " (\($0))" } ?? "") + "; use `tessera login \(account)` (device flow)")
        case (.expiredToken, _):
            self = .expiredToken(account: account)
        case (.accessDenied, _):
            self = .accessDenied(account: account)
        case (.transport(.bodyTooLarge(_, let limit)), _):
            // The provider was reached and answered, just too much: not "cannot reach" (issue 12.8).
            self = .provider(error: "response_too_large", description: "the answer is larger than \(limit) bytes; refusing it")
        case (.transport(.redirectRefused(_, let status, let location)), _):
            self = .provider(error: "redirect", description: "the provider answered with a redirect (HTTP \(status)) to \(location.map { String($0.prefix(200)) } ?? "nowhere"), which is not followed; check the issuer URL")
        case (.transport(let problem), _):
            self = .network(problem.description)
        case (.cancelled, _):
            self = .cancelled("the request to the provider was cancelled")
        case (.insecureURL(let url), _):
            self = .invalidArgument(field: "issuer", reason: "\(url) must use https")
        case (.server(let status, let code, let description), _):
            self = .provider(error: code ?? "HTTP \(status)", description: description)
        case (.malformedResponse(let detail), _):
            self = .provider(error: "malformed_response", description: detail)
        case (.issuerMismatch(let expected, let found), _):
            self = .provider(error: "issuer_mismatch", description: "asked for \(expected), the provider says \(found)")
        case (.unsupported(let feature), _):
            self = .provider(error: "unsupported", description: "the provider does not offer \(feature)")
        case (.stateMismatch, _):
            self = .provider(error: "state_mismatch", description: "the browser delivered an answer that does not belong to this login")
        case (.loginTimedOut(let seconds), _):
            self = .timeout("no browser login for \"\(account)\" arrived within \(seconds) s; start the login again")
        case (.invalidClient(let d), _), (.invalidScope(let d), _), (.invalidTarget(let d), _), (.unauthorizedClient(let d), _):
            self = .provider(error: error.oauthError ?? "error", description: d)
        case (.authorizationPending, _), (.slowDown, _):
            self = .provider(error: error.oauthError ?? "error", description: nil)
        }
    }

    // MARK: Mytoken server

    /// The agent's answer for a mytoken failure. `account` is nil for a token or code the caller
    /// passed; for an account's own mytoken, `invalid_token` means the login is gone.
    init(_ error: MytokenError, account: String?) {
        let who = account ?? "the mytoken"
        switch error {
        case .invalidTimeValue, .invalidRestriction:
            self = .invalidArgument(field: CreateMytokenKey.restrictions.rawValue, reason: error.description)
        case .invalidArgument(let what):
            self = .invalidArgument(field: "request", reason: what)
        case .invalidToken(let description):
            if let account {
                self = .loginRejected(account, by: "the mytoken server", description: description)
            } else {
                self = .provider(error: "invalid_token", description: error.description)
            }
        case .expiredCode, .loginExpired:
            if let account { self = .expiredToken(account: account) } else {
                self = .provider(error: "expired_token", description: error.description)
            }
        case .accessDenied:
            self = .accessDenied(account: who)
        case .usageRestricted, .insufficientCapabilities:
            self = .notPermitted(error.description)
        case .provider(let code, let description):
            self = .provider(error: code, description: description ?? error.description)
        case .unknownTemplate:
            self = .provider(error: "invalid_request", description: error.description)
        case .server(_, let code, let description):
            self = .provider(error: code, description: description)
        case .cancelled:
            self = .cancelled("the request to the mytoken server was cancelled")
        case .unsupported(let what):
            self = .provider(error: "unsupported", description: "the mytoken server does not support \(what)")
        case .network(let what):
            self = .network("mytoken server: \(what)")
        case .invalidResponse(let what):
            self = .provider(error: "malformed_response", description: "the mytoken server sent an unexpected answer: \(what)")
        }
    }

    // MARK: Account file

    /// The account file could not be written: nothing changed, and the user must fix the file's
    /// directory (permissions, space) first.
    init(_ error: AccountFileError) {
        self = .notPermitted(error.description)
    }
}
