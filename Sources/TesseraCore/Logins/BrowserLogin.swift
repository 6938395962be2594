import FoundationEssentials
import OIDC
import TesseraNames

/// The browser login: authorization code + PKCE on a loopback redirect (RFC 6749 §4.1, RFC 7636,
/// RFC 8252 §7.3), for OpenID accounts.
extension Agent {
    /// The account's pending browser login, or a new one: the listener bound, the authorization
    /// URL built and the flow object exported; the caller opens the URL. It ends like every other
    /// login (`runLogin`, `storeLogin`). `isNew` is false when the pending one was returned.
    public func startBrowserLogin(account nameOrIssuer: String, scopes: [String]?, timeout: UInt32,
                                  requestedBy: String? = nil) async throws(AgentError) -> (login: Login, isNew: Bool) {
        let account = try resolve(nameOrIssuer)
        return try await logins.pendingOrNew(account.name, .browser) { [self] () async throws(AgentError) -> Login in
            let client = try await oidc.client(for: account)
            let authorization: AuthorizationCodeFlow
            do throws(OIDCError) {
                authorization = try await client.startAuthorizationCode(scopes: scopes ?? account.scopes, audience: account.audience,
                                                                        redirectURIs: account.redirectURIs ?? [])
            } catch {
                throw AgentError(error, account: account.name)
            }
            let start = LoginStart(
                make: { number, requestedBy in
                    Login(number: number, account: account.name, browserLogin: authorization,
                          expiresAt: Date().addingTimeInterval(TimeInterval(timeout)), requestedBy: requestedBy)
                },
                wait: { login async throws(AgentError) -> IssuedLogin in
                    let response: TokenResponse
                    do throws(OIDCError) {
                        response = try await client.completeAuthorizationCode(authorization, timeout: .seconds(Int(timeout)))
                    } catch {
                        throw AgentError(error, account: account.name)
                    }
                    return try IssuedLogin(response, account: account, scopes: login.scopes)
                })
            logger.info("browser login for \(account.name) listening on \(authorization.redirectURI)")
            return await launch(start, account: account, family: .browser, notify: false, requestedBy: requestedBy)
        }
    }
}
