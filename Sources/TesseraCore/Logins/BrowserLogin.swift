import Foundation
import OIDC
import TesseraNames

extension Agent {
    /// The account's pending browser login (authorization code + PKCE on a loopback redirect), or
    /// a new one: the listener bound, the authorization URL built and the flow object exported;
    /// the caller opens the URL. It ends like every other login (`runLogin`, `storeLogin`).
    /// `isNew` is false when the pending one was returned.
    public func startBrowserLogin(account nameOrIssuer: String, scopes: [String]?, timeout: UInt32,
                                  requestedBy: String? = nil) async throws(AgentError) -> (login: DeviceFlow, isNew: Bool) {
        let account = try resolve(nameOrIssuer)
        if let pending = pendingLogin(of: account.name, browser: true) { return (pending, false) }
        let client = try await client(for: account)
        let authorization: AuthorizationCodeFlow
        do throws(OIDCError) {
            authorization = try await client.startAuthorizationCode(scopes: scopes ?? account.scopes, audience: account.audience)
        } catch {
            throw AgentError(error, account: account.name)
        }
        let login = makeFlow {
            DeviceFlow(number: $0, account: account.name, browserLogin: authorization,
                       expiresAt: Date().addingTimeInterval(TimeInterval(timeout)), requestedBy: requestedBy)
        }
        logger.info("browser login \(login.number) started for \(account.name) by \(requestedBy ?? "the service"); listening on \(authorization.redirectURI)")
        await currentObserver?.flowStarted(login, notify: false)
        login.attach(poller: Task { [self] in
            await runLogin(login, account: account) { [self] () async throws(AgentError) in
                let response: TokenResponse
                do throws(OIDCError) {
                    response = try await client.completeAuthorizationCode(authorization, timeout: .seconds(Int(timeout)))
                } catch {
                    throw AgentError(error, account: account.name)
                }
                try await storeLogin(response, account: account, scopes: login.scopes)
            }
        })
        return (login, true)
    }
}
