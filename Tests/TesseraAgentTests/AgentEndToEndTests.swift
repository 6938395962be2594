import DBus
import Foundation
import TesseraAPI
import TestSupport
import Testing

/// Issue 5's acceptance, driving the real `tesserad` on the test session (private bus, unlocked
/// gnome-keyring, dunst) against the project's django-oauth-toolkit provider, with gdbus, busctl,
/// dbus-monitor, dunstctl and secret-tool as independent clients. Serialized: one tesserad owns
/// io.tessera.Agent1 at a time.
@Suite(.serialized, .exclusiveSession) struct AgentEndToEndTests {
    @Test func deviceFlowLoginNotifiesOpensBrowserAndStoresOnlyTheRefreshToken() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        let monitorLog = "\(world.directory)/monitor.log"
        let monitor = try BackgroundProcess(
            "dbus-monitor", ["--session", "interface='org.freedesktop.Notifications'", "interface='io.tessera.Agent1'"],
            logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))
        _ = try await Command.run("dunstctl", ["close-all"])

        let flow = try await world.startFlow()
        // Starting again while pending hands back the same flow.
        let again = try await world.startFlow()
        #expect(again.path == flow.path && again.userCode == flow.userCode)
        #expect(flow.path.hasPrefix("/io/tessera/Agent1/flows/"))
        #expect(try await world.flowState(flow) == "pending")

        try await eventually("the Notify call carries the user code") {
            let log = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
            return log.contains("Log in to \(world.account)") && log.contains(flow.userCode) && log.contains("image-data")
        }
        let action = try await Command.run("dunstctl", ["action", "0"])
        #expect(action.succeeded)
        let expectedURI = try #require(flow.completeURI)
        try await eventually("the fake xdg-open receives the verification URI") {
            ((try? String(contentsOfFile: world.openedFile, encoding: .utf8)) ?? "").contains(expectedURI)
        }

        try await world.provider.approve(userCode: flow.userCode)
        try await world.waitForState(flow, "completed")
        try await eventually("the notification is replaced by a success notice and LoginCompleted is signalled") {
            let log = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
            return log.contains("Logged in to \(world.account)") && log.contains("member=LoginCompleted")
        }

        let token = try await world.token()
        let info = try await world.provider.tokenInfo(accessToken: token.value)
        #expect(info.active && info.username == "alice")
        #expect(token.expiresAt > Int64(Date().timeIntervalSince1970))

        // secret-tool prints the secret on stdout and the attributes on stderr; only booleans are
        // checked so a failure message never shows the secret.
        let search = try await Command.run("secret-tool", ["search", "--all", "account", world.account])
        let listing = search.stdout + search.stderr
        let hasSchema = listing.contains("schema = io.tessera.Secret")
        let hasKind = listing.contains("attribute.kind = refresh_token")
        let hasLabel = listing.contains("label = Tessera: \(world.account) (\(world.provider.issuer.absoluteString))")
        #expect(hasSchema && hasKind && hasLabel)
        let refreshToken = try #require(try await world.storedRefreshToken())

        // No token string in any file under HOME / XDG_RUNTIME_DIR, in the service's stderr, or in
        // what was sent to the notification server.
        let env = ProcessInfo.processInfo.environment
        let roots = [env["HOME"], env["XDG_RUNTIME_DIR"]].compactMap { $0 }
        #expect(filesContaining([token.value, refreshToken], under: roots) == [])
        #expect(!world.agent.log().contains(token.value) && !world.agent.log().contains(refreshToken))
        let notifications = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
        #expect(!notifications.contains(token.value) && !notifications.contains(refreshToken))
        #expect(try String(contentsOfFile: "\(world.environment["XDG_CONFIG_HOME"]!)/tessera/accounts.json", encoding: .utf8)
            .contains(world.account))
    }

    @Test func accountsRegisterKeepSecretsInTheKeyringAndRemoveEverything() async throws {
        let world = try await AgentWorld()
        let monitorLog = "\(world.directory)/accounts.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='io.tessera.Agent1'"], logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))

        // No client id: the provider's registration endpoint gives one.
        try await world.check("AddAccount", world.account, "{'issuer': <'\(world.provider.issuer.absoluteString)'>}")
        let listed = try await world.check("ListAccounts")
        let registered = try #require(AgentWorld.capture("'\(world.account)', \\{[^}]*'client-id': <'([^']+)'>", in: listed))
        #expect(!registered.isEmpty)
        try await world.login()
        _ = try await world.token()

        // A confidential client: its secret goes to the keyring, never to accounts.json.
        let confidential = world.account + "-conf"
        let secret = try #require(TestProvider.deviceConfidential.secret)
        try await world.check("AddAccount", confidential, "{'issuer': <'\(world.provider.issuer.absoluteString)'>, "
            + "'client-id': <'\(TestProvider.deviceConfidential.id)'>, 'client-secret': <'\(secret)'>}")
        let file = try String(contentsOfFile: "\(world.environment["XDG_CONFIG_HOME"]!)/tessera/accounts.json", encoding: .utf8)
        #expect(file.contains(confidential) && !file.contains(secret))
        let stored = try await Command.run("secret-tool", ["lookup", "account", confidential, "kind", "client_secret"])
        #expect(stored.stdout == secret)
        try await world.login(confidential)
        _ = try await world.token(account: confidential)
        #expect(try await world.check("ListAccounts").contains("'has-client-secret': <true>"))

        // RemoveAccount revokes at the provider and deletes every secret of the account.
        let refreshToken = try #require(try await world.storedRefreshToken())
        try await world.check("RemoveAccount", world.account, "{}")
        #expect(try await world.storedRefreshToken() == nil)
        #expect(try await world.providerRefresh(refreshToken).body.contains("invalid_grant"))
        try await world.check("RemoveAccount", confidential, "{'revoke': <false>}")
        #expect(try await Command.run("secret-tool", ["lookup", "account", confidential, "kind", "client_secret"]).stdout.isEmpty)
        #expect(!(try await world.check("ListAccounts")).contains(world.account))
        try await eventually("AccountsChanged is signalled for each change") {
            let log = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
            return log.components(separatedBy: "member=AccountsChanged").count - 1 >= 4
        }
    }

    @Test func sessionActivationStartsTesserad() async throws {
        // A private bus that knows only the generated activation file (@bindir@ → the build dir).
        let bus = try await KeyringSession(keyring: .none)
        let template = try String(contentsOfFile: packageRoot() + "/dbus/io.tessera.Agent1.service", encoding: .utf8)
        let binary = try AgentProcess.binary()
        let bindir = (binary as NSString).deletingLastPathComponent
        #expect(template.contains("Exec=@bindir@/tesserad"))
        try template.replacingOccurrences(of: "@bindir@", with: bindir)
            .write(toFile: "\(bus.root)/services/io.tessera.Agent1.service", atomically: true, encoding: .utf8)
        let result = try await Command.run(
            "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                      "--method", "io.tessera.Agent1.ListAccounts"], environment: bus.environment, timeout: .seconds(20))
        #expect(result.succeeded, "\(result.stderr)")
        #expect(result.stdout.contains("a(sa{sv})"))
        let unit = try String(contentsOfFile: packageRoot() + "/desktop/tesserad.service", encoding: .utf8)
        #expect(unit.contains("Type=dbus") && unit.contains("BusName=io.tessera.Agent1"))
    }

    @Test func cacheMinValidAndSeparateKeys() async throws {
        let world = try await AgentWorld(.init(rotateRefreshTokens: false))
        try await world.addAccount()
        try await world.login()
        let start = try await world.provider.stats().refreshes

        // The login's access token is cached: repeated calls hit no provider.
        let first = try await world.token()
        for _ in 0..<5 { #expect(try await world.token().value == first.value) }
        #expect(try await world.provider.stats().refreshes == start)

        // min-valid above the provider's lifetime (3600 s) forces exactly one refresh, and the
        // answer is the fresh token with its true expiry.
        let longer = try await world.token("{'min-valid': <uint32 7200>}")
        #expect(longer.value != first.value)
        #expect(longer.expiresAt <= Int64(Date().timeIntervalSince1970) + 3601)
        #expect(try await world.provider.stats().refreshes == start + 1)
        #expect(try await world.token().value == longer.value)

        // force always refreshes.
        let forced = try await world.token("{'force': <true>}")
        #expect(forced.value != longer.value)
        #expect(try await world.provider.stats().refreshes == start + 2)

        // A narrower scope set is its own cache entry.
        let scoped = try await world.token("{'scopes': <['openid']>}")
        #expect(scoped.value != forced.value)
        #expect(try await world.token("{'scopes': <['openid']>}").value == scoped.value)
        #expect(try await world.provider.tokenInfo(accessToken: scoped.value).scopes == ["openid"])
        #expect(try await world.provider.stats().refreshes == start + 3)

        // So is an audience set.
        let audience = try await world.token("{'audience': <['https://rs.example.org']>}")
        #expect(audience.value != scoped.value && audience.value != forced.value)
        #expect(try await world.token("{'audience': <['https://rs.example.org']>}").value == audience.value)
        #expect(try await world.provider.stats().refreshes == start + 4)
        #expect(try await world.token().value == forced.value)

        // The issuer URL names the same account.
        #expect(try await world.token(account: world.provider.issuer.absoluteString).value == forced.value)
    }

    @Test func concurrentCallsOnAnExpiredTokenShareOneRefresh() async throws {
        let world = try await AgentWorld(.init(accessTokenLifetime: 2, rotateRefreshTokens: true))
        try await world.addAccount()
        try await world.login()
        try await Task.sleep(for: .milliseconds(2200))
        let start = try await world.provider.stats().refreshes

        let connection = try await Connection.session()
        let options = GetTokenOptions(minValid: 0).dbusOptions
        let account = world.account
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    let reply = try await connection.call(
                        destination: AgentContract.busName, path: AgentContract.objectPath,
                        interface: AgentContract.interfaceName, member: AgentContract.member(.getToken),
                        arguments: [.string(account), options.dbusValue])
                    return try TokenReply(body: reply).token
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(tokens.count == 200)
        #expect(Set(tokens).count == 1)
        #expect(try await world.provider.stats().refreshes == start + 1)
    }

    @Test func rotatedRefreshTokenSurvivesSIGKILL() async throws {
        let world = try await AgentWorld(.init(rotateRefreshTokens: true, refreshTokenReuseProtection: true))
        try await world.addAccount()
        try await world.login()
        let original = try #require(try await world.storedRefreshToken())
        _ = try await world.token("{'force': <true>}")
        let rotated = try #require(try await world.storedRefreshToken())
        #expect(rotated != original)

        try await world.restartAgent(signal: SIGKILL)
        let after = try await world.token("{'force': <true>}")
        #expect(try await world.provider.tokenInfo(accessToken: after.value).active)
        #expect(try await world.storedRefreshToken() != rotated)
    }

    @Test func revokeRemovesTheLoginEverywhere() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        try await world.login()
        let refreshToken = try #require(try await world.storedRefreshToken())
        #expect(try await world.check("Revoke", world.account, "{}").contains("true"))
        #expect(try await world.storedRefreshToken() == nil)
        let refused = try await world.providerRefresh(refreshToken)
        #expect(refused.status == 400 && refused.body.contains("invalid_grant"))
        let after = try await world.call("GetToken", world.account, "{'force': <true>}")
        #expect(AgentWorld.errorName(after) == "LoginRequired")
        // Without force the cache was dropped too.
        #expect(AgentWorld.errorName(try await world.call("GetToken", world.account, "{}")) == "LoginRequired")
    }

    @Test func invalidGrantDeletesTheSecretAndSignalsLoginRequired() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        try await world.login()
        let refreshToken = try #require(try await world.storedRefreshToken())
        try await world.providerRevoke(refreshToken)
        let monitorLog = "\(world.directory)/signals.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='io.tessera.Agent1'"], logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))
        let result = try await world.call("GetToken", world.account, "{'force': <true>}")
        #expect(AgentWorld.errorName(result) == "LoginRequired")
        #expect(try await world.storedRefreshToken() == nil)
        try await eventually("LoginRequired is signalled") {
            ((try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? "").contains("member=LoginRequired")
        }
    }

    @Test func invalidInputIsRejectedNamingTheField() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        let cases: [(method: String, arguments: [String], field: String)] = [
            ("GetToken", [world.account, "{'bogus': <1>}"], "bogus"),
            ("GetToken", [world.account, "{'min-valid': <'soon'>}"], "min-valid"),
            ("GetToken", [world.account, "{'scopes': <'openid'>}"], "scopes"),
            ("GetToken", [world.account, "{'scopes': <['two words']>}"], "scopes"),
            ("GetToken", [world.account, "{'timeout': <uint32 0>}"], "timeout"),
            ("GetToken", ["", "{}"], "account"),
            ("GetToken", [String(repeating: "n", count: 10_240), "{}"], "account"),
            ("GetToken", ["ftp://issuer.example", "{}"], "account"),
            ("StartDeviceFlow", [world.account, "{'interactive': <true>}"], "interactive"),
            ("Revoke", [world.account, "{'keep-on-failure': <'yes'>}"], "keep-on-failure"),
            ("AddAccount", ["other", "{}"], "issuer"),
            ("AddAccount", ["other", "{'issuer': <'ftp://issuer.example'>}"], "issuer"),
            ("AddAccount", ["other", "{'issuer': <'http://issuer.example'>}"], "issuer"),
            ("AddAccount", ["other", "{'issuer': <'not a url'>}"], "issuer"),
            ("AddAccount", ["other", "{'issuer': <'https://issuer.example'>, 'kind': <'saml'>}"], "kind"),
            // `refresh-token` is a setting since issue 13 (import); the misspelling stays unknown.
            ("AddAccount", ["other", "{'issuer': <'https://issuer.example'>, 'refresh_token': <'x'>}"], "refresh_token"),
            ("AddAccount", ["other", "{'issuer': <'https://issuer.example'>, 'refresh-token': <'two words'>}"], "refresh-token"),
            ("AddAccount", ["other", "{'provider': <'wlcg'>, 'kind': <'mytoken'>, 'mytoken-server': <'https://mt.example'>}"], "provider"),
            ("SetAccount", [world.account, "{'kind': <'mytoken'>}"], "kind"),
            ("SetAccount", [world.account, "{'audience-style': <'sideways'>}"], "audience-style"),
            ("SetAccount", ["nobody-here\n", "{}"], "name"),
            ("RenameAccount", [world.account, "''"], "new"),
            ("RenameAccount", [world.account, "'https://issuer.example'"], "new"),
            ("GetIdToken", [world.account, "{'audience': <['x']>}"], "audience"),
            ("AddAccount", [world.account, "{'issuer': <'https://issuer.example'>, 'client-id': <'x'>}"], "name"),
            ("AddAccount", ["", "{'issuer': <'https://issuer.example'>, 'client-id': <'x'>}"], "name"),
            ("RemoveAccount", [world.account, "{'purge': <true>}"], "purge"),
        ]
        for (method, arguments, field) in cases {
            let result = try await Command.run(
                "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                          "--method", "io.tessera.Agent1.\(method)"] + arguments, environment: world.environment)
            #expect(AgentWorld.errorName(result) == "InvalidArgument", "\(method) \(arguments.map { $0.prefix(40) })")
            #expect(result.stderr.contains("invalid \(field)"), "\(method): \(result.stderr.prefix(300))")
        }
        let unknown = try await world.call("GetToken", "nobody", "{}")
        #expect(AgentWorld.errorName(unknown) == "NoSuchAccount")
        #expect(AgentWorld.errorName(try await world.call("GetToken", "https://unknown.example", "{}")) == "NoSuchAccount")
        // Still alive, and nothing was added.
        let list = try await world.check("ListAccounts")
        #expect(list.contains(world.account) && !list.contains("'other'"))
    }

    @Test func providerFailuresKeepTheSecret() async throws {
        let world = try await AgentWorld(ownProvider: true)
        try await world.addAccount()
        try await world.login()
        let refreshToken = try #require(try await world.storedRefreshToken())

        // A provider that answers 500 with an empty body, or an HTML page: Provider, secret kept.
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        for fault in ["empty-500", "html-500"] {
            let name = "\(world.account)-\(fault)"
            let issuer = faults.issuer(for: fault).absoluteString
            try await world.check("AddAccount", name, "{'issuer': <'\(issuer)'>, 'client-id': <'fault-client'>}")
            try await Command.check(
                "secret-tool", ["store", "--label=fault", "xdg:schema", "io.tessera.Secret", "account", name, "issuer", issuer, "kind", "refresh_token", "gen", "1"],
                stdin: "fault-refresh-token", environment: world.environment)
            let result = try await world.call("GetToken", name, "{}")
            #expect(AgentWorld.errorName(result) == "Provider", "\(fault): \(result.stderr)")
            #expect(try await world.storedRefreshToken(name) == "fault-refresh-token")
        }

        // The provider down: Network, secret kept.
        world.provider.stop()
        let down = try await world.call("GetToken", world.account, "{'force': <true>}")
        #expect(AgentWorld.errorName(down) == "Network")
        #expect(try await world.storedRefreshToken() == refreshToken)
        // Revoke with keep-on-failure keeps it and says why; without, the local secret goes.
        let kept = try await world.call("Revoke", world.account, "{'keep-on-failure': <true>}")
        #expect(AgentWorld.errorName(kept) == "Network")
        #expect(try await world.storedRefreshToken() == refreshToken)
        #expect(try await world.check("Revoke", world.account, "{}").contains("false"))
        #expect(try await world.storedRefreshToken() == nil)
        #expect(try await world.check("ListAccounts").contains(world.account))
    }

    @Test func deniedAndExpiredLoginsEndTheirFlows() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        let monitorLog = "\(world.directory)/flows.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='io.tessera.DeviceFlow1'"], logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))

        let denied = try await world.startFlow()
        try await world.provider.deny(userCode: denied.userCode)
        try await world.waitForState(denied, "denied")
        let expired = try await world.startFlow()
        #expect(expired.path != denied.path)
        try await world.provider.expire(userCode: expired.userCode)
        try await world.waitForState(expired, "expired")
        let cancelled = try await world.startFlow()
        try await Command.check("busctl", ["--address=\(world.busAddress)", "call", "io.tessera.Agent1", cancelled.path,
                                           "io.tessera.DeviceFlow1", "Cancel"])
        try await world.waitForState(cancelled, "cancelled")
        // Cancel, like every method, runs only for a verified caller, logged with its program.
        #expect(world.agent.log().contains("Cancel from "), "\(world.agent.log())")
        try await eventually("Failed carries the error names") {
            let log = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
            return log.contains("io.tessera.Agent1.Error.AccessDenied") && log.contains("io.tessera.Agent1.Error.ExpiredToken")
                && log.contains("io.tessera.Agent1.Error.Cancelled")
        }
        #expect(AgentWorld.errorName(try await world.call("GetToken", world.account, "{}")) == "LoginRequired")
    }

    @Test func interactiveGetTokenWaitsForTheLoginOrTimesOut() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        let timedOut = try await world.call("GetToken", world.account, "{'interactive': <true>, 'timeout': <uint32 1>}")
        #expect(AgentWorld.errorName(timedOut) == "Timeout")
        // The login it started is still pending; approving it lets a second interactive call finish.
        let flow = try await world.startFlow()
        async let answer = world.call("GetToken", world.account, "{'interactive': <true>, 'timeout': <uint32 30>}")
        try await Task.sleep(for: .milliseconds(300))
        try await world.provider.approve(userCode: flow.userCode)
        let result = try await answer
        #expect(result.succeeded, "\(result.stderr)")
    }

    @Test func introspectionEqualsTheContractAndTheFile() async throws {
        let world = try await AgentWorld()
        let connection = try await Connection.session()
        let reply = try await connection.call(destination: AgentContract.busName, path: AgentContract.objectPath,
                                              interface: "org.freedesktop.DBus.Introspectable", member: "Introspect")
        let live = try reply.decode(String.self)
        #expect(live == AgentContract.introspectionXML)
        let file = try String(contentsOfFile: packageRoot() + "/dbus/io.tessera.Agent1.xml", encoding: .utf8)
        #expect(file == live)
        // busctl, an independent reader, sees every member.
        let members = try await Command.check("busctl", ["--address=\(world.busAddress)", "introspect", "io.tessera.Agent1",
                                                         "/io/tessera/Agent1", "io.tessera.Agent1"])
        for member in AgentMethod.allCases.map(\.rawValue) + AgentSignal.allCases.map(\.rawValue) {
            #expect(members.contains(".\(member)"))
        }
    }

    @Test func nameOwnershipReplaceAndCleanStop() async throws {
        let world = try await AgentWorld()
        let binary = try AgentProcess.binary()
        let second = try await Command.run(binary, [], environment: world.environment, timeout: .seconds(10))
        #expect(second.status == 3)
        #expect(second.stderr.contains("already owned") && second.stderr.contains("--replace"))
        #expect(world.agent.process.isRunning)

        let replacement = try await AgentProcess(environment: world.environment, logPath: "\(world.directory)/replacement.log",
                                                 arguments: ["--replace"])
        try await eventually("the replaced tesserad exits") { !world.agent.process.isRunning }
        #expect(world.agent.log().contains("took over"))
        kill(replacement.process.pid, SIGTERM)
        try await eventually("SIGTERM stops tesserad") { !replacement.process.isRunning }
        #expect(replacement.log().contains("stopping"))
        let version = try await Command.check(binary, ["--version"])
        #expect(version.hasPrefix("tesserad "))
        #expect(try await Command.run(binary, ["--bogus"]).status == 2)
    }

    @Test func corruptAccountFileIsReportedAndTheServiceRuns() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        world.agent.stop()
        let file = "\(world.environment["XDG_CONFIG_HOME"]!)/tessera/accounts.json"
        var text = try String(contentsOfFile: file, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"accounts\" : [", with: "\"accounts\" : [{\"name\": \"broken\", \"issuer\": 7},")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        try await world.restartAgent()
        #expect(world.agent.log().contains("accounts.json: accounts[0].issuer: must be a string"))
        let list = try await world.check("ListAccounts")
        #expect(list.contains(world.account) && !list.contains("broken"))
        try await world.check("RemoveAccount", world.account, "{'revoke': <false>}")
        // The first write after a bad load keeps the user's file aside and writes a clean one, 0600.
        #expect(FileManager.default.fileExists(atPath: file + ".invalid"))
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(!(try await world.check("ListAccounts")).contains(world.account))
    }

    @Test func keyringLockedOrMissingGivesItsOwnError() async throws {
        // A private bus with its own unlocked gnome-keyring and no notification server at all.
        let keyring = try await KeyringSession(keyring: .unlocked)
        let world = try await AgentWorld(busEnvironment: keyring.environment)
        try await world.addAccount()
        try await world.login()  // works with no notification server
        let cached = try await world.token()
        try await keyring.lockDefaultCollection()
        let locked = try await world.call("GetToken", world.account, "{'force': <true>}")
        #expect(AgentWorld.errorName(locked) == "KeyringLocked", "\(locked.stderr)")
        // The cached answer still comes from memory.
        #expect(try await world.token().value == cached.value)
        world.agent.stop()

        let bare = try await KeyringSession(keyring: .none)
        let noKeyring = try await AgentWorld(busEnvironment: bare.environment)
        try await noKeyring.addAccount()
        let missing = try await noKeyring.call("StartDeviceFlow", noKeyring.account, "{}")
        #expect(AgentWorld.errorName(missing) == "KeyringUnavailable", "\(missing.stderr)")
        #expect(try await noKeyring.check("ListAccounts").contains(noKeyring.account))
    }
}

/// Polls `condition` every 50 ms for up to `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestSupportError.timedOut(what)
}
