import Foundation
import OIDC
import Secrets
import TestSupport
import Testing

/// The OIDC client against the project's real test provider (django-oauth-toolkit 3.4.1).
/// Tests with default settings share one provider (they use separate codes and tokens); tests that
/// change settings or count requests start their own.
@Suite("OIDC against the test provider")
struct ProviderTests {
    static let deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

    func client(_ provider: TestProvider, _ client: TestProvider.Client = TestProvider.devicePublic, post: Bool = false,
                style: AudienceStyle = .resource, transport: any HTTPTransport = CurlTransport()) -> OIDCClient {
        OIDCClient(issuer: provider.issuer, credentials: credentials(client, post: post), audienceStyle: style,
                   transport: transport, cache: ProviderMetadataCache())
    }

    @Test func discoveryAdvertisesTheRFC8628EndpointsAndIsCachedPerIssuer() async throws {
        let provider = try await SharedProvider.get()
        let transport = RecordingTransport()
        let client = client(provider, transport: transport)
        let metadata = try await client.discover()
        #expect(metadata.issuer == provider.issuer)
        #expect(metadata.source == .openIDConfiguration)
        #expect(metadata.tokenEndpoint.absoluteString.hasSuffix("/o/token/"))
        #expect(metadata.deviceAuthorizationEndpoint?.absoluteString.hasSuffix("/o/device-authorization/") == true)
        #expect(metadata.revocationEndpoint?.absoluteString.hasSuffix("/o/revoke_token/") == true)
        #expect(metadata.registrationEndpoint?.absoluteString.hasSuffix("/o/register/") == true)
        #expect(metadata.grantTypesSupported?.contains(Self.deviceGrant) == true)
        _ = try await client.discover()
        _ = try await client.startDeviceAuthorization(scopes: ["openid"])
        let discoveries = transport.requests.filter { $0.url.path.hasSuffix("openid-configuration") }
        #expect(discoveries.count == 1)
        let first = try #require(transport.requests.first)
        #expect(first.method == .get)
    }

    @Test func deviceFlowWithHeadlessApprovalPublicClient() async throws {
        let provider = try await SharedProvider.get()
        let transport = RecordingTransport()
        let client = client(provider, transport: transport)
        let flow = try await client.startDeviceAuthorization(scopes: ["openid", "offline_access", "read"])
        #expect(flow.verificationURI.absoluteString == "\(provider.issuer.absoluteString)/o/device/")
        #expect(flow.verificationURIComplete?.absoluteString.hasSuffix("user_code=\(flow.userCode)") == true)
        #expect(flow.interval == .seconds(1))
        #expect(abs(flow.expiresAt.timeIntervalSinceNow - 60) < 5)

        // Approve only after the client has been told to wait at least once.
        let approval = Task {
            while try await provider.stats().devicePolls[flow.userCode, default: 0] == 0 {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await provider.approve(userCode: flow.userCode)
        }
        let tokens = try await client.pollDeviceToken(flow)
        try await approval.value
        #expect(tokens.refreshToken != nil)
        #expect(tokens.tokenType.lowercased() == "bearer")
        #expect(tokens.lifetimeSource == .expiresIn)
        #expect(Set(tokens.scopes ?? []) == ["openid", "offline_access", "read"])
        let info = try await provider.tokenInfo(accessToken: tokens.accessToken.reveal())
        #expect(info.active && info.username == "alice" && info.clientId == TestProvider.devicePublic.id)

        let stats = try await provider.stats()
        let polls = try #require(stats.devicePollIntervals[flow.userCode])
        #expect(stats.devicePolls[flow.userCode] == polls.count + 1)
        #expect(polls.count >= 1 && polls.allSatisfy { $0 >= 0.95 }, "polled faster than the interval: \(polls)")
        // A public client identifies itself in the body; no Authorization header.
        let tokenRequest = try #require(transport.requests.last)
        #expect(tokenRequest.formValues("client_id") == [TestProvider.devicePublic.id])
        #expect(tokenRequest.headers["Authorization"] == nil)

        // RFC 8628: a device code is redeemed once.
        var replay = flow
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.requestDeviceToken(&replay) }
        guard case .invalidGrant = error else { Issue.record("second redemption: \(String(describing: error))"); return }
    }

