import Foundation
import TestSupport
import Testing

/// A mytoken test server and a real `tesserad` for one test, with gdbus and secret-tool as the
/// independent clients (no OpenID provider: the mytoken server fronts its own).
final class MytokenWorld {
    let directory: String
    let server: MytokenServer
    var agent: AgentProcess
    let environment: [String: String]
    let account: String

    init(_ options: MytokenServer.Options = .init()) async throws {
        try Requirement.session()
        directory = try makeTemporaryDirectory("mytoken-agent")
        server = try await MytokenServer.start(options)
        account = "mt-\(UUID().uuidString.prefix(8).lowercased())"
        let bin = "\(directory)/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '\(directory)/opened'\n".write(toFile: "\(bin)/xdg-open", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(bin)/xdg-open")
        let base = ProcessInfo.processInfo.environment
        let home = base["HOME"] ?? directory
        environment = ["PATH": "\(bin):\(base["PATH"] ?? "/usr/bin:/bin")", "XDG_CONFIG_HOME": "\(home)/.config-\(account)"]
        agent = try await AgentProcess(environment: environment, logPath: "\(directory)/tesserad.log")
    }

    deinit {
        agent.stop()
        server.stop()
    }

    func restartAgent() async throws {
        agent.stop()
        agent = try await AgentProcess(environment: environment, logPath: "\(directory)/tesserad-\(UUID().uuidString.prefix(4)).log")
    }

    func call(_ method: String, _ arguments: String...) async throws -> CommandResult {
        try await agent.call(method, arguments)
    }

    @discardableResult
    func check(_ method: String, _ arguments: String...) async throws -> String {
        try await agent.check(method, arguments)
    }

    /// AddAccount kind=mytoken; `extra` is more `'key': <value>` pairs.
    func addAccount(_ extra: String = "") async throws {
        try await check("AddAccount", account, "{'kind': <'mytoken'>, 'mytoken-server': <'\(server.url.absoluteString)'>\(extra)}")
    }

    /// Imports a root mytoken minted at the server.
    @discardableResult
    func importMinted(restrictionsJSON: String? = nil, rotationJSON: String? = nil,
                      capabilities: [String]? = ["AT", "create_mytoken", "tokeninfo"]) async throws -> String {
        let token = try await server.mint(restrictionsJSON: restrictionsJSON, capabilities: capabilities, rotationJSON: rotationJSON)
        try await addAccount(", 'mytoken': <'\(token)'>")
        return token
    }

    func flowState(_ path: String) async throws -> String? {
        let address = ProcessInfo.processInfo.environment["DBUS_SESSION_BUS_ADDRESS"] ?? ""
        let result = try await Command.run("busctl", ["--address=\(address)", "get-property", "io.tessera.Agent1", path,
                                                      "io.tessera.DeviceFlow1", "State"], environment: environment)
        return result.succeeded ? AgentWorld.capture(#"s "([a-z]+)""#, in: result.stdout) : nil
    }

    func storedMytoken() async throws -> String? {
        let result = try await Command.run("secret-tool", ["lookup", "account", account, "kind", "mytoken"], environment: environment)
        return result.succeeded && !result.stdout.isEmpty ? result.stdout : nil
    }

    func token(_ options: String = "{}") async throws -> String {
        let output = try await check("GetToken", account, options)
        return try #require(AgentWorld.capture(#"^\('([^']*)'"#, in: output))
    }

    /// What the server answers to a raw access-token request with `mytoken` (bypassing tesserad).
    func serverError(using mytoken: String) async throws -> String? {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["grant_type": "mytoken", "mytoken": mytoken]), as: UTF8.self)
        return try await server.postJSON("/api/v0/token/access", body)["error"] as? String
    }
}

