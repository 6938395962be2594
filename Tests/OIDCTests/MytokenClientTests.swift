import Foundation
import Testing
import TestSupport
@testable import OIDC
import Secrets

/// The mytoken client against the mytoken test server (Tests/MytokenServer/server.py).
@Suite struct MytokenClientTests {
    static func client(_ server: MytokenServer) async throws -> MytokenClient {
        try await MytokenClient.discover(server: server.url, transport: CurlTransport())
    }

    /// Runs `body` and returns the `MytokenError` it threw, checking the message holds no secret.
    static func error(hiding secrets: [String] = [], _ body: () async throws -> Void) async -> MytokenError? {
        do {
            try await body()
            return nil
        } catch let error as MytokenError {
            for secret in secrets { #expect(!error.description.contains(secret)) }
            return error
        } catch {
            Issue.record("not a MytokenError: \(error)")
            return nil
        }
    }

    // MARK: Discovery

    @Test func discoveryReadsTheServersEndpoints() async throws {
        let server = try await MytokenServer.start()
        let configuration = try await Self.client(server).configuration
        let base = server.url.absoluteString
        #expect(configuration.issuer == base)
        #expect(configuration.accessTokenEndpoint.absoluteString == base + "/api/v0/token/access")
        #expect(configuration.mytokenEndpoint.absoluteString == base + "/api/v0/token/my")
        #expect(configuration.revocationEndpoint?.absoluteString == base + "/api/v0/token/revoke")
        #expect(configuration.tokenTransferEndpoint?.absoluteString == base + "/api/v0/token/transfer")
        #expect(configuration.mytokenEndpointGrantTypesSupported.contains("polling_code"))
        #expect(configuration.responseTypesSupported == ["token", "short_token", "transfer_code"])
        #expect(configuration.providersSupported.map(\.issuer) == [server.options.provider])
    }

    @Test func discoveryFailuresAreTyped() async throws {
        let server = try await MytokenServer.start()
        let port = server.url.port!
        server.stop()
        let unreachable = await Self.error {
            _ = try await MytokenClient.discover(server: URL(string: "http://127.0.0.1:\(port)")!,
                                                 transport: CurlTransport())
        }
        guard case .network = unreachable else { Issue.record("\(String(describing: unreachable))"); return }

        let other = try await MytokenServer.start()
        let wrongPath = await Self.error {
            _ = try await MytokenClient.discover(server: other.url.appendingPathComponent("nothing"),
                                                 transport: CurlTransport())
        }
        guard case .invalidResponse = wrongPath else { Issue.record("\(String(describing: wrongPath))"); return }

        let plain = await Self.error {
            _ = try await MytokenClient.discover(server: URL(string: "http://mytoken.example.org")!,
                                                 transport: CurlTransport())
        }
        #expect(plain == .invalidArgument(
            "'http://mytoken.example.org' is not an https URL (plain http is allowed only to localhost)"))
    }

    // MARK: Login via polling code

    @Test func loginPollsUntilConsent() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let request = MytokenRequest(
            restrictions: [MytokenRestriction(scope: "openid storage.read", usagesAT: 10)],
            rotation: MytokenRotation(onAccessToken: true), name: "laptop")
        let login = try await client.startLogin(oidcIssuer: server.options.provider, request)
        #expect(login.interval == 1)
        #expect(login.expiresIn == 300)
        #expect(login.consentURI.absoluteString.hasPrefix(server.url.absoluteString + "/c/"))

        let waiting = Task { try await client.waitForLogin(login) }
        // Consent only after the client has been told authorization_pending (HTTP 428) at least once.
        while try await server.pollTimes().first?.isEmpty ?? true { try await Task.sleep(for: .milliseconds(50)) }
        try await server.consent(login.consentURI)
        let issued = try await waiting.value

        #expect(issued.type == .token)
        #expect(issued.capabilities == ["AT", "tokeninfo"])
        #expect(issued.restrictions == [MytokenRestriction(scope: "openid storage.read", usagesAT: 10)])
        #expect(issued.rotation == MytokenRotation(onAccessToken: true))
        let stored = try #require(try await server.lookup(issued.token.reveal()))
        #expect(stored.name == "laptop")
        #expect(stored.restrictionsJSON == #"[{"scope":"openid storage.read","usages_AT":10}]"#)
        #expect(stored.rotationJSON == #"{"on_AT":true}"#)
        // The polling code is used up.
        let reused = await Self.error(hiding: [login.pollingCode.reveal()]) { _ = try await client.poll(login) }
        #expect(reused == .invalidToken(description: "Bad polling or transfer code"))
    }

    @Test func deniedLoginIsAccessDenied() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let login = try await client.startLogin(oidcIssuer: server.options.provider)
        try await server.consent(login.consentURI, approve: false)
        let error = await Self.error { _ = try await client.waitForLogin(login) }
        #expect(error == .accessDenied(description: "user declined consent"))
    }

    @Test func expiredLoginStops() async throws {
        var options = MytokenServer.Options()
        options.pollingCodeLifetime = 1
        let server = try await MytokenServer.start(options)
        let client = try await Self.client(server)
        var login = try await client.startLogin(oidcIssuer: server.options.provider)
        // The client's own deadline: no poll can happen within one second.
        #expect(await Self.error { _ = try await client.waitForLogin(login) } == .loginExpired)
        // The server's: it says expired_token while the client still thinks there is time.
        login.expiresIn = 30
        #expect(await Self.error { _ = try await client.waitForLogin(login) } == .loginExpired)
    }

    @Test func cancellingTheWaitStopsPolling() async throws {
        var options = MytokenServer.Options()
        options.pollingInterval = 5
        let server = try await MytokenServer.start(options)
        let client = try await Self.client(server)
        let login = try await client.startLogin(oidcIssuer: server.options.provider)
        let waiting = Task { try await client.waitForLogin(login) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        waiting.cancel()
        let error = await Self.error { _ = try await waiting.value }
        #expect(error == .cancelled)
        #expect(ContinuousClock.now - start < .seconds(2), "cancellation waited out the 5 s interval")
    }

    @Test func unknownIssuerAtLoginIsInvalidRequest() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let error = await Self.error { _ = try await client.startLogin(oidcIssuer: "https://elsewhere.example") }
        #expect(error == .server(status: 400, error: "invalid_request",
                                 description: "The provided issuer is not supported"))
    }

    // MARK: Access tokens

    @Test func accessTokenWithScopesAndAudience() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let mytoken = Secret(try await server.mint(
            restrictionsJSON: #"[{"scope":"openid profile storage.read","audience":["https://rs.example","other"]}]"#))

        let token = try await client.accessToken(
            mytoken: mytoken, scopes: ["openid", "storage.read"], audiences: ["https://rs.example"], comment: "ci run")
        #expect(token.accessToken.reveal().hasPrefix("at_"))
        #expect(token.tokenType == "Bearer")
        #expect(token.expiresIn == 300)
        #expect(token.scopes == ["openid", "storage.read"])
        #expect(token.audiences == ["https://rs.example"])
        #expect(token.rotatedMytoken == nil)
        #expect(token.accessToken.description == "<redacted>")

        // Without a request the clause's own scope and audiences apply.
        let defaults = try await client.accessToken(mytoken: mytoken)
        #expect(defaults.scopes == ["openid", "profile", "storage.read"])
        #expect(defaults.audiences == ["https://rs.example", "other"])

        let issued = try await server.accessTokens()
        #expect(issued.map(\.comment) == ["ci run", ""])
        #expect(issued.first?.scope == "openid storage.read")
        let stored = try #require(try await server.lookup(mytoken.reveal()))
        #expect(stored.usages.map(\.accessTokens) == [2])
    }

    @Test func unrestrictedMytokenGetsAllScopes() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let mytoken = Secret(try await server.mint())
        let token = try await client.accessToken(mytoken: mytoken, scopes: ["openid"], audiences: ["x"])
        #expect(token.scopes == server.options.scopes.split(separator: " ").map(String.init))
        #expect(token.audiences == [])
    }

    @Test func restrictionsAreEnforcedAndCounted() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let now = Int64(Date().timeIntervalSince1970)
        let mytoken = Secret(try await server.mint(restrictionsJSON: #"[{"scope":"openid","usages_AT":1}]"#))
        let secret = [mytoken.reveal()]

        let wider = await Self.error(hiding: secret) { _ = try await client.accessToken(mytoken: mytoken, scopes: ["profile"]) }
        guard case .usageRestricted = wider else { Issue.record("\(String(describing: wider))"); return }
        let audience = await Self.error(hiding: secret) { _ = try await client.accessToken(mytoken: mytoken, audiences: ["a"]) }
        #expect(audience == nil, "a clause without audience allows any")
        let used = await Self.error(hiding: secret) { _ = try await client.accessToken(mytoken: mytoken) }
        guard case .usageRestricted = used else { Issue.record("\(String(describing: used))"); return }
        #expect(try await server.lookup(mytoken.reveal())?.usages.map(\.accessTokens) == [1])

        let notYet = Secret(try await server.mint(restrictionsJSON: #"[{"nbf":\#(now + 3600)}]"#))
        guard case .usageRestricted = await Self.error(hiding: [notYet.reveal()], {
            _ = try await client.accessToken(mytoken: notYet)
        }) else { Issue.record("nbf not enforced"); return }
        let elsewhere = Secret(try await server.mint(restrictionsJSON: #"[{"hosts":["10.1.2.3"]}]"#))
        guard case .usageRestricted = await Self.error({ _ = try await client.accessToken(mytoken: elsewhere) })
        else { Issue.record("hosts not enforced"); return }
        let geo = Secret(try await server.mint(restrictionsJSON: #"[{"geoip_disallow":["de"]}]"#))
        guard case .usageRestricted = await Self.error({ _ = try await client.accessToken(mytoken: geo) })
        else { Issue.record("geoip_disallow not enforced"); return }
        let noAT = Secret(try await server.mint(capabilities: ["tokeninfo"]))
        guard case .insufficientCapabilities = await Self.error({ _ = try await client.accessToken(mytoken: noAT) })
        else { Issue.record("capability AT not enforced"); return }
    }

    // MARK: Rotation

    @Test func rotationReplacesTheMytokenAtOnce() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let first = Secret(try await server.mint(rotationJSON: #"{"on_AT":true}"#))
        let token = try await client.accessToken(mytoken: first)
        let second = try #require(token.rotatedMytoken)
        #expect(second != first)

        let stale = await Self.error(hiding: [first.reveal(), second.reveal()]) {
            _ = try await client.accessToken(mytoken: first)
        }
        guard case .invalidToken = stale else { Issue.record("\(String(describing: stale))"); return }
        #expect(try await server.lookup(first.reveal())?.current == false)
        // Without auto_revoke the replacement keeps working and rotates again.
        let third = try #require(try await client.accessToken(mytoken: second).rotatedMytoken)
        #expect(try await server.lookup(third.reveal())?.seqNo == 3)
    }

    @Test func reusingARotatedMytokenWithAutoRevokeRevokesTheFamily() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let first = Secret(try await server.mint(rotationJSON: #"{"on_AT":true,"auto_revoke":true}"#))
        let second = try #require(try await client.accessToken(mytoken: first).rotatedMytoken)
        let child = try await client.createMytoken(from: second, MytokenRequest(capabilities: ["AT"]))
        // Creating a sub-token is an "other" use: no rotation without on_other.
        #expect(child.rotatedMytoken == nil)

        guard case .invalidToken = await Self.error({ _ = try await client.accessToken(mytoken: first) })
        else { Issue.record("replay accepted"); return }
        guard case .invalidToken = await Self.error({ _ = try await client.accessToken(mytoken: second) })
        else { Issue.record("family not revoked"); return }
        #expect(try await server.lookup(child.token.reveal())?.revoked == true)
    }

    @Test func rotationOnOtherComesWithASubMytoken() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let parent = Secret(try await server.mint(rotationJSON: #"{"on_other":true}"#))
        let child = try await client.createMytoken(from: parent)
        let replacement = try #require(child.rotatedMytoken)
        guard case .invalidToken = await Self.error({ _ = try await client.createMytoken(from: parent) })
        else { Issue.record("old parent still works"); return }
        _ = try await client.accessToken(mytoken: replacement)
    }

    // MARK: Sub-mytokens

    @Test func eachRestrictionOptionIsStoredAsTheExpectedClause() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let parent = Secret(try await server.mint())
        let now = Date()
        let times = MytokenTimeParser(now: now, timeZone: TimeZone(identifier: "UTC")!)
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let cases: [(MytokenRestrictionOptions, String)] = [
            (.init(notBefore: "+1h"), #"[{"nbf":\#(seconds + 3_600)}]"#),
            (.init(expiresAt: "+3d12h30m"), #"[{"exp":\#(seconds + 3 * 86_400 + 45_000)}]"#),
            (.init(expiresAt: "2100-01-01 00:00"), #"[{"exp":4102444800}]"#),
            (.init(scopes: ["openid", "storage.read"]), #"[{"scope":"openid storage.read"}]"#),
            (.init(audiences: ["https://rs.example", "b"]), #"[{"audience":["https://rs.example","b"]}]"#),
            (.init(hosts: ["127.0.0.1", "10.0.0.0/8"]), #"[{"hosts":["127.0.0.1","10.0.0.0/8"]}]"#),
            (.init(geoIPAllow: ["de", "fr"]), #"[{"geoip_allow":["de","fr"]}]"#),
            (.init(geoIPDisallow: ["us"]), #"[{"geoip_disallow":["us"]}]"#),
            (.init(usagesAT: 5), #"[{"usages_AT":5}]"#),
            (.init(usagesOther: 0), #"[{"usages_other":0}]"#),
        ]
        for (options, expected) in cases {
            let clause = try #require(try options.clause(times: times))
            let child = try await client.createMytoken(from: parent, MytokenRequest(restrictions: [clause]))
            let stored = try #require(try await server.lookup(child.token.reveal()))
            #expect(stored.restrictionsJSON == expected, "\(options)")
            #expect(child.restrictions == [clause])
        }
        // --restriction with time strings inside the JSON, several clauses.
        let clauses = try MytokenRestrictionInput.parse(
            #"[{"exp":"+2w","scope":"openid"},{"nbf":"+60","usages_AT":1}]"#, times: times)
        let child = try await client.createMytoken(from: parent, MytokenRequest(restrictions: clauses))
        #expect(try await server.lookup(child.token.reveal())?.restrictionsJSON
            == #"[{"exp":\#(seconds + 1_209_600),"scope":"openid"},{"nbf":\#(seconds + 60),"usages_AT":1}]"#)
        #expect(try await server.lookup(parent.reveal())?.children.count == 11)
    }

    @Test func subMytokenPropertiesAndInheritance() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let parent = Secret(try await server.mint(
            restrictionsJSON: #"[{"scope":"openid storage.read","usages_other":5}]"#,
            capabilities: ["AT", "create_mytoken", "tokeninfo"]))

        // No capabilities asked: the parent's.
        let inherited = try await client.createMytoken(from: parent, MytokenRequest(name: "inherit"))
        #expect(inherited.capabilities == ["AT", "create_mytoken", "tokeninfo"])
        // No restrictions asked: the parent's.
        #expect(try await server.lookup(inherited.token.reveal())?.restrictionsJSON
            == #"[{"scope":"openid storage.read","usages_other":5}]"#)

        // Asked capabilities are cut down to what the parent has.
        let narrow = try await client.createMytoken(from: parent, MytokenRequest(
            capabilities: ["AT", "manage_mytokens"], rotation: MytokenRotation(onAccessToken: true, lifetime: 3600),
            name: "narrow"))
        #expect(narrow.capabilities == ["AT"])
        let stored = try #require(try await server.lookup(narrow.token.reveal()))
        #expect(stored.name == "narrow")
        #expect(stored.rotationJSON == #"{"lifetime":3600,"on_AT":true}"#)

        // A wider clause is dropped (the parent's apply) unless error_on_restrictions.
        let wide = [MytokenRestriction(scope: "openid profile")]
        let dropped = try await client.createMytoken(from: parent, MytokenRequest(restrictions: wide))
        #expect(try await server.lookup(dropped.token.reveal())?.restrictionsJSON
            == #"[{"scope":"openid storage.read","usages_other":5}]"#)
        let refused = await Self.error {
            _ = try await client.createMytoken(from: parent, MytokenRequest(restrictions: wide, failOnWiderRestrictions: true))
        }
        #expect(refused == .server(status: 400, error: "invalid_request",
                                   description: "requested restrictions are not subset of original restrictions"))
        let tighter = [MytokenRestriction(scope: "openid", usagesOther: 1)]
        let kept = try await client.createMytoken(from: parent, MytokenRequest(restrictions: tighter, failOnWiderRestrictions: true))
        #expect(try await server.lookup(kept.token.reveal())?.restrictionsJSON == #"[{"scope":"openid","usages_other":1}]"#)

        // Four creations so far used 4 of the parent's 5 "other" uses (a refused request counts
        // nothing); the fifth works, the sixth is refused.
        _ = try await client.createMytoken(from: parent)
        let exhausted = await Self.error { _ = try await client.createMytoken(from: parent) }
        guard case .usageRestricted = exhausted else { Issue.record("\(String(describing: exhausted))"); return }
        #expect(try await server.lookup(parent.reveal())?.usages.map(\.other) == [5])

        // A token without create_mytoken cannot make sub-tokens.
        let noCreate = await Self.error { _ = try await client.createMytoken(from: narrow.token) }
        guard case .insufficientCapabilities = noCreate else { Issue.record("\(String(describing: noCreate))"); return }
    }

    @Test func shortTokensAndMaxTokenLength() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let parent = Secret(try await server.mint())
        let short = try await client.createMytoken(from: parent, MytokenRequest(responseType: .shortToken))
        #expect(short.type == .shortToken)
        #expect(!short.token.reveal().contains("."))
        _ = try await client.accessToken(mytoken: short.token)

        let capped = try await client.createMytoken(from: parent, MytokenRequest(maxTokenLength: 100))
        #expect(capped.type == .shortToken)
        let full = try await client.createMytoken(from: parent, MytokenRequest(maxTokenLength: 100_000))
        #expect(full.type == .token)
        #expect(full.token.reveal().split(separator: ".").count == 3)
    }

    // MARK: Transfer codes

    @Test func transferCodeRoundTrip() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let mytoken = Secret(try await server.mint())
        let code = try await client.createTransferCode(for: mytoken)
        #expect(code.expiresIn == 300)
        let exchanged = try await client.exchange(transferCode: code.code)
        #expect(exchanged.token == mytoken)
        #expect(exchanged.type == .token)
        let again = await Self.error(hiding: [code.code.reveal()]) { _ = try await client.exchange(transferCode: code.code) }
        #expect(again == .invalidToken(description: "Bad polling or transfer code"))

        // A sub-mytoken asked for as a transfer code, and a short token's code.
        let viaCode = try await client.createMytoken(from: mytoken, MytokenRequest(responseType: .transferCode))
        #expect(viaCode.type == .transferCode)
        let child = try await client.exchange(transferCode: viaCode.token)
        #expect(child.type == .token)
        #expect(try await server.lookup(child.token.reveal())?.parent != nil)
        let short = try await client.createMytoken(from: mytoken, MytokenRequest(responseType: .shortToken))
        let shortAgain = try await client.exchange(transferCode: try await client.createTransferCode(for: short.token).code)
        #expect(shortAgain.type == .shortToken)
        #expect(shortAgain.token == short.token)
    }

    @Test func expiredTransferCode() async throws {
        var options = MytokenServer.Options()
        options.transferCodeLifetime = 0
        let server = try await MytokenServer.start(options)
        let client = try await Self.client(server)
        let code = try await client.createTransferCode(for: Secret(try await server.mint()))
        try await Task.sleep(for: .milliseconds(20))
        #expect(await Self.error { _ = try await client.exchange(transferCode: code.code) }
            == .expiredCode(description: "polling or transfer code is expired"))
    }

    // MARK: Revocation

    @Test func revocationRecursiveAndNot() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let root = Secret(try await server.mint())
        let child = try await client.createMytoken(from: root).token
        let grandchild = try await client.createMytoken(from: child).token

        try await client.revoke(child)
        #expect(try await server.lookup(child.reveal())?.revoked == true)
        #expect(try await server.lookup(grandchild.reveal())?.revoked == false)
        guard case .invalidToken = await Self.error(hiding: [child.reveal()], {
            _ = try await client.accessToken(mytoken: child)
        }) else { Issue.record("revoked token still works"); return }
        _ = try await client.accessToken(mytoken: grandchild)

        let other = try await client.createMytoken(from: root).token
        try await client.revoke(root, recursive: true)
        for token in [root, grandchild, other] {
            #expect(try await server.lookup(token.reveal())?.revoked == true)
        }
        // Unknown and already revoked tokens: 204 all the same.
        try await client.revoke(Secret("not-a-token"))
        try await client.revoke(root)
    }

    @Test func revokingATransferCodeAndAShortToken() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let root = Secret(try await server.mint())
        let code = try await client.createTransferCode(for: root)
        try await client.revoke(code.code)
        #expect(await Self.error { _ = try await client.exchange(transferCode: code.code) }
            == .invalidToken(description: "Bad polling or transfer code"))
        let short = try await client.createMytoken(from: root, MytokenRequest(responseType: .shortToken)).token
        try await client.revoke(short)
        guard case .invalidToken = await Self.error({ _ = try await client.accessToken(mytoken: short) })
        else { Issue.record("revoked short token still works"); return }
    }

    // MARK: Errors

    @Test func unknownTokensAreInvalidTokenWithoutEchoingThem() async throws {
        let server = try await MytokenServer.start()
        let client = try await Self.client(server)
        let forged = "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl"
        let error = await Self.error(hiding: [forged]) { _ = try await client.accessToken(mytoken: Secret(forged)) }
        #expect(error == .invalidToken(description: "token is not a valid mytoken"))
        #expect(error?.description.contains("log in again") == true)
    }

    @Test func serverErrorCodesMapToCases() {
        let table: [(String, MytokenError)] = [
            ("invalid_token", .invalidToken(description: "d")),
            ("expired_token", .expiredCode(description: "d")),
            ("access_denied", .accessDenied(description: "d")),
            ("usage_restricted", .usageRestricted(description: "d")),
            ("insufficient_capabilities", .insufficientCapabilities(description: "d")),
            ("oidc_error", .provider(error: "oidc_error", description: "d")),
            ("invalid_request", .server(status: 400, error: "invalid_request", description: "d")),
            ("invalid_grant", .server(status: 400, error: "invalid_grant", description: "d")),
        ]
        for (code, expected) in table {
            let mapped = MytokenError.fromServer(status: 400, error: code, description: "d")
            #expect(mapped == expected)
            #expect(mapped.description.contains("(d)"))
        }
    }

    /// A transport that answers every request with one canned response, to pin the client's
    /// reading of answers the test server never gives.
    struct CannedTransport: HTTPTransport {
        let status: Int
        let body: String
        func send(_ request: HTTPRequest) async throws -> HTTPResponse {
            HTTPResponse(status: status, body: Data(body.utf8))
        }
    }

    @Test func pendingIsDecidedByTheErrorFieldNotTheStatus() async throws {
        let server = try await MytokenServer.start()
        let configuration = try await Self.client(server).configuration
        let login = MytokenLogin(consentURI: server.url, pollingCode: Secret("pc"), expiresIn: 10, interval: 1)
        let pending400 = MytokenClient(
            configuration: configuration, transport: CannedTransport(status: 400, body: #"{"error":"authorization_pending"}"#))
        #expect(try await pending400.poll(login) == .pending)
        let bare428 = MytokenClient(configuration: configuration, transport: CannedTransport(status: 428, body: "{}"))
        guard case .invalidResponse = await Self.error({ _ = try await bare428.poll(login) })
        else { Issue.record("a 428 without error field taken as pending"); return }
        let html = MytokenClient(configuration: configuration, transport: CannedTransport(status: 502, body: "<html>"))
        guard case .invalidResponse = await Self.error({ _ = try await html.poll(login) })
        else { Issue.record("HTML error page not reported"); return }
    }
}
