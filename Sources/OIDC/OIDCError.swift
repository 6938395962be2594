import FoundationEssentials

/// Everything that can go wrong talking to an OpenID provider, mirroring the RFCs' error codes
/// (RFC 6749 §5.2, RFC 8628 §3.5, RFC 8707 §2, RFC 7009 §2.2.1). The provider's `error` field
/// decides the case, never the HTTP status code (mytoken answers `authorization_pending` with 428).
///
/// Messages are for people: they say what happened and what to do. They never contain a token,
/// a device code, a client secret or a password — provider-supplied text is scrubbed of every
/// secret the request carried and cut to a sane length.
public enum OIDCError: Error, Sendable, Equatable, CustomStringConvertible {
    /// RFC 8628: the user has not finished the login yet; poll again after the interval.
    case authorizationPending
    /// RFC 8628: polling too fast; the interval must grow by 5 seconds.
    case slowDown
    /// RFC 8628: the device code expired (by the provider's word or by its own `expires_in`).
    case expiredToken
    /// RFC 8628 / RFC 6749: the user (or the provider) refused.
    case accessDenied(description: String?)
    /// RFC 6749: the grant (refresh token, device code, password) is invalid, expired or revoked.
    /// The only answer after which a stored refresh token should be deleted. A refresh answered
    /// with `invalid_token` in a 4xx (INDIGO IAM's word for an expired refresh token) is this too.
    case invalidGrant(description: String?)
    /// RFC 6749: client authentication failed (unknown client, wrong secret, wrong method).
    case invalidClient(description: String?)
    /// RFC 6749: the requested scope is unknown or wider than granted.
    case invalidScope(description: String?)
    /// RFC 8707: the requested resource (audience) is not allowed.
    case invalidTarget(description: String?)
    /// RFC 6749: this client may not use this grant type.
    case unauthorizedClient(description: String?)
    /// Any other OAuth error, or an error status without a usable OAuth error body.
    case server(status: Int, error: String?, description: String?)
    /// The request did not complete: timeout, connection refused, refused redirect, body too large.
    case transport(TransportProblem)
    /// The provider answered, but not with what the protocol requires.
    case malformedResponse(String)
    /// Plain http to a host that is not loopback.
    case insecureURL(String)
    /// The discovery document names another issuer than the one asked for (RFC 8414 §3.3).
    case issuerMismatch(expected: String, found: String)
    /// The provider does not offer this feature (e.g. no device authorization endpoint).
    case unsupported(String)
    /// The caller cancelled (Swift task cancellation).
    case cancelled
    /// A browser redirect whose `state` is not the login's (RFC 6749 §10.12): possibly forged.
    case stateMismatch
    /// No browser redirect arrived within the login's time limit.
    case loginTimedOut(seconds: Int)

    /// The OAuth `error` code this case stands for, if any (for the D-Bus `Provider` error).
    public var oauthError: String? {
        switch self {
        case .authorizationPending: "authorization_pending"
        case .slowDown: "slow_down"
        case .expiredToken: "expired_token"
        case .accessDenied: "access_denied"
        case .invalidGrant: "invalid_grant"
        case .invalidClient: "invalid_client"
        case .invalidScope: "invalid_scope"
        case .invalidTarget: "invalid_target"
        case .unauthorizedClient: "unauthorized_client"
        case .server(_, let error, _): error
        default: nil
        }
    }

    public var description: String {
        func with(_ text: String, _ detail: String?) -> String {
            guard let detail, !detail.isEmpty else { return text }
            return "\(text) (provider says: \(detail))"
        }
        switch self {
        case .authorizationPending:
            return "The login is not finished yet; waiting for the user to approve the code."
        case .slowDown:
            return "The provider asked to poll more slowly."
        case .expiredToken:
            return "The login code expired before it was approved; start the login again."
        case .accessDenied(let detail):
            return with("The login was denied at the provider.", detail)
        case .invalidGrant(let detail):
            return with("The provider rejected the grant (expired, revoked or wrong credentials); log in again.", detail)
        case .invalidClient(let detail):
            return with("The provider rejected the client credentials; check the client id and secret.", detail)
        case .invalidScope(let detail):
            return with("The provider rejected the requested scopes.", detail)
        case .invalidTarget(let detail):
            return with("The provider rejected the requested audience/resource.", detail)
        case .unauthorizedClient(let detail):
            return with("This client is not allowed to use this grant at the provider.", detail)
        case .server(let status, let error, let detail):
            let code = error.map { " error \"\($0)\"" } ?? ""
            return with("The provider answered HTTP \(status)\(code).", detail)
        case .transport(let problem):
            return problem.description
        case .malformedResponse(let what):
            return "The provider's answer is not valid: \(what)."
        case .insecureURL(let url):
            return "Refusing plain http to \(url): OpenID endpoints must use https (http is allowed for loopback hosts only)."
        case .issuerMismatch(let expected, let found):
            return "The discovery document of \(expected) names the issuer \(found); refusing it (check the issuer URL)."
        case .unsupported(let what):
            return "The provider does not support \(what)."
        case .cancelled:
            return "The request was cancelled."
        case .stateMismatch:
            return "The browser delivered an answer that does not belong to this login (state mismatch); start the login again."
        case .loginTimedOut(let seconds):
            return "No login arrived from the browser within \(seconds) s; start the login again."
        }
    }
}

/// Why an HTTP exchange did not complete.
public enum TransportProblem: Sendable, Equatable, CustomStringConvertible {
    case timedOut(url: String, seconds: Double)
    case cannotConnect(url: String, reason: String)
    /// Token requests carry credentials; following a redirect could hand them to another host.
    case redirectRefused(url: String, status: Int, location: String?)
    case bodyTooLarge(url: String, limit: Int)
    case failed(url: String, reason: String)

    public var description: String {
        switch self {
        case .timedOut(let url, let seconds):
            "No answer from \(url) within \(seconds.formatted()) s; the provider may be down or slow."
        case .cannotConnect(let url, let reason):
            "Cannot connect to \(url): \(reason). Check the network and the issuer URL."
        case .redirectRefused(let url, let status, let location):
            "\(url) answered with a redirect (HTTP \(status)) to \(location ?? "nowhere"); refusing to follow it. Check the issuer URL."
        case .bodyTooLarge(let url, let limit):
            "The answer from \(url) is larger than \(limit) bytes; refusing it."
        case .failed(let url, let reason):
            "The request to \(url) failed: \(reason)."
        }
    }
}

extension Double {
    fileprivate func formatted() -> String {
        if self == rounded() { return String(Int(self)) }
        let tenths = Int((self * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
