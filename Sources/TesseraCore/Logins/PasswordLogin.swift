import Keyring
import OIDC
import Secrets

extension Agent {
    /// The deprecated resource owner password grant (RFC 6749 §4.3), for providers that offer
    /// nothing better. The password lives only in `password` for the one token request: it is not
    /// stored, logged or put in any error message (the OIDC client scrubs it from the provider's
    /// text too). The refresh token goes to the keyring as after a device flow.
    ///
    /// A wrong user name or password comes back from the provider as `invalid_grant`; here that is
    /// `AccessDenied` with a message saying so, not `LoginRequired` — the user is in the middle of
    /// logging in, and "log in" would be no advice at all.
    public func loginWithPassword(account nameOrIssuer: String, username: String, password: Secret,
                                  scopes: [String]?) async throws(AgentError) {
        let account = try resolve(nameOrIssuer)
        let scopes = scopes ?? account.scopes
        let client = try await oidc.client(for: account)
        let response: TokenResponse
        do throws(OIDCError) {
            response = try await client.deprecatedPasswordGrant(username: username, password: password, scopes: scopes,
                                                                audience: account.audience)
        } catch {
            if case .invalidGrant = error {
                logger.notice("the provider refused the password login of \(username) for \(account.name) (invalid_grant)")
            } else {
                logger.warning("the password login for \(account.name) failed: \(error)")
            }
            throw AgentError(error, account: account.name, asking: .passwordLogin)
        }
        try await storeLogin(try IssuedLogin(response, account: account, scopes: scopes), account: account)
        logger.info("\(account.name) is logged in (password grant, user \(username))")
        await currentObserver?.loginCompleted(account: account.name)
    }
}
