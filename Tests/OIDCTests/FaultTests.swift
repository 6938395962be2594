import Foundation
import OIDC
import Secrets
import TestSupport
import Testing

/// Every malformed answer class from the fault server (Tests/Provider/faults.py) must become its
/// typed `OIDCError` within the transport timeout, never a crash or a hang.
@Suite("OIDC against the fault server")
struct FaultTests {
    static let timeout: Duration = .seconds(2)

    struct Case: Sendable, CustomTestStringConvertible {
        let fault: String
        /// What the message a person reads must carry: the detail that tells this failure apart.
        let says: String
        let matches: @Sendable (OIDCError) -> Bool
        var testDescription: String { fault }
    }

    static let refreshCases: [Case] = [
        Case(fault: "non-json", says: "JSON") { if case .malformedResponse(let what) = $0 { what.contains("not JSON") || what.contains("not a JSON") } else { false } },
        Case(fault: "empty-400", says: "HTTP 400") { if case .server(400, nil, let what?) = $0 { what.contains("empty body") } else { false } },
        Case(fault: "empty-500", says: "HTTP 500") { if case .server(500, nil, let what?) = $0 { what.contains("empty body") } else { false } },
        Case(fault: "html-500", says: "502 Bad Gateway") { if case .server(500, nil, let what?) = $0 { what.contains("HTML page titled \"502 Bad Gateway\"") } else { false } },
        Case(fault: "html-200", says: "HTML page") { if case .malformedResponse(let what) = $0 { what.contains("HTML page") } else { false } },
        Case(fault: "missing-field", says: "\"access_token\"") { if case .malformedResponse(let what) = $0 { what.contains("\"access_token\"") } else { false } },
        Case(fault: "wrong-type", says: "\"token_type\"") { if case .malformedResponse(let what) = $0 { what.contains("\"token_type\" is not a string") } else { false } },
        Case(fault: "not-object", says: "answer is not valid") { if case .malformedResponse = $0 { true } else { false } },
        Case(fault: "hang", says: "within 2 s") { if case .transport(.timedOut(_, let seconds)) = $0 { seconds == 2 } else { false } },
        Case(fault: "huge", says: "1048576 bytes") { if case .transport(.bodyTooLarge(_, 1_048_576)) = $0 { true } else { false } },
        Case(fault: "redirect", says: "/ok/endpoint") { if case .transport(.redirectRefused(_, 307, let location?)) = $0 { location.hasSuffix("/ok/endpoint") } else { false } },
        Case(fault: "oauth-error", says: "provider says: The refresh token is revoked.") { $0 == .invalidGrant(description: "The refresh token is revoked.") },
        Case(fault: "pending-428", says: "not finished yet") { $0 == .authorizationPending },
        Case(fault: "wrong-issuer", says: "evil.example.org") { if case .issuerMismatch(_, "https://evil.example.org") = $0 { true } else { false } },
        Case(fault: "discovery-html", says: "discovery document") { if case .malformedResponse(let what) = $0 { what.contains("discovery document") && what.contains("HTML") } else { false } },
        Case(fault: "discovery-no-token-endpoint", says: "\"token_endpoint\"") { if case .malformedResponse(let what) = $0 { what.contains("\"token_endpoint\"") } else { false } },
    ]

    func client(_ faults: FaultServer, _ fault: String, credentials: ClientCredentials = .publicClient("tessera")) -> OIDCClient {
        OIDCClient(issuer: faults.issuer(for: fault), credentials: credentials,
                   transport: CurlTransport(configuration: .init(timeout: Self.timeout)),
                   cache: ProviderMetadataCache())
    }