/// Issue 8's service half, against the real `tesserad` and the mytoken test server.
@Suite(.serialized, .exclusiveSession) struct MytokenAgentTests {
    @Test func pollingCodeLoginNotifiesWithTheConsentURIAndStoresTheMytoken() async throws {
        let world = try await MytokenWorld()
        try await world.addAccount()
        let accounts = try await world.check("ListAccounts")
        #expect(accounts.contains("'issuer': <'\(world.server.options.provider)'>"), "the server's only provider is the issuer")
        let monitorLog = "\(world.directory)/monitor.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='org.freedesktop.Notifications'"],
                                            logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))
        _ = try await Command.run("dunstctl", ["close-all"])

        let started = try await world.check("StartDeviceFlow", world.account, "{}")
        let path = try #require(AgentWorld.capture(#"objectpath '([^']+)'"#, in: started))
        let consent = try #require(AgentWorld.capture(#"'verification-uri': <'([^']+)'>"#, in: started))
        #expect(!started.contains("user-code"), "a polling-code login has no code to type")
        #expect(consent.hasPrefix(world.server.url.absoluteString + "/c/"))
        let again = try await world.check("StartDeviceFlow", world.account, "{}")
        #expect(AgentWorld.capture(#"objectpath '([^']+)'"#, in: again) == path, "the pending flow is returned again")

        try await eventually("the notification shows the consent URI with a QR code") {
            let log = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
            return log.contains("Log in to \(world.account)") && log.contains(consent) && log.contains("image-data")
        }
        #expect(try await Command.run("dunstctl", ["action", "0"]).succeeded)
        try await eventually("the default action opens the consent page") {
            ((try? String(contentsOfFile: "\(world.directory)/opened", encoding: .utf8)) ?? "").contains(consent)
        }

        try await world.server.consent(try #require(URL(string: consent)))
        try await eventually("the flow completes") {
            try await world.flowState(path) == "completed"
        }
        let mytoken = try #require(try await world.storedMytoken())
        let stored = try #require(try await world.server.lookup(mytoken))
        #expect(stored.capabilities.contains("AT") && stored.capabilities.contains("create_mytoken"))
        #expect(try await world.check("ListAccounts").contains("'logged-in': <true>"))
        let token = try await world.token()
        #expect(token.hasPrefix("at_"))
        #expect(!world.agent.log().contains(mytoken) && !world.agent.log().contains(token))
        let notifications = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
        #expect(!notifications.contains(mytoken) && !notifications.contains(token))
    }

    @Test func aNewMytokensLoginIsNotifiedWithItsQRCodeAndStoresNothing() async throws {
        let world = try await MytokenWorld()
        let monitorLog = "\(world.directory)/monitor-new.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='org.freedesktop.Notifications'"],
                                            logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))
        _ = try await Command.run("dunstctl", ["close-all"])
        let accountsBefore = try await world.check("ListAccounts")

        let started = try await world.check("StartMytokenLogin", "{'mytoken-server': <'\(world.server.url.absoluteString)'>}")
        let path = try #require(AgentWorld.capture(#"objectpath '([^']+)'"#, in: started))
        let consent = try #require(AgentWorld.capture(#"'verification-uri': <'([^']+)'>"#, in: started))
        try await eventually("the notification shows the consent URI with a QR code") {
            let log = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
            return log.contains("a new mytoken") && log.contains(consent) && log.contains("image-data")
        }
        #expect(try await Command.run("dunstctl", ["action", "0"]).succeeded)
        try await eventually("the default action opens the consent page") {
            ((try? String(contentsOfFile: "\(world.directory)/opened", encoding: .utf8)) ?? "").contains(consent)
        }
        try await world.server.consent(try #require(URL(string: consent)))
        try await eventually("the login completes") { try await world.flowState(path) == "completed" }
        // Nothing stored: no account, no keyring item; the mytoken waits only for its caller.
        #expect(try await world.check("ListAccounts") == accountsBefore)
        let keyring = try await Command.run("secret-tool", ["search", "--all", "kind", "mytoken"], environment: world.environment)
        let issued = try #require(try await world.server.tokens().last)
        #expect(issued.capabilities == ["AT", "create_mytoken", "tokeninfo"])
        #expect(!keyring.stdout.contains("a new mytoken"))
        #expect(try await world.storedMytoken() == nil)
    }

    @Test func deniedConsentEndsTheFlowAsDenied() async throws {
        let world = try await MytokenWorld()
        try await world.addAccount()
        let started = try await world.check("StartDeviceFlow", world.account, "{'notify': <false>}")
        let path = try #require(AgentWorld.capture(#"objectpath '([^']+)'"#, in: started))
        let consent = try #require(AgentWorld.capture(#"'verification-uri': <'([^']+)'>"#, in: started))
        try await world.server.consent(try #require(URL(string: consent)), approve: false)
        try await eventually("the flow is denied") {
            try await world.flowState(path) == "denied"
        }
        #expect(try await world.storedMytoken() == nil)
    }

    @Test func accessTokensUseScopesAudienceTheSharedCacheAndOneExchangeForManyCallers() async throws {
        let world = try await MytokenWorld()
        // A server ignores scope and audience for a mytoken without restrictions, so the token has one.
        try await world.importMinted(
            restrictionsJSON: #"[{"scope":"openid storage.read storage.write","audience":["https://se.example.org"]}]"#)
        let first = try await world.token("{'scopes': <['openid', 'storage.read']>, 'audience': <['https://se.example.org']>}")
        let issued = try await world.server.accessTokens()
        #expect(issued.count == 1)
        #expect(issued.last?.scope == "openid storage.read" && issued.last?.audience == ["https://se.example.org"])
        #expect(issued.last?.comment == "tessera")
        let cached = try await world.token("{'scopes': <['storage.read', 'openid']>, 'audience': <['https://se.example.org']>}")
        #expect(cached == first, "the same scope and audience sets are answered from the cache")
        #expect(try await world.server.accessTokens().count == 1)

        // 30 concurrent callers on a new key: one exchange at the server.
        let environment = world.environment, account = world.account
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<30 {
                group.addTask {
                    try await Command.run(
                        "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                                  "--method", "io.tessera.Agent1.GetToken", account, "{'scopes': <['storage.write']>}"],
                        environment: environment, timeout: .seconds(60)).stdout
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(values).count == 1)
        #expect(try await world.server.accessTokens().count == 2)
    }

    @Test func rotationIsStoredBeforeTheTokenIsReturnedAndTheOldMytokenDies() async throws {
        let world = try await MytokenWorld()
        let original = try await world.importMinted(rotationJSON: #"{"on_AT":true}"#)
        _ = try await world.token()
        let rotated = try #require(try await world.storedMytoken())
        #expect(rotated != original)
        #expect(try await world.serverError(using: original) == "invalid_token", "the server rejects the rotated-away token")
        #expect(try await world.server.lookup(rotated)?.current == true)
        // A restarted service reads the account back from accounts.json and presents the stored
        // replacement, which rotates again.
        try await world.restartAgent()
        _ = try await world.token()
        let again = try #require(try await world.storedMytoken())
        #expect(again != rotated)
        #expect(try await world.server.lookup(again)?.current == true)
    }

    @Test func serverErrorsMapToAgentErrorsAndOnlyInvalidTokenDeletesTheSecret() async throws {
        let world = try await MytokenWorld()
        try await world.importMinted(restrictionsJSON: #"[{"usages_AT":1}]"#)
        _ = try await world.token()
        let restricted = try await world.call("GetToken", world.account, "{'force': <true>}")
        #expect(AgentWorld.errorName(restricted) == "NotPermitted", "\(restricted.stderr)")
        #expect(restricted.stderr.contains("restrictions"))
        #expect(try await world.storedMytoken() != nil, "usage_restricted keeps the mytoken")

        let stored = try #require(try await world.storedMytoken())
        world.server.stop()
        let offline = try await world.call("GetToken", world.account, "{'force': <true>}")
        #expect(AgentWorld.errorName(offline) == "Network", "\(offline.stderr)")
        #expect(try await world.storedMytoken() == stored, "a network failure keeps the mytoken")

        let other = try await MytokenWorld()
        let token = try await other.importMinted()
        _ = try await other.server.postJSON("/api/v0/token/revoke", #"{"token":"\#(token)"}"#)
        let revoked = try await other.call("GetToken", other.account, "{}")
        #expect(AgentWorld.errorName(revoked) == "LoginRequired", "\(revoked.stderr)")
        #expect(try await other.storedMytoken() == nil, "invalid_token deletes the mytoken")
    }

    @Test func revokeIsRecursiveAtTheServerAndRemoveAccountRevokesFirst() async throws {
        let world = try await MytokenWorld()
        let root = try await world.importMinted()
        let child = try await world.check("CreateMytoken", world.account, "{'scopes': <['openid']>}")
        let childToken = try #require(AgentWorld.capture(#"^\('([^']+)'"#, in: child))
        #expect(try await world.call("Revoke", world.account, "{'recursive': <'yes'>}").succeeded == false)
        #expect(try await world.check("Revoke", world.account, "{'recursive': <true>}").contains("true"))
        #expect(try await world.server.lookup(root)?.revoked == true)
        #expect(try await world.server.lookup(childToken)?.revoked == true, "recursive revokes the sub-mytoken")
        #expect(try await world.storedMytoken() == nil)
        #expect(AgentWorld.errorName(try await world.call("GetToken", world.account, "{}")) == "LoginRequired")

        let second = try await world.server.mint(capabilities: ["AT"])
        try await world.addAccount(", 'mytoken': <'\(second)'>, 'replace': <true>")
        try await world.check("RemoveAccount", world.account, "{}")
        #expect(try await world.server.lookup(second)?.revoked == true)
    }

    @Test func subMytokensTransferCodesAndPassedMytokens() async throws {
        let world = try await MytokenWorld()
        let root = try await world.importMinted(rotationJSON: #"{"on_other":true}"#)
        let created = try await world.check(
            "CreateMytoken", world.account,
            #"{'restrictions': <'[{"scope":"openid","exp":"+1d"}]'>, 'capabilities': <['AT']>, 'token-type': <'transfer'>}"#)
        let code = try #require(AgentWorld.capture(#"^\('([^']+)'"#, in: created))
        #expect(created.contains("'token-type': <'transfer'>"))
        #expect(!created.contains("rotated-mytoken"), "an account's rotated parent is stored, not returned")
        let stored = try #require(try await world.storedMytoken())
        #expect(stored != root)
        #expect(try await world.serverError(using: root) == "invalid_token")

        let exchanged = try await world.check("ExchangeTransferCode", code, "{'mytoken-server': <'\(world.server.url.absoluteString)'>}")
        let child = try #require(AgentWorld.capture(#"^\('([^']+)'"#, in: exchanged))
        let clause = try #require(try await world.server.lookup(child)).restrictionsJSON
        #expect(clause.contains(#""scope":"openid""#) && clause.contains(#""exp":"#))
        let reused = try await world.call("ExchangeTransferCode", code, "{'mytoken-server': <'\(world.server.url.absoluteString)'>}")
        #expect(AgentWorld.errorName(reused) == "Provider", "a transfer code is single-use")

        // A passed mytoken: the server comes from its iss claim; a rotation is handed back.
        let rotating = try await world.server.mint(rotationJSON: #"{"on_AT":true}"#)
        let answer = try await world.check("GetTokenWithMytoken", rotating, "{'scopes': <['openid']>}")
        let replacement = try #require(AgentWorld.capture(#"'rotated-mytoken': <'([^']+)'>"#, in: answer))
        #expect(answer.contains("'issuer': <'\(world.server.options.provider)'>"), "the OpenID issuer from the oidc_iss claim")
        #expect(try await world.server.lookup(replacement)?.current == true)
        try await world.check("RevokeMytoken", replacement, "{}")
        #expect(try await world.server.lookup(replacement)?.revoked == true)
    }

    /// A server that gives an access token `expires_in` near Int64.max (9223372036000000000)
    /// gets a token with a clamped expiry, not a trapped tesserad; later calls still work.
    @Test func aHugeExpiresInFromTheServerIsClampedNotATrap() async throws {
        var options = MytokenServer.Options()
        options.accessTokenLifetime = 9_223_372_036_000_000_000
        let world = try await MytokenWorld(options)
        try await world.importMinted()
        let passed = try await world.server.mint(capabilities: ["AT"])
        let answer = try await world.check("GetTokenWithMytoken", passed, "{'scopes': <['openid']>}")
        let expiresAt = try #require(AgentWorld.capture(#"int64 (-?[0-9]+)"#, in: answer).flatMap { Int64($0) })
        let now = Int64(Date().timeIntervalSince1970)
        #expect(expiresAt > now && expiresAt <= now + 100 * 366 * 86_400 + 60, "\(answer)")
        _ = try await world.token()
        _ = try await world.token("{'force': <true>}")
        #expect(world.agent.process.isRunning, "\(world.agent.log().suffix(2000))")
    }

    @Test func invalidMytokenInputNamesTheField() async throws {
        let world = try await MytokenWorld()
        let server = world.server.url.absoluteString
        let cases: [(String, String, String, String)] = [
            ("AddAccount", world.account, "{'kind': <'mytoken'>}", "mytoken-server"),
            ("AddAccount", world.account, "{'kind': <'mytoken'>, 'mytoken-server': <'\(server)'>, 'client-id': <'x'>}", "client-id"),
            ("AddAccount", world.account, "{'issuer': <'\(server)'>, 'mytoken-server': <'\(server)'>}", "mytoken-server"),
            ("AddAccount", world.account, "{'kind': <'mytoken'>, 'mytoken-server': <'\(server)'>, 'oidc-issuer': <'https://other.example.org'>}", "oidc-issuer"),
            ("AddAccount", world.account, "{'kind': <'mytoken'>, 'mytoken-server': <'\(server)'>, 'mytoken': <'two words'>}", "mytoken"),
            ("CreateMytoken", "", "{'mytoken': <'x.y.z'>, 'bogus': <1>}", "bogus"),
            ("CreateMytoken", "", "{'mytoken': <'abc'>}", "mytoken-server"),
            ("CreateMytoken", "", "{'mytoken': <'abc'>, 'mytoken-server': <'\(server)'>, 'exp': <'tomorrow'>}", "tomorrow"),
            ("CreateMytoken", "", "{'mytoken': <'abc'>, 'mytoken-server': <'\(server)'>, 'token-type': <'long'>}", "token-type"),
            ("CreateMytoken", "", "{'mytoken': <'abc'>, 'mytoken-server': <'\(server)'>, 'restrictions': <'@/etc/passwd'>}", "restrictions"),
            ("ExchangeTransferCode", "code", "{}", "mytoken-server"),
            ("RevokeMytoken", "abc", "{'recursive': <'yes'>}", "recursive"),
        ]
        for (method, first, options, field) in cases {
            let result = try await Command.run(
                "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                          "--method", "io.tessera.Agent1.\(method)", first, options], environment: world.environment)
            #expect(AgentWorld.errorName(result) == "InvalidArgument", "\(method) \(options): \(result.stderr)")
            #expect(result.stderr.contains(field), "\(method) \(options): \(result.stderr)")
        }
        #expect(world.agent.process.isRunning)
    }

    @Test func badInputToTheTemplateInfoAndNewMytokenMethods() async throws {
        let world = try await MytokenWorld()
        let server = world.server.url.absoluteString
        let cases: [(String, [String], String)] = [
            ("ListMytokenTemplates", ["{'kind': <'templates'>, 'mytoken-server': <'\(server)'>}"], "kind"),
            ("ListMytokenTemplates", ["{'kind': <'rotation'>, 'group': <'a/b'>, 'mytoken-server': <'\(server)'>}"], "template group"),
            ("MytokenInfo", ["", "tree", "{'mytoken': <'abc'>}"], "action"),
            ("MytokenInfo", [world.account, "history", "{'mytoken': <'abc'>}"], "not both"),
            ("StartMytokenLogin", ["{'mytoken-server': <'\(server)'>, 'mytoken': <'x.y.z'>}"], "mytoken"),
            ("StartMytokenLogin", ["{'mytoken-server': <'\(server)'>, 'oidc-issuer': <'nobody'>}"], "oidc-issuer"),
            ("StartMytokenLogin", ["{'mytoken-server': <'\(server)'>, 'restrictions': <'@/etc/passwd'>}"], "file path"),
            ("FinishMytokenLogin", ["/io/tessera/Agent1/flows/999"], "not a login for a new mytoken"),
            ("CreateMytoken", ["", "{'mytoken': <'x.y.z'>, 'oidc-issuer': <'https://op.example.org'>}"], "StartMytokenLogin"),
            ("CreateMytoken", ["", "{'mytoken': <'x.y.z'>, 'rotation-template': <'{\"on_at\": true}'>}"], "on_at"),
        ]
        for (method, arguments, fragment) in cases {
            let result = try await Command.run(
                "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                          "--method", "io.tessera.Agent1.\(method)"] + arguments, environment: world.environment)
            #expect(AgentWorld.errorName(result) == "InvalidArgument", "\(method) \(arguments): \(result.stderr)")
            #expect(result.stderr.contains(fragment), "\(method) \(arguments): \(result.stderr)")
        }

        // A login for a new mytoken belongs to the connection that started it.
        let started = try await Command.run(
            "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                      "--method", "io.tessera.Agent1.StartMytokenLogin", "{'mytoken-server': <'\(server)'>, 'notify': <false>}"],
            environment: world.environment)
        #expect(started.succeeded, "\(started.stderr)")
        let path = try #require(started.stdout.range(of: #"/io/tessera/Agent1/flows/\d+"#, options: .regularExpression))
        let other = try await Command.run(
            "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                      "--method", "io.tessera.Agent1.FinishMytokenLogin", String(started.stdout[path])], environment: world.environment)
        #expect(AgentWorld.errorName(other) == "InvalidArgument", "\(other.stderr)")
        #expect(world.agent.process.isRunning)
    }
}
