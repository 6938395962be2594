import Foundation
import OIDC
import Secrets
import TestSupport
import Testing

/// Issue 12.8 (OIDC parts): answers that must neither end a login wrongly nor reach an HTTP header.
@Suite("OIDC against hostile answers")
struct HostileAnswerTests {
    func client(_ faults: FaultServer, _ fault: String) -> OIDCClient {
        OIDCClient(issuer: faults.issuer(for: fault), credentials: .publicClient("tessera"),
                   transport: CurlTransport(configuration: .init(timeout: .seconds(5))),
                   cache: ProviderMetadataCache())
    }

    /// A 5xx is a server error whatever its body says: `invalid_grant` in a 500 deleted the refresh token.
    @Test(arguments: [500, 502, 503, 599])
    func invalidGrantInA5xxIsAServerError(_ status: Int) async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "invalid-grant-status=\(status)").refresh(refreshToken: Secret("fault-refresh-token"))
        }
        #expect(error == .server(status: status, error: "invalid_grant", description: "The refresh token is invalid."))
    }

    /// The control: in a 4xx, `invalid_grant` still means the grant is gone.
    @Test(arguments: [400, 401, 403])
    func invalidGrantInA4xxEndsTheGrant(_ status: Int) async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "invalid-grant-status=\(status)").refresh(refreshToken: Secret("fault-refresh-token"))
        }
        #expect(error == .invalidGrant(description: "The refresh token is invalid."))
    }

    /// An access token goes into `Authorization: Bearer …` headers: only RFC 6750 b64token passes.
    @Test(arguments: [#""abc\r\nX-Injected: 1""#, #""abc\ndef""#, #""a b""#, #""tok=en""#, #""=abc""#, #""\u00e4bc""#,
                      #""a\u0000b""#, #""a\tb""#, #""a,b""#, #""a\"b""#, #""a;b""#])
    func accessTokenOutsideB64TokenIsRefused(_ raw: String) async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "access-token=\(raw)").refresh(refreshToken: Secret("r"))
        }
        guard case .malformedResponse(let what) = error else { Issue.record("\(raw): \(String(describing: error))"); return }
        #expect(what.contains("access_token") && what.contains("RFC 6750"))
        #expect(!what.contains("X-Injected") && !what.contains("abc"))
    }

    @Test(arguments: [#""abc-._~+==""#, #""eyJhbGciOiJub25lIn0.eyJleHAiOjF9.sig""#, #""Z""#])
    func b64TokensPass(_ raw: String) async throws {
        let faults = try await FaultServer.start()
        let tokens = try await client(faults, "access-token=\(raw)").refresh(refreshToken: Secret("r"))
        #expect("\"\(tokens.accessToken.reveal())\"" == raw)
    }

    @Test(arguments: [#""Bearer\r\nX: 1""#, #""Bear er""#, #""Bearer;""#])
    func tokenTypeThatIsNoNameIsRefused(_ raw: String) async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "token-type=\(raw)").refresh(refreshToken: Secret("r"))
        }
        guard case .malformedResponse(let what) = error, what.contains("token_type") else {
            Issue.record("\(raw): \(String(describing: error))"); return
        }
        #expect(!what.contains("\r") && !what.contains("\n"))
    }

    @Test(arguments: [#""bearer""#, #""DPoP""#, #""N_A""#])
    func tokenTypeNamesPass(_ raw: String) async throws {
        let faults = try await FaultServer.start()
        let tokens = try await client(faults, "token-type=\(raw)").refresh(refreshToken: Secret("r"))
        #expect("\"\(tokens.tokenType)\"" == raw)
    }

    /// An oversized answer is the provider's, and says so (it was reported as "cannot reach").
    @Test func oversizedAnswerSaysSo() async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "huge").refresh(refreshToken: Secret("r"))
        }
        #expect(error?.description.contains("larger than 1048576 bytes") == true, "\(String(describing: error))")
    }
}