    @Test(arguments: refreshCases)
    func malformedAnswerBecomesTypedError(_ testCase: Case) async throws {
        let faults = try await FaultServer.start()
        let client = client(faults, testCase.fault)
        let start = ContinuousClock.now
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client.refresh(refreshToken: Secret("fault-test-refresh-token"))
        }
        let elapsed = ContinuousClock.now - start
        let unwrapped = try #require(error)
        #expect(testCase.matches(unwrapped), "\(testCase.fault) gave: \(unwrapped)")
        // Generous slack: the point is "bounded by the timeout, never a hang"; the whole suite runs
        // in parallel on two cores, where starting many servers at once costs seconds.
        #expect(elapsed < Self.timeout + .seconds(10), "\(testCase.fault) took \(elapsed)")
        #expect(unwrapped.description.contains(testCase.says), "\(testCase.fault): \(unwrapped.description)")
        #expect(!unwrapped.description.contains("fault-test-refresh-token"))
    }

    @Test func wellFormedAnswerIsAccepted() async throws {
        let faults = try await FaultServer.start()
        let tokens = try await client(faults, "ok").refresh(refreshToken: Secret("r"))
        #expect(tokens.accessToken.reveal() == "fault-server-access-token")
        #expect(tokens.lifetime == .seconds(60))
    }

    @Test func rfc8414MetadataIsTheFallback() async throws {
        let faults = try await FaultServer.start()
        let metadata = try await client(faults, "rfc8414-only").discover()
        #expect(metadata.source == .oauthAuthorizationServer)
        #expect(metadata.issuer == faults.issuer(for: "rfc8414-only"))
        _ = try await client(faults, "rfc8414-only").refresh(refreshToken: Secret("r"))
    }

    @Test func secretsAreScrubbedFromProviderMessages() async throws {
        let faults = try await FaultServer.start()
        let secret = "client-secret-5d1e"
        for authentication in [ClientAuthentication.clientSecretPost(Secret(secret)),
                               .clientSecretBasic(Secret(secret))] {
            let client = client(faults, "echo-secret",
                                credentials: ClientCredentials(clientID: "tessera", authentication: authentication))
            let error = await expectOIDCError { () async throws(OIDCError) in
                try await client.refresh(refreshToken: Secret("refresh-token-9c2b"))
            }
            guard case .server(400, "invalid_request", let description?) = error else {
                Issue.record("echo: \(String(describing: error))"); continue
            }
            #expect(description.contains("bad request"))
            #expect(description.contains("<redacted>"))
            for leaked in [secret, "refresh-token-9c2b", "dGVzc2VyYTpjbGllbnQtc2VjcmV0LTVkMWU="] {
                #expect(!description.contains(leaked), "\(leaked) leaked")
            }
        }
        let password = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "echo-secret").deprecatedPasswordGrant(
                username: "alice", password: Secret("hunter2-password"), scopes: [])
        }
        #expect(!String(describing: password!).contains("hunter2-password"))
    }

    @Test func refusedConnectionIsATransportError() async throws {
        // A port that was free a moment ago: nothing listens there.
        let faults = try await FaultServer.start()
        let base = faults.base
        faults.stop()
        let client = OIDCClient(issuer: base.appendingPathComponent("ok"), credentials: .publicClient("x"),
                                transport: CurlTransport(configuration: .init(timeout: Self.timeout)),
                                cache: ProviderMetadataCache())
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.discover() }
        guard case .transport(.cannotConnect) = error else { Issue.record("refused: \(String(describing: error))"); return }
    }

    @Test func missingFeaturesAreUnsupported() async throws {
        let faults = try await FaultServer.start()
        let client = client(faults, "bare")
        let device = await expectOIDCError { () async throws(OIDCError) in
            try await client.startDeviceAuthorization(scopes: ["openid"])
        }
        guard case .unsupported(let what) = device, what.contains("device") else {
            Issue.record("no device endpoint: \(String(describing: device))"); return
        }
        let revoke = await expectOIDCError { () async throws(OIDCError) in try await client.revoke(Secret("t")) }
        guard case .unsupported(let what) = revoke, what.contains("revocation") else {
            Issue.record("no revocation endpoint: \(String(describing: revoke))"); return
        }
    }

    @Test func missingExpiresInUsesTheJWTExpiryThenTheDefault() async throws {
        let faults = try await FaultServer.start()
        let plain = try await client(faults, "no-expiry").refresh(refreshToken: Secret("r"))
        #expect(plain.lifetimeSource == .defaulted)
        #expect(plain.lifetime == TokenResponse.defaultLifetime && plain.lifetime == .seconds(300))
        let jwt = try await client(faults, "jwt-no-expiry").refresh(refreshToken: Secret("r"))
        #expect(jwt.lifetimeSource == .jwtExpiry)
        #expect(jwt.lifetime > .seconds(110) && jwt.lifetime <= .seconds(120))
        // expires_in always wins over a JWT's exp.
        let ok = try await client(faults, "ok").refresh(refreshToken: Secret("r"))
        #expect(ok.lifetimeSource == .expiresIn)
    }
}

