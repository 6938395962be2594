import Foundation
@testable import OIDC
import Testing
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Authorization code + PKCE on a loopback redirect, against the real provider with a headless
/// browser (Tests/Provider/browser.py) that logs in as alice, answers the consent form and follows
/// the redirect to the listener.
@Suite("Authorization code with PKCE")
struct AuthorizationCodeTests {
    func client(_ provider: TestProvider, style: AudienceStyle = .resource,
                transport: any HTTPTransport = CurlTransport()) -> OIDCClient {
        OIDCClient(issuer: provider.issuer, credentials: .publicClient(TestProvider.browserPublic.id),
                   audienceStyle: style, transport: transport, cache: ProviderMetadataCache())
    }

    /// An imported oidc-agent client's redirect URIs: only loopback http with a port is listened
    /// on, and sent exactly as registered; a list without one is refused with the reason.
    @Test func registeredLoopbackRedirectsAreUsedAsRegistered() throws {
        let plain = try #require(LoopbackRedirect("http://localhost:8080"))
        #expect(plain.port == 8080 && plain.path == "/")
        let withPath = try #require(LoopbackRedirect("http://127.0.0.1:4242/cb"))
        #expect(withPath.port == 4242 && withPath.path == "/cb")
        for refused in ["https://localhost:8080", "http://localhost", "http://example.org:8080/", "edu.kit.data.oidc-agent:/redirect",
                        "http://localhost:8080/?x=1", "http://localhost:0"] {
            #expect(LoopbackRedirect(refused) == nil, "\(refused)")
        }
        let port = UInt16.random(in: 40000...49000)
        let listener = try OIDCClient.listener(for: ["edu.kit.data.oidc-agent:/redirect", "http://localhost:\(port)"])
        #expect(listener.redirectURI.absoluteString == "http://localhost:\(port)" && listener.port == port)
        #expect(throws: OIDCError.self) { _ = try OIDCClient.listener(for: ["edu.kit.data.oidc-agent:/redirect"]) }
        #expect(try OIDCClient.listener(for: []).redirectURI.absoluteString.hasPrefix("http://127.0.0.1:"))
    }

