import Foundation
import OIDC
import Secrets
import Synchronization
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The test provider in IAM mode (issue 13, Tests/Provider/tessera_provider/iam.py) behaves like
/// INDIGO IAM where IAM differs, and the OIDC client copes with each behaviour.
@Suite("OIDC against the provider in IAM mode", .serialized)
struct IAMModeTests {
    /// One IAM-mode provider for the tests that do not change its lifetimes.
    static let shared = Mutex<Task<TestProvider, any Error>?>(nil)
    static func provider() async throws -> TestProvider {
        let task = shared.withLock { task in
            if let task { return task }
            let started = Task { try await TestProvider.start(.iam()) }
            task = started
            return started
        }
        return try await task.value
    }

    func client(_ provider: TestProvider, style: AudienceStyle = .auto, credentials: ClientCredentials? = nil,
                transport: any HTTPTransport = CurlTransport()) -> OIDCClient {
        OIDCClient(issuer: provider.issuer, credentials: credentials ?? .publicClient(TestProvider.devicePublic.id),
                   audienceStyle: style, transport: transport, cache: ProviderMetadataCache())
    }

    @Test func discoveryPublishesScopesAndIAMsRegistrationEndpoint() async throws {
        let provider = try await Self.provider()
        let metadata = try await client(provider).discover()
        #expect(metadata.registrationEndpoint?.path == "/iam/api/client-registration")
        #expect(Set(try metadata.maxScopes()).isSuperset(of: ["openid", "offline_access", "profile", "email"]))
    }

    /// The IAM page's `--aud example.audience`: by value it goes as `audience`, and the JWT's
    /// `aud` claim holds it; a URI goes as `resource` and lands in `aud` too.
    @Test func theAudienceEndsUpInTheAccessTokensAudClaim() async throws {
        let provider = try await Self.provider()
        let client = client(provider)
        let tokens = try await deviceLogin(client, provider: provider, audience: ["example.audience"])
        #expect(TestProvider.audienceClaim(tokens.accessToken.reveal()) == ["example.audience"])
        let refreshed = try await client.refresh(refreshToken: try #require(tokens.refreshToken), audience: ["other.audience"])
        #expect(TestProvider.audienceClaim(refreshed.accessToken.reveal()) == ["other.audience"])
        let api = "https://api.example.org"
        let withURI = try await deviceLogin(client, provider: provider, audience: [api])
        #expect(TestProvider.audienceClaim(withURI.accessToken.reveal()) == [api])
        // Without an audience, no aud claim.
        let plain = try await deviceLogin(client, provider: provider)
        #expect(TestProvider.jwtClaims(plain.accessToken.reveal())?["sub"] as? String == "alice")
        #expect(TestProvider.audienceClaim(plain.accessToken.reveal()) == nil)
    }

    /// IAM also reads `aud` (the client never sends it; a transport that renames the parameter does).
    @Test func theAudParameterIsReadToo() async throws {
        let provider = try await Self.provider()
        let client = client(provider, style: .audience, transport: RenamingTransport(from: "audience", to: "aud"))
        let tokens = try await deviceLogin(client, provider: provider, audience: ["aud.audience"])
        #expect(TestProvider.audienceClaim(tokens.accessToken.reveal()) == ["aud.audience"])
    }

    /// What `--audience-style resource` did to the IAM page's audience: "Not a valid URI".
    @Test func aNonURIResourceIsNotAValidURI() async throws {
        let provider = try await Self.provider()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(provider, style: .resource).startDeviceAuthorization(scopes: ["openid"], audience: ["example.audience"])
        }
        #expect(error == .invalidTarget(description: "Not a valid URI: example.audience"))
    }