/// Pure parts: URL policy, redaction, encoding.
@Suite("OIDC building blocks")
struct BuildingBlockTests {
    @Test(arguments: [
        ("https://idp.example.org", true), ("http://127.0.0.1:8080", true), ("http://127.3.4.5", true),
        ("http://localhost:9000/realm", true), ("http://[::1]:8000", true), ("http://idp.example.org", false),
        ("http://127.0.0.1.evil.org", false), ("http://128.0.0.1", false), ("ftp://idp.example.org", false),
    ])
    func httpsIsRequiredExceptForLoopback(url: String, allowed: Bool) throws {
        let result = Result { () throws(OIDCError) in try URLPolicy.check(URL(string: url)!) }
        if allowed {
            #expect(throws: Never.self) { try result.get() }
        } else {
            #expect(throws: OIDCError.insecureURL(url)) { try result.get() }
        }
    }

    @Test func plainHTTPIssuerIsRefusedBeforeAnyRequest() async throws {
        let transport = RecordingTransport()
        let client = OIDCClient(issuer: URL(string: "http://idp.example.org")!, credentials: .publicClient("x"),
                                transport: transport, cache: ProviderMetadataCache())
        let error = await expectOIDCError { () async throws(OIDCError) in try await client.discover() }
        #expect(error == .insecureURL("http://idp.example.org"))
        #expect(error?.description.contains("https") == true)
        #expect(transport.requests.isEmpty)
    }

    @Test func secretsPrintRedacted() {
        let secret = Secret("s3cr3t-value")
        let tokens = TokenResponse(accessToken: secret, refreshToken: secret, idToken: secret, lifetime: .seconds(60))
        var dumped = ""
        dump(tokens, to: &dumped)
        for text in ["\(secret)", String(reflecting: secret), "\(tokens)", String(reflecting: tokens), dumped,
                     "\(ClientAuthentication.clientSecretBasic(secret))"] {
            #expect(!text.contains("s3cr3t"), "leaked in: \(text)")
        }
        #expect("\(secret)" == "<redacted>")
        #expect(secret.reveal() == "s3cr3t-value")
    }

    @Test func requestDescriptionsHideCredentials() {
        let request = HTTPRequest(method: .post, url: URL(string: "https://idp.example.org/token")!,
                                  headers: ["Authorization": "Basic c2VjcmV0"], body: Data("refresh_token=abc".utf8))
        #expect("\(request)" == "POST https://idp.example.org/token")
    }

    @Test func formEncodingFollowsTheHTMLRules() {
        var form = FormBody()
        form.add("scope", "openid offline_access")
        form.add("resource", "https://api.example.org/a?b=c&d")
        form.add("user", "ä+/=")
        #expect(String(decoding: form.encoded, as: UTF8.self)
            == "scope=openid+offline_access&resource=https%3A%2F%2Fapi.example.org%2Fa%3Fb%3Dc%26d&user=%C3%A4%2B%2F%3D")
    }
}

