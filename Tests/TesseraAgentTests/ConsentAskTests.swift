import Foundation
import TestSupport
import TesseraAPI
import Testing

/// Issue 17's acceptance: accounts on `ask` and `deny` against real callers — gdbus, a Python
/// GDBus client and a shell script (busctl), each a copy at its own temp path so their `exe:` keys
/// differ, and Debian's oidc-token on the compatibility socket — with the question answered
/// through dunst's own action menu (`dunstctl action`), on a desktop of the test's own.
@Suite(.serialized, .exclusiveSession) struct ConsentAskTests {
    final class Setup {
        let desktop: ConsentDesktop
        let world: AgentWorld
        let monitorLog: String
        let monitor: BackgroundProcess
        let bin: String

        init(notifications: Bool = true, agentArguments: [String] = []) async throws {
            desktop = try await ConsentDesktop(notifications: notifications)
            world = try await AgentWorld(busEnvironment: desktop.environment, agentArguments: agentArguments)
            try await world.addAccount()
            try await world.login()
            bin = "\(world.directory)/callers"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            monitorLog = "\(world.directory)/notifications.log"
            monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='org.freedesktop.Notifications'"],
                                            environment: desktop.environment, logPath: monitorLog)
            try await Task.sleep(for: .milliseconds(300))
            if notifications { try await desktop.dunstctl(["close-all"]) }
            try await world.check("SetPolicy", world.account, "ask")
        }

        deinit { monitor.stop() }

        /// A copy of `program` at a path of its own: a distinct executable for the kernel.
        func copy(_ program: String, as name: String) throws -> String {
            let directory = "\(bin)/\(name)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = "\(directory)/\(name)"
            try FileManager.default.copyItem(atPath: program, toPath: path)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            return path
        }

        var notifications: String { (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? "" }

        func questionCount() -> Int { notifications.components(separatedBy: "Allow a token for \(world.account)?").count - 1 }

        /// Waits until `count` questions were sent, and returns the text sent so far.
        func waitForQuestions(_ count: Int) async throws -> String {
            try await eventually("\(count) question(s) for \(world.account) were sent") { questionCount() >= count }
            // dunst shows it a moment after answering Notify.
            try await eventually("dunst shows the question") { (try? await desktop.displayedCount()) ?? 0 >= 1 }
            return notifications
        }

        func gdbusToken(_ gdbus: String, options: String = "{}") async throws -> CommandResult {
            try await ConsentAskTests.gdbusToken(gdbus, account: world.account, environment: world.environment, options: options)
        }
    }