    @Test func onARefreshAResourceNotGrantedAtLoginIsRefused() async throws {
        let provider = try await Self.provider()
        let client = client(provider)
        let api = "https://api.example.org"
        let tokens = try await deviceLogin(client, provider: provider, audience: [api])
        let refusal = await expectOIDCError { () async throws(OIDCError) in
            try await client.refresh(refreshToken: try! #require(tokens.refreshToken), audience: ["https://other.example.org"])
        }
        #expect(refusal == .invalidTarget(description: "The requested resource was not originally granted"))
        // The refused refresh did not spend the token; the granted resource works, also after rotation.
        let granted = try await client.refresh(refreshToken: try #require(tokens.refreshToken), audience: [api])
        #expect(TestProvider.audienceClaim(granted.accessToken.reveal()) == [api])
        let again = try await client.refresh(refreshToken: try #require(granted.refreshToken), audience: [api])
        #expect(TestProvider.audienceClaim(again.accessToken.reveal()) == [api])
    }

    /// IAM's 401 invalid_token "Refresh token for value … was not found" is the login gone.
    @Test func anUnknownRefreshTokenIsTheLoginGone() async throws {
        let provider = try await Self.provider()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(provider).refresh(refreshToken: Secret("no-such-refresh-token-8d2f"))
        }
        guard case .invalidGrant(let description?) = error else { Issue.record("unknown: \(String(describing: error))"); return }
        #expect(description.contains("invalid_token") && description.contains("was not found"))
        #expect(!description.contains("8d2f"), "the token IAM quotes must be scrubbed: \(description)")
    }

    @Test func anExpiredRefreshTokenIsTheLoginGone() async throws {
        // The refresh token dies `refreshTokenLifetime` after its access token expires.
        let provider = try await TestProvider.start(.iam(accessTokenLifetime: 1, refreshTokenLifetime: 1))
        defer { provider.stop() }
        let client = client(provider)
        let tokens = try await deviceLogin(client, provider: provider)
        try await Task.sleep(for: .seconds(3))
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client.refresh(refreshToken: try! #require(tokens.refreshToken))
        }
        guard case .invalidGrant(let description?) = error, description.contains("was not found") else {
            Issue.record("expired: \(String(describing: error))"); return
        }
    }

    /// IAM registers one client for several grants: device, refresh and authorization code (so a
    /// browser login works on a self-registered client), answering RFC 7592 management
    /// credentials under its own path; GET reads and DELETE removes the client.
    @Test func registrationForEveryGrantThenBrowserLoginThenDelete() async throws {
        let provider = try await Self.provider()
        let transport = RecordingTransport()
        let registration = try await OIDCClient.register(
            issuer: provider.issuer, clientName: "Tessera IAM test", scopes: ["openid", "offline_access"],
            transport: transport, cache: ProviderMetadataCache())
        #expect(transport.requests.filter { $0.method == .post }.count == 1)
        #expect(registration.allowsAuthorizationCode)
        #expect(Set(registration.grantTypes ?? []) == ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token", "authorization_code"])
        let management = try #require(registration.management)
        #expect(management.clientURI.path == "/iam/api/client-registration/\(registration.credentials.clientID)")
        #expect(try await OIDCClient.readRegistration(management).credentials.clientID == registration.credentials.clientID)

        let client = client(provider, credentials: registration.credentials)
        _ = try await deviceLogin(client, provider: provider, scopes: ["openid", "offline_access"])
        let flow = try await client.startAuthorizationCode(scopes: ["openid", "offline_access"], audience: ["example.audience"])
        async let browsing = TestBrowser.open(flow.authorizationURL)
        let tokens = try await client.completeAuthorizationCode(flow, timeout: .seconds(30))
        let browser = try await browsing
        #expect(browser.succeeded, "\(browser)")
        #expect(tokens.refreshToken != nil)
        #expect(TestProvider.audienceClaim(tokens.accessToken.reveal()) == ["example.audience"])

        try await OIDCClient.deleteRegistration(management)
        let gone = await expectOIDCError { () async throws(OIDCError) in try await OIDCClient.readRegistration(management) }
        guard case .server(401, "invalid_token", _) = gone else { Issue.record("deleted: \(String(describing: gone))"); return }
    }

    @Test func registeringForThePasswordGrantIsRefused() async throws {
        let provider = try await Self.provider()
        let endpoint = try #require(try await client(provider).discover().registrationEndpoint)
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"client_name":"x","grant_types":["password","refresh_token"],"token_endpoint_auth_method":"none"}"#.utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 400)
        #expect(String(decoding: data, as: UTF8.self).contains("invalid_client_metadata"))
    }
}

/// Renames one form parameter on the way out (to send what the client never sends itself).
final class RenamingTransport: HTTPTransport {
    let inner = CurlTransport()
    let from: String
    let to: String

    init(from: String, to: String) {
        self.from = from
        self.to = to
    }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var request = request
        if let body = request.body, request.headers["Content-Type"] == "application/x-www-form-urlencoded" {
            let text = String(decoding: body, as: UTF8.self).split(separator: "&").map { pair in
                pair.hasPrefix("\(from)=") ? "\(to)=" + pair.dropFirst(from.count + 1) : String(pair)
            }.joined(separator: "&")
            request.body = Data(text.utf8)
        }
        return try await inner.send(request)
    }
}
