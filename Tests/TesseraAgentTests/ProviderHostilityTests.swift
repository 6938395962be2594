import Foundation
import TestSupport
import Testing

/// Issues 12 and 13 through the real `tesserad`: what a hostile or merely unusual provider
/// answers must neither crash the service nor lose (or keep) a login wrongly. The fault server
/// (Tests/Provider/faults.py) plays the provider; gdbus and secret-tool are the independent clients.
@Suite(.serialized, .exclusiveSession) struct ProviderHostilityTests {
    /// An account on a fault issuer whose keyring already holds a refresh token (as after a login).
    static func faultAccount(_ world: AgentWorld, _ faults: FaultServer, fault: String, suffix: String,
                             refreshToken: String = "fault-refresh-token") async throws -> String {
        let name = "\(world.account)-\(suffix)"
        let issuer = faults.issuer(for: fault).absoluteString
        try await world.check("AddAccount", name, "{'issuer': <'\(issuer)'>, 'client-id': <'fault-client'>}")
        try await Command.check(
            "secret-tool", ["store", "--label=fault", "xdg:schema", "io.tessera.Secret", "account", name, "issuer", issuer,
                            "kind", "refresh_token", "gen", "1"],
            stdin: refreshToken, environment: world.environment)
        return name
    }

    /// Issue 12.1: `expires_in` near Int64.max trapped tesserad in GetToken, and again on every
    /// later GetToken of the account. Now the lifetime is clamped and the service stays up.
    @Test func hugeExpiresInNeitherCrashesNorWedges() async throws {
        let world = try await AgentWorld()
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        let now = Int64(Date().timeIntervalSince1970)
        let yearAndADay: Int64 = 367 * 86_400
        for (index, raw) in ["9223372036000000000", "1e300", "-9223372036854775808"].enumerated() {
            let name = try await Self.faultAccount(world, faults, fault: "expires-in=\(raw)", suffix: "n\(index)")
            let first = try await world.token(account: name)
            #expect(first.value == "fault-server-access-token", "\(raw)")
            #expect(first.expiresAt >= now && first.expiresAt < now + yearAndADay, "\(raw): expires \(first.expiresAt)")
            #expect(world.agent.process.isRunning, "tesserad died on expires_in \(raw):\n\(world.agent.log())")
            // Later calls: from the cache, then a forced refresh, then the account list's expiries.
            let cached = try await world.token(account: name)
            #expect(cached.expiresAt == first.expiresAt)
            _ = try await world.token("{'force': <true>}", account: name)
            #expect(try await world.check("ListAccounts").contains(name))
            // The rotated refresh token (the fault server always sends one) was kept.
            #expect(try await world.storedRefreshToken(name) == "fault-server-refresh-token")
        }
        #expect(world.agent.process.isRunning)
    }

    /// Issue 12.1 for device flows: a device code "valid" for Int64.max seconds trapped in
    /// StartDeviceFlow's answer and in the poll loop's sleep.
    @Test func hugeDeviceCodeLifetimeNeitherCrashesNorWedges() async throws {
        let world = try await AgentWorld()
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        let name = "\(world.account)-device"
        let issuer = faults.issuer(for: "device-expires-in=9223372036000000000").absoluteString
        try await world.check("AddAccount", name, "{'issuer': <'\(issuer)'>, 'client-id': <'fault-client'>}")
        let output = try await world.check("StartDeviceFlow", name, "{'notify': <false>}")
        let expires = try #require(AgentWorld.capture(#"'expires-at': <(?:int64 )?(-?\d+)>"#, in: output).flatMap { Int64($0) })
        let now = Int64(Date().timeIntervalSince1970)
        #expect(expires > now && expires <= now + 86_400 + 5, "expires-at \(expires)")
        let path = try #require(AgentWorld.capture(#"objectpath '([^']+)'"#, in: output))
        // The fault server's token endpoint grants at once: the flow completes and stores the login.
        try await world.waitForState(AgentWorld.Flow(path: path, userCode: "FAULT-CODE", completeURI: nil), "completed")
        #expect(try await world.storedRefreshToken(name) == "fault-server-refresh-token")
        #expect(try await world.token(account: name).value == "fault-server-access-token")
        #expect(world.agent.process.isRunning)
    }

    /// Issue 12.7: an empty rotated refresh token wedged the account until restart; now the
    /// current one is kept and every later refresh works.
    @Test func emptyRotatedRefreshTokenKeepsTheCurrentOne() async throws {
        let world = try await AgentWorld()
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        for (index, raw) in ["\"\"", "absent"].enumerated() {
            let name = try await Self.faultAccount(world, faults, fault: "refresh-token=\(raw)", suffix: "rt\(index)",
                                                   refreshToken: "current-refresh-token")
            for _ in 0..<3 {
                let token = try await world.token("{'force': <true>}", account: name)
                #expect(token.value == "fault-server-access-token", "\(raw)")
                #expect(try await world.storedRefreshToken(name) == "current-refresh-token", "\(raw)")
            }
        }
        #expect(world.agent.process.isRunning)
    }