    static func gdbusToken(_ gdbus: String, account: String, environment: [String: String],
                           options: String = "{}") async throws -> CommandResult {
        try await Command.run(gdbus, ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                                      "--method", "io.tessera.Agent1.GetToken", account, options],
                              environment: environment, timeout: .seconds(60))
    }

    static var clientScript: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ConsentClient/client.py").path
    }

    @Test func askAllowsOnceDeniesAndAlwaysAllowsRealCallersAndAlwaysSurvivesARestart() async throws {
        let setup = try await Setup()
        let world = setup.world
        let gdbus = try setup.copy("/usr/bin/gdbus", as: "gdbus-consent")

        // gdbus with a spoofed `application`: the question names the real executable and marks the hint.
        let (account, environment) = (world.account, world.environment)
        async let first = Self.gdbusToken(gdbus, account: account, environment: environment, options: "{'application': <'Firefox'>}")
        let sent = try await setup.waitForQuestions(1)
        #expect(sent.contains("gdbus-consent (\(gdbus), pid "), "\(sent)")
        #expect(sent.contains("wants a token for \(world.account) [scopes openid offline_access]"), "\(sent)")
        #expect(sent.contains("It calls itself “Firefox” (its own claim, not verified)"), "\(sent)")
        #expect(sent.contains("\"Allow once\"") && sent.contains("\"Always allow\"") && sent.contains("\"Deny\""), "\(sent)")
        try await setup.desktop.choose("Allow once")
        let allowed = try await first
        #expect(allowed.succeeded, "\(allowed.stderr)\n\(world.agent.log())")
        #expect(try await world.provider.tokenInfo(accessToken: try #require(AgentWorld.capture(#"^\('([^']*)'"#, in: allowed.stdout))).active)

        // "Once" is once: the next call asks again; "Deny" refuses with NotPermitted.
        async let second = Self.gdbusToken(gdbus, account: account, environment: environment)
        _ = try await setup.waitForQuestions(2)
        try await setup.desktop.choose("Deny")
        let denied = try await second
        #expect(AgentWorld.errorName(denied) == "NotPermitted", "\(denied.stderr)")
        #expect(denied.stderr.contains("the user denied gdbus-consent (\(gdbus)"), "\(denied.stderr)")
        #expect(try await world.check("GetPolicy", world.account) == "('ask', @a(ss) [])\n")

        // A Python GDBus client under its own interpreter copy: "Always allow" is stored as its rule.
        let python = try setup.copy("/usr/bin/python3.11", as: "python-consent")
        async let third = Command.run(python, [Self.clientScript, account], environment: environment, timeout: .seconds(60))
        let pythonQuestion = try await setup.waitForQuestions(3)
        #expect(pythonQuestion.contains("python-consent (\(python), pid "), "\(pythonQuestion)")
        try await setup.desktop.choose("Always allow")
        let always = try await third
        #expect(always.succeeded && always.stdout.hasPrefix("token "), "\(always.stdout)\(always.stderr)\n\(world.agent.log())")
        #expect(try await world.check("GetPolicy", world.account) == "('ask', [('exe:\(python)', 'allow')])\n")
        let again = try await Command.run(python, [Self.clientScript, world.account], environment: world.environment, timeout: .seconds(30))
        #expect(again.succeeded, "\(again.stdout)")
        #expect(setup.questionCount() == 3)

        // After a restart the rule still holds: no question.
        try await world.restartAgent()
        let afterRestart = try await Command.run(python, [Self.clientScript, world.account], environment: world.environment,
                                                 timeout: .seconds(30))
        #expect(afterRestart.succeeded, "\(afterRestart.stdout)\n\(world.agent.log())")
        #expect(setup.questionCount() == 3)

        // A shell script: the program the kernel sees is the tool it runs (its own busctl copy).
        let busctl = try setup.copy("/usr/bin/busctl", as: "busctl-consent")
        let script = "\(setup.bin)/fetch-token.sh"
        try """
            #!/bin/sh
            # A user's script: asks tesserad for a token of $1 with busctl.
            exec "\(busctl)" --address="$DBUS_SESSION_BUS_ADDRESS" call io.tessera.Agent1 /io/tessera/Agent1 \\
                io.tessera.Agent1 GetToken 'sa{sv}' "$1" 1 application s backup-script
            """.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        async let fourth = Command.run(script, [account], environment: environment, timeout: .seconds(60))
        let scriptQuestion = try await setup.waitForQuestions(4)
        #expect(scriptQuestion.contains("busctl-consent (\(busctl), pid "), "\(scriptQuestion)")
        #expect(scriptQuestion.contains("It calls itself “backup-script”"), "\(scriptQuestion)")
        try await setup.desktop.choose("Deny")
        let scriptDenied = try await fourth
        #expect(!scriptDenied.succeeded && scriptDenied.stderr.contains("the user denied busctl-consent"), "\(scriptDenied.stderr)")

        // `tessera` itself (beside tesserad) is never asked.
        let cli = try await Command.run(try Binaries.path("tessera"), ["token", world.account], environment: world.environment,
                                        timeout: .seconds(30))
        #expect(cli.succeeded, "\(cli.stderr)")
        #expect(setup.questionCount() == 4)
        // No token reached a notification.
        #expect(!setup.notifications.contains(cli.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test func denyRefusesWithoutAskingAndADismissedQuestionDenies() async throws {
        let setup = try await Setup()
        let world = setup.world
        let gdbus = try setup.copy("/usr/bin/gdbus", as: "gdbus-denied")

        try await world.check("SetPolicy", world.account, "deny")
        let refused = try await setup.gdbusToken(gdbus)
        #expect(AgentWorld.errorName(refused) == "NotPermitted")
        #expect(refused.stderr.contains("gdbus-denied (\(gdbus), pid "), "\(refused.stderr)")
        #expect(refused.stderr.contains("To allow it: tessera policy allow \(world.account) exe:\(gdbus)"), "\(refused.stderr)")
        // GetIdToken is refused too, and nothing was asked.
        let idToken = try await Command.run(gdbus, ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path",
                                                    "/io/tessera/Agent1", "--method", "io.tessera.Agent1.GetIdToken",
                                                    world.account, "{}"], environment: world.environment)
        #expect(AgentWorld.errorName(idToken) == "NotPermitted", "\(idToken.stderr)")
        try await Task.sleep(for: .milliseconds(300))
        #expect(setup.questionCount() == 0)
        // A rule for the program wins over the default.
        try await world.check("SetApplicationPolicy", world.account, "exe:\(gdbus)", "allow")
        #expect(try await setup.gdbusToken(gdbus).succeeded)

        // ask, and the user closes the question: a denial.
        try await world.check("ForgetApplication", world.account, "exe:\(gdbus)")
        try await world.check("SetPolicy", world.account, "ask")
        let (account, environment) = (world.account, world.environment)
        async let call = Self.gdbusToken(gdbus, account: account, environment: environment)
        _ = try await setup.waitForQuestions(1)
        try await setup.desktop.dunstctl(["close-all"])
        let dismissed = try await call
        #expect(AgentWorld.errorName(dismissed) == "NotPermitted", "\(dismissed.stderr)")
        #expect(dismissed.stderr.contains("was dismissed"), "\(dismissed.stderr)")

        // Nobody answers within the call's timeout: Timeout, and the question goes away.
        let late = try await setup.gdbusToken(gdbus, options: "{'timeout': <uint32 2>}")
        #expect(AgentWorld.errorName(late) == "Timeout", "\(late.stderr)")
        try await eventually("the unanswered question is closed") { (try? await setup.desktop.displayedCount()) == 0 }
    }

    @Test func concurrentCallsOfOneCallerShareOneQuestion() async throws {
        let setup = try await Setup()
        let world = setup.world
        let python = try setup.copy("/usr/bin/python3.11", as: "python-concurrent")
        let (account, environment) = (world.account, world.environment)
        async let calls = Command.run(python, [Self.clientScript, account, "4", "notebook"], environment: environment,
                                      timeout: .seconds(60))
        _ = try await setup.waitForQuestions(1)
        try await Task.sleep(for: .milliseconds(500))
        #expect(setup.questionCount() == 1)
        try await setup.desktop.choose("Allow once")
        let result = try await calls
        let lines = result.stdout.split(separator: "\n")
        #expect(result.succeeded && lines.count == 4 && lines.allSatisfy { $0.hasPrefix("token ") },
                "\(result.stdout)\(result.stderr)\n\(world.agent.log())")
        #expect(setup.questionCount() == 1)
    }

    @Test func withoutANotificationServerAskDeniesAndSaysHowToAllow() async throws {
        let setup = try await Setup(notifications: false)
        let world = setup.world
        let gdbus = try setup.copy("/usr/bin/gdbus", as: "gdbus-headless")
        let refused = try await setup.gdbusToken(gdbus)
        #expect(AgentWorld.errorName(refused) == "NotPermitted", "\(refused.stderr)")
        #expect(refused.stderr.contains("no notification server that shows actions"), "\(refused.stderr)")
        #expect(refused.stderr.contains("tessera policy allow \(world.account) exe:\(gdbus)"), "\(refused.stderr)")
        let cli = try await Command.run(try Binaries.path("tessera"), ["policy", "allow", world.account, gdbus],
                                        environment: world.environment)
        #expect(cli.succeeded, "\(cli.stderr)")
        #expect(try await setup.gdbusToken(gdbus).succeeded)
    }

    @Test func oidcTokenOnTheCompatibilitySocketIsAskedToo() async throws {
        let socket = "/tmp/tsc-\(UUID().uuidString.prefix(8).lowercased())/oidc-agent.sock"
        let setup = try await Setup(agentArguments: ["--oidc-agent-socket", socket])
        let world = setup.world
        let environment = world.environment.merging(["OIDC_SOCK": socket]) { $1 }
        let account = world.account
        async let first = Command.run("/usr/bin/oidc-token", ["--name=analysis.py", account], environment: environment,
                                      timeout: .seconds(60))
        let sent = try await setup.waitForQuestions(1)
        #expect(sent.contains("oidc-token (/usr/bin/oidc-token, pid "), "\(sent)")
        #expect(sent.contains("It calls itself “analysis.py”"), "\(sent)")
        try await setup.desktop.choose("Allow once")
        let allowed = try await first
        #expect(allowed.succeeded, "\(allowed.stderr)\n\(world.agent.log())")
        #expect(try await world.provider.tokenInfo(accessToken: allowed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).active)

        async let second = Command.run("/usr/bin/oidc-token", [account], environment: environment, timeout: .seconds(60))
        _ = try await setup.waitForQuestions(2)
        try await setup.desktop.choose("Deny")
        let denied = try await second
        #expect(!denied.succeeded && denied.stderr.contains("the user denied oidc-token"), "\(denied.stderr)")

        // deny: oidc-token's access_token and a socket client's id_token are refused without a question.
        try await world.check("SetPolicy", world.account, "deny")
        let refused = try await Command.run("/usr/bin/oidc-token", [world.account], environment: environment, timeout: .seconds(30))
        #expect(!refused.succeeded && refused.stderr.contains("policy denies it"), "\(refused.stdout) \(refused.stderr)")
        let idToken = try await Command.run(OIDCAgentSocketTests.python, ["\(OIDCAgentSocketTests.clientDirectory)/client.py", socket,
                                                                         #"{"request":"id_token","account":"\#(world.account)"}"#],
                                            environment: environment, timeout: .seconds(30))
        #expect(!idToken.stdout.contains("\"id_token\"") && idToken.stdout.contains("policy denies it"), "\(idToken.stdout) \(idToken.stderr)")
        #expect(setup.questionCount() == 2)
    }

    /// A program calling over tesserad's peer-to-peer socket (here gdbus with `--address`) is
    /// the same caller to the consent rules as on the bus: named from the kernel's credentials,
    /// refused under `deny`, asked under `ask`, answered under a rule that allows it.
    @Test func peerToPeerCallersMeetTheSameConsent() async throws {
        let setup = try await Setup()
        let world = setup.world
        let gdbus = try setup.copy("/usr/bin/gdbus", as: "gdbus-peer")
        let link = try #require(PeerSocket.linkPath(runtimeDirectory: world.environment["XDG_RUNTIME_DIR"],
                                                    busAddress: world.environment["DBUS_SESSION_BUS_ADDRESS"]))
        let (account, environment) = (world.account, world.environment)
        func peerToken() async throws -> CommandResult {
            try await Self.peerToken(gdbus, link: link, account: account, environment: environment)
        }
        try await world.check("SetPolicy", world.account, "allow")
        let first = try await peerToken()
        #expect(first.succeeded, "\(first.stderr)")

        try await world.check("SetPolicy", world.account, "deny")
        let refused = try await peerToken()
        #expect(AgentWorld.errorName(refused) == "NotPermitted", "\(refused.stderr)")
        #expect(refused.stderr.contains("gdbus-peer (\(gdbus), pid "), "\(refused.stderr)")

        try await world.check("SetPolicy", world.account, "ask")
        async let asked = Self.peerToken(gdbus, link: link, account: account, environment: environment)
        let questions = try await setup.waitForQuestions(1)
        #expect(questions.contains(gdbus), "\(questions)")
        try await setup.desktop.dunstctl(["close-all"])
        #expect(AgentWorld.errorName(try await asked) == "NotPermitted")

        try await world.check("SetApplicationPolicy", world.account, "exe:\(gdbus)", "allow")
        #expect(try await peerToken().succeeded)
    }

    static func peerToken(_ gdbus: String, link: String, account: String, environment: [String: String]) async throws -> CommandResult {
        try await Command.run(gdbus, ["call", "--address", "unix:path=\(link)", "--dest", "io.tessera.Agent1",
                                      "--object-path", "/io/tessera/Agent1", "--method", "io.tessera.Agent1.GetToken",
                                      account, "{}"], environment: environment, timeout: .seconds(60))
    }

    @Test func theTrayMenuListsAWaitingQuestionAndAnswersIt() async throws {
        let setup = try await Setup()
        let world = setup.world
        let gdbus = try setup.copy("/usr/bin/gdbus", as: "gdbus-tray")
        func menu(_ method: String, _ arguments: String...) async throws -> String {
            try await Command.check("gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/MenuBar",
                                              "--method", "com.canonical.dbusmenu.\(method)", "--"] + arguments,
                                    environment: world.environment, timeout: .seconds(10))
        }
        let (account, environment) = (world.account, world.environment)
        async let call = Self.gdbusToken(gdbus, account: account, environment: environment)
        _ = try await setup.waitForQuestions(1)
        var layout = ""
        defer { if !layout.contains("Allow once") { Issue.record("layout: \(layout)") } }
        try await eventually("the tray menu lists the question") {
            do { layout = try await menu("GetLayout", "0", "-1", "@as []") } catch { layout = "\(error)" }
            return layout.contains("Allow once: gdbus-tray (\(gdbus), pid ")
        }
        #expect(layout.contains("Deny: gdbus-tray (\(gdbus), pid "), "\(layout)")
        let allow = try #require(AgentWorld.capture(#"\((\d+), \{[^}]*'label': <'Allow once: gdbus-tray"#, in: layout), "\(layout)")
        _ = try await menu("Event", allow, "clicked", "<0>", "0")
        let allowed = try await call
        #expect(allowed.succeeded, "\(allowed.stderr)\n\(world.agent.log())")
        try await eventually("the answered question leaves the menu and its notification closes") {
            let now = (try? await menu("GetLayout", "0", "-1", "@as []")) ?? "Allow once:"
            let shown = (try? await setup.desktop.displayedCount()) ?? -1
            return !now.contains("Allow once:") && shown == 0
        }
    }
}