/// Issue 12.1: every number a provider states is untrusted. An `expires_in` near `Int64.max`
/// trapped the service ("Double value cannot be converted to Int64"); any such value must give a
/// bounded lifetime and an expiry every consumer can turn into Unix seconds, never a trap.
@Suite("OIDC against hostile numbers")
struct HostileNumberTests {
    func client(_ faults: FaultServer, _ fault: String) -> OIDCClient {
        OIDCClient(issuer: faults.issuer(for: fault), credentials: .publicClient("tessera"),
                   transport: CurlTransport(configuration: .init(timeout: .seconds(5))),
                   cache: ProviderMetadataCache())
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// What a consumer does with the expiry (the D-Bus answer is Unix seconds as `x`).
    static func unixSeconds(_ date: Date) -> Int64? {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        return seconds.isFinite && abs(seconds) < 1e15 ? Int64(seconds) : nil
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let raw: String
        /// The lifetime expected, or nil for "not believed: the default".
        let lifetime: Duration?
        var testDescription: String { raw }
    }

    static let expiresInCases: [Case] = [
        Case(raw: "9223372036000000000", lifetime: TokenResponse.maximumLifetime),
        Case(raw: "9223372036854775807", lifetime: TokenResponse.maximumLifetime),
        Case(raw: "18446744073709551616", lifetime: TokenResponse.maximumLifetime),
        Case(raw: "1e300", lifetime: TokenResponse.maximumLifetime),
        Case(raw: "\"9223372036000000000\"", lifetime: TokenResponse.maximumLifetime),
        Case(raw: "3600.9", lifetime: .milliseconds(3_600_900)),
        Case(raw: "\"120\"", lifetime: .seconds(120)),
        Case(raw: "0", lifetime: .zero),
        Case(raw: "-5", lifetime: nil),
        Case(raw: "-9223372036854775808", lifetime: nil),
        Case(raw: "-1e300", lifetime: nil),
        Case(raw: "\"NaN\"", lifetime: nil),
        Case(raw: "\"inf\"", lifetime: nil),
        Case(raw: "\"soon\"", lifetime: nil),
        Case(raw: "true", lifetime: nil),
        Case(raw: "[3600]", lifetime: nil),
    ]

    @Test(arguments: expiresInCases)
    func expiresInIsClampedOrIgnored(_ testCase: Case) async throws {
        let faults = try await FaultServer.start()
        let tokens = try await client(faults, "expires-in=\(testCase.raw)").refresh(refreshToken: Secret("r"))
        #expect(tokens.accessToken.reveal() == "fault-server-access-token")
        // The rotated refresh token must survive whatever the number was: losing it loses the login.
        #expect(tokens.refreshToken?.reveal() == "fault-server-refresh-token")
        if let lifetime = testCase.lifetime {
            #expect(tokens.lifetime == lifetime)
            #expect(tokens.lifetimeSource == .expiresIn)
        } else {
            #expect(tokens.lifetime == TokenResponse.defaultLifetime)
            #expect(tokens.lifetimeSource == .defaulted)
        }
        #expect(Self.unixSeconds(tokens.expiresAt) != nil)
        #expect(tokens.expiresAt <= Date() + Self.seconds(TokenResponse.maximumLifetime))
    }

    /// A number too large for a Double at all: either refused as malformed or clamped, never a trap.
    @Test func overflowingLiteralIsRefusedOrClamped() async throws {
        let faults = try await FaultServer.start()
        do throws(OIDCError) {
            let tokens = try await client(faults, "expires-in=1e400").refresh(refreshToken: Secret("r"))
            #expect(tokens.lifetime == TokenResponse.maximumLifetime || tokens.lifetimeSource == .defaulted)
        } catch .malformedResponse {
        }
    }

    @Test(arguments: ["1e300", "9223372036000000000", "-1e300", "\"x\""])
    func jwtExpiryIsClampedOrIgnored(_ raw: String) async throws {
        let faults = try await FaultServer.start()
        let tokens = try await client(faults, "jwt-exp=\(raw)").refresh(refreshToken: Secret("r"))
        #expect(tokens.lifetime <= TokenResponse.maximumLifetime)
        #expect(Self.unixSeconds(tokens.expiresAt) != nil)
        if raw.hasPrefix("-") || raw.hasPrefix("\"") {
            #expect(tokens.lifetimeSource == .defaulted)
        } else {
            #expect(tokens.lifetimeSource == .jwtExpiry && tokens.lifetime == TokenResponse.maximumLifetime)
        }
    }

    @Test(arguments: ["9223372036000000000", "1e300", "86401"])
    func hugeDeviceCodeLifetimeIsClampedAndPollingWorks(_ raw: String) async throws {
        let faults = try await FaultServer.start()
        let client = client(faults, "device-expires-in=\(raw)")
        let flow = try await client.startDeviceAuthorization(scopes: ["openid"])
        #expect(Self.unixSeconds(flow.expiresAt) != nil)
        #expect(flow.expiresAt <= Date() + Self.seconds(DeviceAuthorization.maximumLifetime))
        #expect(flow.expiresAt > Date() + 86_000)
        // The poll loop computes its sleep from the remaining time: it must not trap either.
        let tokens = try await client.pollDeviceToken(flow)
        #expect(tokens.accessToken.reveal() == "fault-server-access-token")
    }

    @Test(arguments: ["-1", "0", "0.5", "\"NaN\"", "-9223372036854775808"])
    func unusableDeviceCodeLifetimeIsMalformed(_ raw: String) async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "device-expires-in=\(raw)").startDeviceAuthorization(scopes: ["openid"])
        }
        guard case .malformedResponse(let what) = error, what.contains("expires_in") else {
            Issue.record("\(raw): \(String(describing: error))"); return
        }
    }

    @Test(arguments: [("9223372036000000000", Duration.seconds(300)), ("1e300", .seconds(300)), ("-3", .seconds(1)),
                      ("0", .seconds(1)), ("\"NaN\"", .seconds(5)), ("2.5", .milliseconds(2500)), ("7", .seconds(7))])
    func deviceIntervalIsBounded(_ raw: String, _ expected: Duration) async throws {
        let faults = try await FaultServer.start()
        let flow = try await client(faults, "device-interval=\(raw)").startDeviceAuthorization(scopes: ["openid"])
        #expect(flow.interval == expected)
    }

    @Test func publicInitialisersClampToo() {
        let tokens = TokenResponse(accessToken: Secret("a"), lifetime: .seconds(Int64.max))
        #expect(tokens.lifetime == TokenResponse.maximumLifetime)
        #expect(Self.unixSeconds(tokens.expiresAt) != nil)
        var negative = TokenResponse(accessToken: Secret("a"), lifetime: .seconds(-10))
        #expect(negative.lifetime == .zero)
        negative.lifetime = .seconds(Int64.max)
        #expect(negative.lifetime == TokenResponse.maximumLifetime)
        let flow = DeviceAuthorization(deviceCode: Secret("d"), userCode: "U", verificationURI: URL(string: "https://x")!,
                                       expiresAt: Date(), interval: .seconds(Int64.max))
        #expect(flow.interval == .seconds(300))
    }
}