    /// Issue 12.8: `invalid_grant` in a 5xx deleted the refresh token; a 5xx is the provider failing.
    @Test func invalidGrantInA5xxKeepsTheLogin() async throws {
        let world = try await AgentWorld()
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        for status in [500, 503] {
            let name = try await Self.faultAccount(world, faults, fault: "invalid-grant-status=\(status)", suffix: "s\(status)")
            let result = try await world.call("GetToken", name, "{}")
            #expect(AgentWorld.errorName(result) == "Provider", "\(status): \(result.stderr)")
            #expect(try await world.storedRefreshToken(name) == "fault-refresh-token", "\(status)")
        }
        // The control: in a 400 it still means the login is gone.
        let name = try await Self.faultAccount(world, faults, fault: "invalid-grant-status=400", suffix: "s400")
        #expect(AgentWorld.errorName(try await world.call("GetToken", name, "{}")) == "LoginRequired")
        #expect(try await world.storedRefreshToken(name) == nil)
    }

    /// Issue 12.8: an access token with CR/LF (it would end up in HTTP headers) was handed out.
    @Test func accessTokenOutsideB64TokenIsAProviderError() async throws {
        let world = try await AgentWorld()
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        let name = try await Self.faultAccount(world, faults, fault: #"access-token="abc\r\nX-Injected: 1""#, suffix: "crlf")
        let result = try await world.call("GetToken", name, "{}")
        #expect(AgentWorld.errorName(result) == "Provider", "\(result.stderr)")
        #expect(result.stderr.contains("access_token") && !result.stderr.contains("X-Injected"))
        #expect(!result.stdout.contains("abc"))
        #expect(world.agent.process.isRunning)
    }

    /// Issue 12.8: a 2 MiB answer was reported as "cannot reach the provider".
    @Test func oversizedAnswerSaysSo() async throws {
        let world = try await AgentWorld()
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        let name = try await Self.faultAccount(world, faults, fault: "huge", suffix: "huge")
        let result = try await world.call("GetToken", name, "{}")
        #expect(AgentWorld.errorName(result) == "Provider", "\(result.stderr)")
        #expect(result.stderr.contains("larger than 1048576 bytes") && !result.stderr.contains("cannot reach"), "\(result.stderr)")
        #expect(try await world.storedRefreshToken(name) == "fault-refresh-token")
    }

    /// Issue 12.8: `http://127.evil.example/` passed the account's loopback check (`hasPrefix("127.")`).
    @Test func plainHTTPToALookalikeHostIsRefused() async throws {
        let world = try await AgentWorld()
        for issuer in ["http://127.evil.example/", "http://127.0.0.1.evil.example/", "http://localhost.evil.example/"] {
            let result = try await world.call("AddAccount", "\(world.account)-evil", "{'issuer': <'\(issuer)'>, 'client-id': <'x'>}")
            #expect(AgentWorld.errorName(result) == "InvalidArgument", "\(issuer): \(result.stderr)")
        }
        #expect(!(try await world.check("ListAccounts")).contains("\(world.account)-evil"))
        // Loopback literals in the resolver's other spellings are loopback.
        let port = world.provider.issuer.port ?? 80
        try await world.check("AddAccount", "\(world.account)-short", "{'issuer': <'http://127.1:\(port)/'>, 'client-id': <'x'>}")
    }

    /// Issue 13.3: IAM's 401 `invalid_token` "Refresh token for value … was not found" on a refresh
    /// was a Provider error that kept the dead token; it means the login is gone: LoginRequired is
    /// answered and signalled, and the refresh token is deleted from the keyring.
    @Test func invalidTokenOnARefreshEndsTheLogin() async throws {
        let world = try await AgentWorld()
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        let monitorLog = "\(world.directory)/signals.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='io.tessera.Agent1'"], logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))
        let name = try await Self.faultAccount(world, faults, fault: "error-status=401:invalid_token", suffix: "expired")
        let result = try await world.call("GetToken", name, "{}")
        #expect(AgentWorld.errorName(result) == "LoginRequired", "\(result.stderr)")
        #expect(result.stderr.contains("was not found") && !result.stderr.contains("fault-refresh-token"))
        #expect(try await world.storedRefreshToken(name) == nil)
        try await eventually("LoginRequired is signalled") {
            ((try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? "").contains("member=LoginRequired")
        }
        // Later calls answer LoginRequired without a refresh token to try.
        #expect(AgentWorld.errorName(try await world.call("GetToken", name, "{}")) == "LoginRequired")

        // The same code in a 5xx is the provider failing: the login stays.
        let kept = try await Self.faultAccount(world, faults, fault: "error-status=500:invalid_token", suffix: "kept")
        #expect(AgentWorld.errorName(try await world.call("GetToken", kept, "{}")) == "Provider")
        #expect(try await world.storedRefreshToken(kept) == "fault-refresh-token")
    }
}
