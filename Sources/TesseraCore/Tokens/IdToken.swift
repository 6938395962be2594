import FoundationEssentials
import OIDC
import TesseraNames

/// An ID token as GetIdToken hands it out.
public struct IdToken: Sendable, CustomStringConvertible {
    public let value: String
    /// Its `exp` claim; nil when the token is not a readable JWT.
    public let expiresAt: Date?
    public var description: String { "IdToken(<redacted>, expires \(expiresAt.map { "\($0)" } ?? "?"))" }
}

extension Agent {
    /// The ID token of the account's latest login or refresh, if it stays valid for `minValid`
    /// seconds; otherwise (or with `force`) a refresh that includes `openid` is asked for one.
    /// Providers that never issue ID tokens on a refresh (or at all) get a `Provider` error
    /// saying so.
    public func idToken(account nameOrIssuer: String, minValid: UInt32, force: Bool) async throws(AgentError) -> IdToken {
        let account = try resolve(nameOrIssuer)
        if account.kind == .mytoken {
            throw .invalidArgument(field: "account", reason: "\"\(account.name)\" is a mytoken account; a mytoken server hands out no ID tokens")
        }
        if !force, let held = heldIdToken(account.name, minValid: minValid) { return held }
        let scopes = account.scopes.contains("openid") ? account.scopes : account.scopes + ["openid"]
        var request = TokenRequest(account: account.name)
        request.scopes = scopes
        request.minValid = 0
        request.force = true
        _ = try await token(request)
        guard let fresh = heldIdToken(account.name, minValid: 0) else {
            throw .provider(error: "no_id_token",
                            description: "\(account.issuer.absoluteString) returned no ID token on a refresh with the openid scope "
                                + "(some providers issue one only at login: log in again with `tessera login \(account.name)`)")
        }
        return fresh
    }

    private func heldIdToken(_ account: String, minValid: UInt32) -> IdToken? {
        guard let token = state.withLock({ $0.idTokens[account] }) else { return nil }
        let expiry = token.jwtExpiry
        if let expiry, expiry.timeIntervalSinceNow < TimeInterval(minValid) { return nil }
        return IdToken(value: token.reveal(), expiresAt: expiry)
    }
}