    @Test(arguments: [false, true])
    func deviceFlowConfidentialClient(secretInBody: Bool) async throws {
        let provider = try await SharedProvider.get()
        let transport = RecordingTransport()
        let client = client(provider, TestProvider.deviceConfidential, post: secretInBody, transport: transport)
        let tokens = try await deviceLogin(client, provider: provider)
        #expect(tokens.refreshToken != nil)
        let refreshed = try await client.refresh(refreshToken: try #require(tokens.refreshToken))
        #expect(refreshed.refreshToken != nil)
        let last = try #require(transport.requests.last)
        if secretInBody {
            #expect(last.formValues("client_secret") == [TestProvider.deviceConfidential.secret!])
            #expect(last.headers["Authorization"] == nil)
        } else {
            #expect(last.headers["Authorization"]?.hasPrefix("Basic ") == true)
            #expect(last.formValues("client_secret").isEmpty)
        }

        let wrong = OIDCClient(
            issuer: provider.issuer,
            credentials: ClientCredentials(clientID: TestProvider.deviceConfidential.id,
                                           authentication: .clientSecretBasic(Secret("not-the-secret"))),
            cache: ProviderMetadataCache())
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await wrong.refresh(refreshToken: try! #require(refreshed.refreshToken))
        }
        guard case .invalidClient = error else { Issue.record("wrong secret: \(String(describing: error))"); return }
    }

    @Test func deniedLoginIsAccessDenied() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider)
        let flow = try await client.startDeviceAuthorization(scopes: ["openid"])
        try await provider.deny(userCode: flow.userCode)
        let start = ContinuousClock.now
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.pollDeviceToken(flow) }
        guard case .accessDenied = error else { Issue.record("denied: \(String(describing: error))"); return }
        #expect(ContinuousClock.now - start < .seconds(15), "the denial, not the code's expiry, ended it")
    }

    @Test func expiredCodeAtTheProviderIsExpiredToken() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider)
        let flow = try await client.startDeviceAuthorization(scopes: ["openid"])
        try await provider.expire(userCode: flow.userCode)
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.pollDeviceToken(flow) }
        #expect(error == .expiredToken)
    }

    @Test func deviceCodeOwnLifetimeEndsThePolling() async throws {
        let provider = try await TestProvider.start(.init(deviceInterval: 1, deviceCodeLifetime: 3))
        let client = client(provider)
        let flow = try await client.startDeviceAuthorization(scopes: ["openid"])
        let start = ContinuousClock.now
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.pollDeviceToken(flow) }
        #expect(error == .expiredToken)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .seconds(2) && elapsed < .seconds(10), "stopped after \(elapsed)")
    }

    @Test func slowDownAddsFiveSecondsToTheInterval() async throws {
        // A 3 s interval leaves room for a loaded machine between the start and the early poll.
        let provider = try await TestProvider.start(.init(deviceInterval: 3))
        let client = client(provider)
        var flow = try await client.startDeviceAuthorization(scopes: ["openid"])
        #expect(flow.interval == .seconds(3))
        // Poll at once, before the announced interval has passed: the provider says slow_down.
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.requestDeviceToken(&flow) }
        #expect(error == .slowDown)
        #expect(flow.interval == .seconds(8))
        try await provider.approve(userCode: flow.userCode)
        let tokens = try await client.pollDeviceToken(flow)
        #expect(!tokens.accessToken.isEmpty)
        // Measured at the provider: the gap after slow_down is the old interval + 5 s.
        let polls = try #require(try await provider.stats().devicePollIntervals[flow.userCode])
        #expect(polls.count == 1)
        #expect(polls[0] >= 7.95 && polls[0] < 12, "interval after slow_down: \(polls)")
    }

    @Test func pollingIsCancellable() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider)
        let flow = try await client.startDeviceAuthorization(scopes: ["openid"])
        let polling = Task { () async throws(OIDCError) -> TokenResponse in try await client.pollDeviceToken(flow) }
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        polling.cancel()
        let result = await polling.result
        #expect(ContinuousClock.now - start < .milliseconds(500))
        guard case .failure(let error) = result, error as? OIDCError == .cancelled else {
            Issue.record("cancelled poll: \(result)"); return
        }
    }

    @Test func refreshRotatesAndTheOldTokenIsThenInvalidGrant() async throws {
        let provider = try await TestProvider.start()
        let client = client(provider)
        let tokens = try await deviceLogin(client, provider: provider)
        let first = try #require(tokens.refreshToken)
        let refreshed = try await client.refresh(refreshToken: first)
        let rotated = try #require(refreshed.refreshToken, "the provider rotates refresh tokens")
        #expect(rotated != first)
        #expect(refreshed.accessToken != tokens.accessToken)
        let again = try await client.refresh(refreshToken: rotated)
        #expect(again.refreshToken != nil)
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.refresh(refreshToken: first) }
        guard case .invalidGrant = error else { Issue.record("rotated-away token: \(String(describing: error))"); return }
        #expect(try await provider.stats().refreshes == 3)
    }

    @Test func refreshWithNarrowerScope() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider)
        let tokens = try await deviceLogin(client, provider: provider, scopes: ["openid", "offline_access", "read", "write"])
        let narrow = try await client.refresh(refreshToken: try #require(tokens.refreshToken), scopes: ["read"])
        #expect(narrow.scopes == ["read"])
        #expect(try await provider.tokenInfo(accessToken: narrow.accessToken.reveal()).scopes == ["read"])
        let wider = await expectOIDCError { () async throws(OIDCError) in
            try await client.refresh(refreshToken: try! #require(narrow.refreshToken), scopes: ["email"])
        }
        guard case .invalidScope = wider else { Issue.record("wider scope: \(String(describing: wider))"); return }
    }

    @Test func resourceIndicatorsRFC8707() async throws {
        let provider = try await SharedProvider.get()
        let transport = RecordingTransport()
        let client = client(provider, transport: transport)
        let api = "https://api.example.org"
        let tokens = try await deviceLogin(client, provider: provider, audience: [api])
        #expect(try await provider.tokenInfo(accessToken: tokens.accessToken.reveal()).resource == [api])
        let refreshed = try await client.refresh(refreshToken: try #require(tokens.refreshToken), audience: [api])
        #expect(try await provider.tokenInfo(accessToken: refreshed.accessToken.reveal()).resource == [api])
        #expect(transport.requests.last?.formValues("resource") == [api])
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client.refresh(refreshToken: try! #require(refreshed.refreshToken), audience: ["https://other.example.org"])
        }
        guard case .invalidTarget = error else { Issue.record("foreign resource: \(String(describing: error))"); return }
    }

    @Test func legacyAudienceParameterIsSpaceSeparated() async throws {
        let provider = try await SharedProvider.get()
        let transport = RecordingTransport()
        let client = client(provider, style: .audience, transport: transport)
        let tokens = try await deviceLogin(client, provider: provider, audience: ["api-a", "api-b"])
        _ = try await client.refresh(refreshToken: try #require(tokens.refreshToken), audience: ["api-a"])
        let start = try #require(transport.requests.first { $0.url.absoluteString.hasSuffix("device-authorization/") })
        #expect(start.formValues("audience") == ["api-a api-b"])
        #expect(start.formValues("resource").isEmpty)
        #expect(transport.requests.last?.formValues("audience") == ["api-a"])
    }

    /// Issue 13.2: by default the audience goes by its value — IAM refuses a non-URI `resource`
    /// ("Not a valid URI"), RFC 8707 providers need `resource` for a URI; an account's explicit
    /// style still decides.
    @Test func audienceGoesByValueUnlessTheStyleSaysOtherwise() async throws {
        let provider = try await SharedProvider.get()
        let transport = RecordingTransport()
        let client = OIDCClient(issuer: provider.issuer, credentials: .publicClient(TestProvider.devicePublic.id),
                                transport: transport, cache: ProviderMetadataCache())
        #expect(client.audienceStyle == .auto)
        let api = "https://api.example.org"
        let tokens = try await deviceLogin(client, provider: provider, audience: ["example.audience", api, "other"])
        let start = try #require(transport.requests.first { $0.url.absoluteString.hasSuffix("device-authorization/") })
        #expect(start.formValues("resource") == [api])
        #expect(start.formValues("audience") == ["example.audience other"])
        #expect(try await provider.tokenInfo(accessToken: tokens.accessToken.reveal()).resource == [api])
        _ = try await client.refresh(refreshToken: try #require(tokens.refreshToken), audience: ["example.audience"])
        #expect(transport.requests.last?.formValues("audience") == ["example.audience"])
        #expect(transport.requests.last?.formValues("resource") == [])

        let audience = ["example.audience", api]
        #expect(AudienceStyle.resource.parameters(for: audience).map(\.name) == ["resource", "resource"])
        #expect(AudienceStyle.audience.parameters(for: audience).map(\.value) == ["example.audience https://api.example.org"])
        #expect(AudienceStyle.auto.parameters(for: []).isEmpty)
    }

    @Test(arguments: [
        ("https://api.example.org", true), ("https://api.example.org/path", true), ("urn:example:resource", true),
        ("http://127.0.0.1:8000/", true), ("example.audience", false), ("api-a", false), ("https://x/?q=1", false),
        ("https://x/#f", false), (":nothing", false), ("https:", false), ("1http://x", false), ("a b:c", false),
        ("https://ex ample.org", false), ("", false), ("https://bücher.example", false),
    ])
    func resourceURIsAreAbsoluteWithoutQueryOrFragment(_ value: String, _ isURI: Bool) {
        #expect(AudienceStyle.isResourceURI(value) == isURI, "\(value)")
        #expect(AudienceStyle.auto.parameters(for: [value]).first?.name == (isURI ? "resource" : "audience"))
    }

    @Test(arguments: [false, true])
    func revocationEndsTheRefreshToken(confidential: Bool) async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider, confidential ? TestProvider.deviceConfidential : TestProvider.devicePublic)
        let tokens = try await deviceLogin(client, provider: provider)
        let refreshToken = try #require(tokens.refreshToken)
        try await client.revoke(refreshToken, hint: .refreshToken)
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.refresh(refreshToken: refreshToken) }
        guard case .invalidGrant = error else { Issue.record("revoked token: \(String(describing: error))"); return }
        // Revoking again is fine (RFC 7009 §2.2: invalid tokens do not cause an error).
        try await client.revoke(refreshToken)
        try await client.revoke(tokens.accessToken, hint: .accessToken)
        #expect(try await provider.tokenInfo(accessToken: tokens.accessToken.reveal()).active == false)
    }

    @Test(arguments: [TestProvider.passwordConfidential, TestProvider.passwordPublic])
    func deprecatedPasswordGrant(client passwordClient: TestProvider.Client) async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider, passwordClient)
        let tokens = try await client.deprecatedPasswordGrant(
            username: "bob", password: Secret(TestProvider.users["bob"]!), scopes: ["openid", "read"])
        #expect(try await provider.tokenInfo(accessToken: tokens.accessToken.reveal()).username == "bob")
        #expect(tokens.refreshToken != nil)
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client.deprecatedPasswordGrant(username: "bob", password: Secret("not-bobs-password-7f3a"), scopes: ["openid"])
        }
        guard case .invalidGrant = error else { Issue.record("wrong password: \(String(describing: error))"); return }
        #expect(!String(describing: error!).contains("7f3a"))
    }

    @Test func deviceGrantWithAPasswordClientIsRefused() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider, TestProvider.passwordConfidential)
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client.refresh(refreshToken: Secret("no-such-refresh-token"))
        }
        guard case .invalidGrant = error else { Issue.record("unknown refresh token: \(String(describing: error))"); return }
    }

    @Test(arguments: [false, true])
    func dynamicRegistrationThenDeviceFlow(confidential: Bool) async throws {
        let provider = try await SharedProvider.get()
        let registration = try await OIDCClient.register(
            issuer: provider.issuer, clientName: "Tessera test", scopes: ["openid", "offline_access"],
            confidential: confidential, cache: ProviderMetadataCache())
        #expect(!registration.credentials.clientID.isEmpty)
        if confidential {
            guard case .clientSecretBasic(let secret) = registration.credentials.authentication else {
                Issue.record("expected a client secret"); return
            }
            #expect(!secret.isEmpty)
        } else {
            #expect(registration.credentials.authentication == .none)
        }
        let client = OIDCClient(issuer: provider.issuer, credentials: registration.credentials, cache: ProviderMetadataCache())
        let tokens = try await deviceLogin(client, provider: provider, scopes: ["openid", "offline_access"])
        _ = try await client.refresh(refreshToken: try #require(tokens.refreshToken))
    }

    @Test func registrationIsUnsupportedWhenNotOffered() async throws {
        let provider = try await TestProvider.start(.init(dynamicRegistration: false))
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await OIDCClient.register(issuer: provider.issuer, clientName: "x", cache: ProviderMetadataCache())
        }
        guard case .unsupported = error else { Issue.record("no registration: \(String(describing: error))"); return }
    }

    @Test func shortAccessTokenLifetimeIsReported() async throws {
        let provider = try await TestProvider.start(.init(accessTokenLifetime: 5))
        let client = client(provider)
        let tokens = try await deviceLogin(client, provider: provider)
        #expect(tokens.lifetime == .seconds(5))
        #expect(abs(tokens.expiresAt.timeIntervalSinceNow - 5) < 2)
    }
}