/// Issue 12.7: `refresh_token: ""` in a refresh answer wedged the account (every later GetToken
/// failed with "a secret cannot be empty"). An empty or absent refresh token means "keep yours".
@Suite("OIDC: empty rotated refresh tokens")
struct EmptyRefreshTokenTests {
    @Test(arguments: ["\"\"", "absent", "null", "\"   \""])
    func emptyOrAbsentRefreshTokenMeansKeepTheCurrentOne(_ raw: String) async throws {
        let faults = try await FaultServer.start()
        let client = OIDCClient(issuer: faults.issuer(for: "refresh-token=\(raw)"), credentials: .publicClient("tessera"),
                                cache: ProviderMetadataCache())
        let tokens = try await client.refresh(refreshToken: Secret("current-refresh-token"))
        #expect(tokens.accessToken.reveal() == "fault-server-access-token")
        #expect(tokens.refreshToken == nil, "\(raw) gave a refresh token to store")
    }

    @Test func aRealRotatedRefreshTokenIsHandedOut() async throws {
        let faults = try await FaultServer.start()
        let client = OIDCClient(issuer: faults.issuer(for: "refresh-token=\"rotated-1\""), credentials: .publicClient("tessera"),
                                cache: ProviderMetadataCache())
        let tokens = try await client.refresh(refreshToken: Secret("current-refresh-token"))
        #expect(tokens.refreshToken?.reveal() == "rotated-1")
    }
}