    @Test func sha256AndPKCEFollowTheStandardVectors() throws {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000))).hasPrefix("41edece42d63e8d9bf515a9ba6932e1c"))
        // RFC 7636 Appendix B.
        let pkce = try PKCE(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        #expect(pkce.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        let fresh = PKCE()
        #expect(fresh.verifier.reveal().count == 43 && fresh.verifier.reveal() != PKCE().verifier.reveal())
        #expect("\(fresh.verifier)" == "<redacted>")
        #expect(throws: OIDCError.self) { try PKCE(verifier: "too-short") }
    }

    @Test func browserLoginAgainstTheRealProvider() async throws {
        let provider = try await SharedProvider.get()
        let transport = RecordingTransport()
        let client = client(provider, transport: transport)
        let flow = try await client.startAuthorizationCode(scopes: ["openid", "offline_access", "read"])

        // The authorization URL: everything RFC 6749/7636/8252 and OIDC ask for, and no verifier.
        let query = Dictionary(uniqueKeysWithValues: (URLComponents(url: flow.authorizationURL, resolvingAgainstBaseURL: false)?
            .queryItems ?? []).map { ($0.name, ($0.value ?? "").replacingOccurrences(of: "+", with: " ")) })
        #expect(flow.authorizationURL.absoluteString.hasPrefix("\(provider.issuer.absoluteString)/o/authorize/?"))
        #expect(query["response_type"] == "code" && query["client_id"] == TestProvider.browserPublic.id)
        #expect(query["code_challenge_method"] == "S256" && query["code_challenge"] == flow.pkce.challenge)
        #expect(query["state"] == flow.state && query["nonce"] == flow.nonce && flow.state != flow.nonce)
        #expect(query["scope"] == "openid offline_access read")
        let redirect = try #require(URL(string: query["redirect_uri"] ?? ""))
        #expect(redirect.host == "127.0.0.1" && redirect.path == "/callback" && (redirect.port ?? 0) > 0)
        #expect(!flow.authorizationURL.absoluteString.contains(flow.pkce.verifier.reveal()))

        async let browsing = TestBrowser.open(flow.authorizationURL)
        let tokens = try await client.completeAuthorizationCode(flow, timeout: .seconds(30))
        let browser = try await browsing
        #expect(browser.succeeded && browser.stdout.contains("callback status=200 title=Tessera: Logged in"), "\(browser)")

        #expect(tokens.refreshToken != nil && tokens.idToken != nil)
        #expect(OIDCClient.nonce(of: try #require(tokens.idToken)) == flow.nonce)
        let info = try await provider.tokenInfo(accessToken: tokens.accessToken.reveal())
        #expect(info.active && info.username == "alice" && info.clientId == TestProvider.browserPublic.id)
        #expect(info.scopes == ["openid", "offline_access", "read"])

        let exchange = try #require(transport.requests.last)
        #expect(exchange.formValues("grant_type") == ["authorization_code"])
        #expect(exchange.formValues("code_verifier") == [flow.pkce.verifier.reveal()])
        #expect(exchange.formValues("redirect_uri") == [redirect.absoluteString])
        #expect(exchange.formValues("client_id") == [TestProvider.browserPublic.id])

        // The refresh token works like a device-flow one.
        let refreshed = try await client.refresh(refreshToken: try #require(tokens.refreshToken))
        #expect(try await provider.tokenInfo(accessToken: refreshed.accessToken.reveal()).active)
    }

    @Test func theProviderBindsTheCodeToTheChallenge() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider)
        let flow = try await client.startAuthorizationCode(scopes: ["openid", "offline_access"])
        async let browsing = TestBrowser.open(flow.authorizationURL)
        let code = try await flow.listener.receive(timeout: .seconds(30)) { parameters in
            OIDCClient.checkRedirect(parameters, state: flow.state, issuer: provider.issuer)
        }
        _ = try await browsing
        // The same code and redirect, another verifier: what an attacker who stole the code holds.
        let impostor = AuthorizationCodeFlow(authorizationURL: flow.authorizationURL, state: flow.state, nonce: flow.nonce,
                                             scopes: flow.scopes, audience: [], pkce: PKCE(), listener: flow.listener)
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client.exchangeAuthorizationCode(code, for: impostor)
        }
        guard case .invalidGrant = error else { Issue.record("wrong verifier: \(String(describing: error))"); return }
    }

    @Test func deniedConsentIsAccessDenied() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider)
        let flow = try await client.startAuthorizationCode(scopes: ["openid", "offline_access"])
        async let browsing = TestBrowser.open(flow.authorizationURL, deny: true)
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client.completeAuthorizationCode(flow, timeout: .seconds(30))
        }
        let browser = try await browsing
        guard case .accessDenied = error else { Issue.record("denied: \(String(describing: error))"); return }
        #expect(browser.stdout.contains("callback status=400 title=Tessera: Login failed"), "\(browser)")
    }

    @Test func otherPathsAreIgnoredAndAForeignStateIsRefused() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider)
        let flow = try await client.startAuthorizationCode(scopes: ["openid"])
        let waiting = Task { () async throws(OIDCError) -> TokenResponse in
            try await client.completeAuthorizationCode(flow, timeout: .seconds(30))
        }
        let port = try #require(flow.redirectURI.port)
        let favicon = try await get("http://127.0.0.1:\(port)/favicon.ico")
        #expect(favicon.status == 404)
        let posted = try await get("http://127.0.0.1:\(port)/callback?code=x&state=\(flow.state)", method: "POST")
        #expect(posted.status == 405)
        // A code with someone else's state (a forged or stale redirect) ends the login, unredeemed.
        let forged = try await get("http://127.0.0.1:\(port)/callback?code=stolen&state=not-\(flow.state)")
        #expect(forged.status == 400 && forged.body.contains("does not belong"))
        let result = await waiting.result
        // Not invalidGrant: the forged code never went to the provider.
        guard case .failure(let error) = result, error as? OIDCError == .stateMismatch else {
            Issue.record("forged state: \(result)")
            return
        }
        // The listener is one-shot and closed with the flow's wait.
        await #expect(throws: (any Error).self) { _ = try await get("http://127.0.0.1:\(port)/callback?state=\(flow.state)") }
    }

    @Test func anErrorRedirectWithTheRightStateKeepsTheProvidersCode() async throws {
        let provider = try await SharedProvider.get()
        let flow = try await client(provider).startAuthorizationCode(scopes: ["openid"])
        let (page, result) = OIDCClient.checkRedirect(
            ["state": flow.state, "error": "invalid_scope", "error_description": "no such scope\u{7}"],
            state: flow.state, issuer: provider.issuer)
        #expect(page.status == 400)
        guard case .failure(.invalidScope(let description)) = result else { Issue.record("\(result)"); return }
        #expect(description == "no such scope")
        let (_, wrongIssuer) = OIDCClient.checkRedirect(["state": flow.state, "code": "c", "iss": "https://evil.example"],
                                                        state: flow.state, issuer: provider.issuer)
        guard case .failure(.issuerMismatch) = wrongIssuer else { Issue.record("\(wrongIssuer)"); return }
        let (_, sameIssuer) = OIDCClient.checkRedirect(["state": flow.state, "code": "c", "iss": provider.issuer.absoluteString],
                                                       state: flow.state, issuer: provider.issuer)
        #expect((try? sameIssuer.get())?.reveal() == "c")
    }

    @Test func timeoutAndCancellationEndTheWait() async throws {
        let provider = try await SharedProvider.get()
        let client = client(provider)
        let slow = try await client.startAuthorizationCode(scopes: ["openid"])
        let started = ContinuousClock.now
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client.completeAuthorizationCode(slow, timeout: .milliseconds(300))
        }
        #expect(error == .loginTimedOut(seconds: 1))
        #expect(ContinuousClock.now - started < .seconds(3))

        let flow = try await client.startAuthorizationCode(scopes: ["openid"])
        let waiting = Task { () async throws(OIDCError) -> TokenResponse in
            try await client.completeAuthorizationCode(flow, timeout: .seconds(60))
        }
        try await Task.sleep(for: .milliseconds(100))
        let cancelledAt = ContinuousClock.now
        waiting.cancel()
        let result = await waiting.result
        guard case .failure(let error) = result, error as? OIDCError == .cancelled else {
            Issue.record("cancelled: \(result)")
            return
        }
        #expect(ContinuousClock.now - cancelledAt < .seconds(1))
    }

    private func get(_ url: String, method: String = "GET") async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
