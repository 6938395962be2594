import FoundationEssentials
import OIDC

/// An OpenID account's own login: the device flow (RFC 8628).
extension OIDCSource {
    /// The device flow (RFC 8628): the code to show, then polling until the user approves.
    func startLogin(_ account: Account, scopes: [String]?) async throws(AgentError) -> LoginStart {
        let client = try await client(for: account)
        let authorization: DeviceAuthorization
        do throws(OIDCError) {
            authorization = try await client.startDeviceAuthorization(scopes: scopes ?? account.scopes, audience: account.audience)
        } catch {
            throw AgentError(error, account: account.name)
        }
        return LoginStart(
            make: { number, requestedBy in
                Login(number: number, account: account.name, authorization: authorization, requestedBy: requestedBy)
            },
            wait: { login async throws(AgentError) -> IssuedLogin in
                let response: TokenResponse
                do throws(OIDCError) { response = try await client.pollDeviceToken(authorization) } catch {
                    throw AgentError(error, account: account.name, asking: .deviceLogin)
                }
                return try IssuedLogin(response, account: account, scopes: login.scopes)
            })
    }
}
