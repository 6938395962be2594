import FoundationEssentials
import OIDC

/// A mytoken account's login: the server's OIDC flow with a polling code (the user gives consent
/// on the server's page; the service polls for the mytoken).
extension MytokenSource {
    /// The server's OIDC-flow login: a consent page to open, then polling for the mytoken.
    func startLogin(_ account: Account, scopes: [String]?) async throws(AgentError) -> LoginStart {
        let client = try await client(for: account)
        var request = MytokenRequest(capabilities: Self.loginCapabilities, applicationName: "Tessera")
        if let fields = account.mytokenRequest {
            // What `tessera mytoken add` asked for, as the base; the default capabilities only
            // when it names neither capabilities nor a profile.
            request.profile = MytokenProfile(fields: fields)
            if fields["capabilities"] != nil || fields["include"] != nil { request.capabilities = nil }
        }
        if let scopes, !scopes.isEmpty, account.mytokenRequest?["restrictions"] == nil {
            request.restrictions = [MytokenRestriction(scope: scopes.joined(separator: " "))]
        }
        let started: MytokenLogin
        do {
            started = try await client.startLogin(oidcIssuer: account.issuer.absoluteString, request)
        } catch {
            throw AgentError(error, account: account.name)
        }
        let loginScopes = scopes ?? account.scopes
        return LoginStart(
            make: { number, requestedBy in
                Login(number: number, account: account.name, mytokenLogin: started, scopes: loginScopes, requestedBy: requestedBy)
            },
            wait: { _ async throws(AgentError) -> IssuedLogin in
                do throws(MytokenError) {
                    return IssuedLogin(secret: try await client.waitForLogin(started).token)
                } catch {
                    throw AgentError(error, account: account.name)
                }
            })
    }
}