/// Issue 13.3: INDIGO IAM answers a refresh with an expired or unknown refresh token with 401
/// `invalid_token` ("Refresh token for value … was not found"). On a refresh, in a 4xx, that means
/// the login is gone, exactly like `invalid_grant`; in a 5xx, or from another grant, it does not.
@Suite("OIDC: expired logins")
struct ExpiredLoginTests {
    func client(_ faults: FaultServer, _ fault: String) -> OIDCClient {
        OIDCClient(issuer: faults.issuer(for: fault), credentials: .publicClient("tessera"), cache: ProviderMetadataCache())
    }

    @Test(arguments: [400, 401, 403])
    func invalidTokenOnARefreshIsAnInvalidGrant(_ status: Int) async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "error-status=\(status):invalid_token").refresh(refreshToken: Secret("fault-refresh-token"))
        }
        guard case .invalidGrant(let description?) = error else { Issue.record("\(status): \(String(describing: error))"); return }
        // The provider's words stay (scrubbed of the token it quoted), so a person sees why.
        #expect(description.contains("invalid_token") && description.contains("was not found"))
        #expect(!description.contains("fault-refresh-token") && description.contains("<redacted>"))
    }

    @Test(arguments: ["error-status=500:invalid_token", "error-status=503:invalid_token", "error-status=400:invalid_request",
                      "error-status=401:invalid_client"])
    func otherAnswersDoNotEndTheLogin(_ fault: String) async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, fault).refresh(refreshToken: Secret("fault-refresh-token"))
        }
        if case .invalidGrant = error { Issue.record("\(fault) ended the login") }
        #expect(error != nil)
    }

    /// Only a refresh: a password grant's `invalid_token` is the provider's own business.
    @Test func invalidTokenOutsideARefreshStaysAServerError() async throws {
        let faults = try await FaultServer.start()
        let error = await expectOIDCError { () async throws(OIDCError) in
            try await client(faults, "error-status=401:invalid_token").deprecatedPasswordGrant(
                username: "alice", password: Secret("pw-1234"), scopes: [])
        }
        guard case .server(401, "invalid_token", _) = error else { Issue.record("\(String(describing: error))"); return }
    }
}

/// The one loopback rule (issue 12.8: `hasPrefix("127.")` let `http://127.evil.example/` through).
@Suite("OIDC: the loopback rule")
struct LoopbackRuleTests {
    @Test(arguments: [
        ("http://127.evil.example/", false), ("http://127.0.0.1.evil.org", false), ("http://127.example", false),
        ("http://127.0.0.1:8080", true), ("http://127.3.4.5", true), ("http://127.1", true), ("http://127.1.2", true),
        ("http://0x7f.0.0.1", true), ("http://0177.0.0.1", true), ("http://2130706433", true), ("http://0x7f000001", true),
        ("http://127.0.0.256", false), ("http://127.256", true), ("http://128.0.0.1", false), ("http://126.255.255.255", false),
        ("http://2130706432", true), ("http://2147483648", false), ("http://4294967296", false), ("http://08.0.0.1", false),
        ("http://127.0.0.1.", false), ("http://127..0.1", false), ("http://+127.0.0.1", false), ("http://0x.0.0.1", false),
        ("http://localhost:9000/realm", true), ("http://LOCALHOST", true), ("http://localhost.", false),
        ("http://x.localhost", false), ("http://localhost.evil.example", false),
        ("http://[::1]:8000", true), ("http://[0:0:0:0:0:0:0:1]", true), ("http://[::0:1]", true), ("http://[::2]", false),
        ("http://[::ffff:127.0.0.1]", false), ("http://[::]", false), ("http://evil.example@127.0.0.1", true),
        ("http://127.0.0.1@evil.example", false), ("https://127.evil.example", true),
    ])
    func oneStrictRule(_ url: String, _ allowed: Bool) throws {
        let parsed = try #require(URL(string: url))
        let result = Result { () throws(OIDCError) in try URLPolicy.check(parsed) }
        if allowed {
            #expect(throws: Never.self, "\(url)") { try result.get() }
        } else {
            #expect(throws: OIDCError.insecureURL(url), "\(url)") { try result.get() }
        }
    }
}
