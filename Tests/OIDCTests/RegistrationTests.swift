import Foundation
import OIDC
import Secrets
import TestSupport
import Testing

/// Issue 13.6 (OIDC side): a self-registered client asks for device code, refresh token and
/// authorization code with a loopback redirect (so `login --browser` works on it), keeps its
/// RFC 7592 management credentials, and can be deleted. `scopes_supported` is what `max` means.
@Suite("OIDC: dynamic registration and client management")
struct RegistrationTests {
    /// The default provider (django-oauth-toolkit) allows one grant type per client: it refuses the
    /// full request with invalid_client_metadata, and registration falls back to the device flow.
    @Test func registrationAsksForEveryGrantAndFallsBackToTheDeviceFlow() async throws {
        let provider = try await SharedProvider.get()
        let transport = RecordingTransport()
        let registration = try await OIDCClient.register(
            issuer: provider.issuer, clientName: "Tessera registration test", scopes: ["openid", "offline_access"],
            transport: transport, cache: ProviderMetadataCache())
        let posts = transport.requests.filter { $0.method == .post }
        #expect(posts.count == 2)
        let first = try #require(posts.first.flatMap { try JSONSerialization.jsonObject(with: $0.body ?? Data()) as? [String: Any] })
        #expect(first["grant_types"] as? [String] == ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token", "authorization_code"])
        #expect(first["redirect_uris"] as? [String] == ["http://127.0.0.1/callback"])
        #expect(first["response_types"] as? [String] == ["code"])
        let second = try #require(posts.last.flatMap { try JSONSerialization.jsonObject(with: $0.body ?? Data()) as? [String: Any] })
        #expect(second["grant_types"] as? [String] == ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"])
        #expect(second["redirect_uris"] == nil)
        #expect(!registration.allowsAuthorizationCode)
        // The client works for the device flow.
        let client = OIDCClient(issuer: provider.issuer, credentials: registration.credentials, cache: ProviderMetadataCache())
        let tokens = try await deviceLogin(client, provider: provider, scopes: ["openid", "offline_access"])
        #expect(tokens.refreshToken != nil)
    }

    @Test func managementCredentialsAreKeptRedactedAndDeleteTheClient() async throws {
        let provider = try await SharedProvider.get()
        let registration = try await OIDCClient.register(
            issuer: provider.issuer, clientName: "Tessera management test", scopes: ["openid", "offline_access"],
            cache: ProviderMetadataCache())
        let management = try #require(registration.management)
        #expect(management.clientURI.absoluteString.contains(registration.credentials.clientID))
        let token = management.accessToken.reveal()
        for text in ["\(registration)", "\(management)", String(reflecting: registration), String(reflecting: management)] {
            #expect(!text.contains(token), "leaked: \(text)")
        }
        var dumped = ""
        dump(registration, to: &dumped)
        #expect(!dumped.contains(token))

        let read = try await OIDCClient.readRegistration(management)
        #expect(read.credentials.clientID == registration.credentials.clientID)

        try await OIDCClient.deleteRegistration(management)
        // Gone: the management token no longer works, nor does the client.
        let again = await expectOIDCError { () async throws(OIDCError) in try await OIDCClient.readRegistration(management) }
        guard case .server(401, "invalid_token", _) = again else { Issue.record("after delete: \(String(describing: again))"); return }
        let client = OIDCClient(issuer: provider.issuer, credentials: registration.credentials, cache: ProviderMetadataCache())
        let login = await expectOIDCError { () async throws(OIDCError) in
            try await client.startDeviceAuthorization(scopes: ["openid"])
        }
        // django-oauth-toolkit says invalid_request "Invalid client_id parameter value"; others invalid_client.
        switch login {
        case .invalidClient: break
        case .server(400, "invalid_request", let description?) where description.contains("client_id"): break
        default: Issue.record("deleted client: \(String(describing: login))")
        }
    }

    @Test func aWrongManagementTokenIsRefusedAndNotEchoed() async throws {
        let provider = try await SharedProvider.get()
        let registration = try await OIDCClient.register(
            issuer: provider.issuer, clientName: "Tessera wrong token test", cache: ProviderMetadataCache())
        let management = try #require(registration.management)
        let wrong = ClientManagement(accessToken: Secret("not-the-registration-token-5c1e"), clientURI: management.clientURI)
        let error = await expectOIDCError { () async throws(OIDCError) in try await OIDCClient.deleteRegistration(wrong) }
        guard case .server(401, "invalid_token", _) = error else { Issue.record("wrong token: \(String(describing: error))"); return }
        #expect(!String(describing: error!).contains("5c1e"))
        _ = try await OIDCClient.readRegistration(management)  // still there
        try await OIDCClient.deleteRegistration(management)
    }

    @Test func plainHTTPManagementURIIsRefused() async throws {
        let management = ClientManagement(accessToken: Secret("t"), clientURI: URL(string: "http://127.evil.example/c/1")!)
        let error = await expectOIDCError { () async throws(OIDCError) in try await OIDCClient.deleteRegistration(management) }
        #expect(error == .insecureURL("http://127.evil.example/c/1"))
    }

    /// `max`: every scope the provider publishes; an issuer that publishes none says so.
    @Test func scopesSupportedIsWhatMaxMeans() async throws {
        let provider = try await SharedProvider.get()
        let metadata = try await OIDCClient.discover(issuer: provider.issuer, cache: ProviderMetadataCache())
        let max = try metadata.maxScopes()
        #expect(Set(["openid", "offline_access", "read", "write"]).isSubset(of: Set(max)), "\(max)")
        let faults = try await FaultServer.start()
        let bare = try await OIDCClient.discover(issuer: faults.issuer(for: "bare"), cache: ProviderMetadataCache())
        let error = Result { () throws(OIDCError) in try bare.maxScopes() }
        guard case .failure(.unsupported(let what)) = error, what.contains("scopes_supported") else {
            Issue.record("no scopes: \(error)"); return
        }
    }
}
