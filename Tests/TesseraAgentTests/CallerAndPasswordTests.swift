import DBus
import Foundation
import Synchronization
import TesseraAPI
import TestSupport
import Testing

/// The contract's later members against the real `tesserad`: the password grant, `Version`,
/// per-account state in ListAccounts, verified callers, and notifications to servers that cannot
/// show actions. Part of the serialized end-to-end suite (one tesserad owns the name at a time).
extension AgentEndToEndTests {
    @Test func passwordLoginStoresTheRefreshTokenSignalsAndNeverEchoesThePassword() async throws {
        let world = try await AgentWorld()
        try await world.check("AddAccount", world.account,
                              "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'\(TestProvider.passwordPublic.id)'>}")
        let monitorLog = "\(world.directory)/password-monitor.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='io.tessera.Agent1',type='signal'"],
                                            logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))

        // A wrong password: AccessDenied in words a person understands, the password nowhere.
        let wrongPassword = "wrong-\(UUID().uuidString)"
        let wrong = try await world.call("LoginWithPassword", world.account,
                                         "{'username': <'alice'>, 'password': <'\(wrongPassword)'>}")
        #expect(AgentWorld.errorName(wrong) == "AccessDenied", "\(wrong.stderr)")
        #expect(wrong.stderr.contains("user name or password") && wrong.stderr.contains("--password"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains(wrongPassword))
        #expect(try await world.storedRefreshToken() == nil)

        // Missing fields and unknown keys name the field.
        let missing = try await world.call("LoginWithPassword", world.account, "{'username': <'alice'>}")
        #expect(AgentWorld.errorName(missing) == "InvalidArgument" && missing.stderr.contains("password"))
        let unknown = try await world.call("LoginWithPassword", world.account,
                                           "{'username': <'alice'>, 'password': <'x'>, 'otp': <'1'>}")
        #expect(AgentWorld.errorName(unknown) == "InvalidArgument" && unknown.stderr.contains("otp"))

        try await world.check("LoginWithPassword", world.account,
                              "{'username': <'alice'>, 'password': <'\(TestProvider.users["alice"]!)'>}")
        let refreshToken = try #require(try await world.storedRefreshToken())
        try await eventually("LoginCompleted is signalled") {
            ((try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? "").contains("member=LoginCompleted")
        }
        // The login's access token is cached: no refresh at the provider for the first GetToken.
        let refreshesBefore = try await world.provider.stats().tokenRequests["refresh_token", default: 0]
        let token = try await world.token()
        #expect(try await world.provider.stats().tokenRequests["refresh_token", default: 0] == refreshesBefore)
        let info = try await world.provider.tokenInfo(accessToken: token.value)
        #expect(info.active && info.username == "alice")

        let log = world.agent.log()
        for secret in [wrongPassword, TestProvider.users["alice"]!, token.value, refreshToken] {
            #expect(!log.contains(secret))
        }
        #expect(log.contains("LoginWithPassword from ") && log.contains("gdbus"))
    }

    @Test func versionPropertyAndPerAccountStateWithoutSecrets() async throws {
        let world = try await AgentWorld()
        let version = try await Command.check("busctl", ["--address=\(world.busAddress)", "get-property", "io.tessera.Agent1",
                                                         "/io/tessera/Agent1", "io.tessera.Agent1", "Version"])
        let binaryVersion = try await Command.check(try Binaries.path("tesserad"), ["--version"])
        #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == "s \"\(binaryVersion.dropFirst("tesserad ".count).trimmingCharacters(in: .whitespacesAndNewlines))\"")

        try await world.addAccount()
        let before = try await world.check("ListAccounts")
        #expect(before.contains("'logged-in': <false>") && before.contains("'token-expires-at': <@ax []>"), "\(before)")

        try await world.login()
        let token = try await world.token()
        let scoped = try await world.token("{'scopes': <['openid']>}")
        let after = try await world.check("ListAccounts")
        #expect(after.contains("'logged-in': <true>"), "\(after)")
        let expiries = try #require(AgentWorld.capture(#"'token-expires-at': <\[([^\]]*)\]>"#, in: after))
        let values = expiries.replacingOccurrences(of: "int64 ", with: "").split(separator: ",")
            .compactMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        #expect(Set(values) == Set([token.expiresAt, scoped.expiresAt]) && values.count == 2, "\(after)")
        #expect(!after.contains(token.value) && !after.contains(scoped.value))

        // Revoke drops the cached tokens and the login state follows.
        try await world.check("Revoke", world.account, "{}")
        let revoked = try await world.check("ListAccounts")
        #expect(revoked.contains("'logged-in': <false>") && revoked.contains("'token-expires-at': <@ax []>"), "\(revoked)")
    }

    /// Another Unix user on the service's bus gets NotPermitted; the own user is served. The test
    /// session bus admits only its owner, so this runs a private bus whose policy admits every user.
    @Test func callersOfAnotherUserAreNotPermitted() async throws {
        let other = try OtherUser.available()
        let bus = try MultiUserBus()
        let world = try await AgentWorld(busEnvironment: bus.environment)
        let own = try await world.call("ListAccounts")
        #expect(own.succeeded, "\(own.stderr)")
        let gdbus = try Requirement.executable("gdbus")
        let foreign = try await Command.run(
            "setpriv", ["--reuid=\(other.uid)", "--regid=\(other.gid)", "--clear-groups", gdbus, "call",
                        "--address", bus.address, "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                        "--method", "io.tessera.Agent1.ListAccounts"],
            environment: ["HOME": "/nonexistent"], timeout: .seconds(20))
        #expect(AgentWorld.errorName(foreign) == "NotPermitted", "\(foreign.stdout) \(foreign.stderr)")
        #expect(foreign.stderr.contains("uid \(other.uid)"))
        let token = try await Command.run(
            "setpriv", ["--reuid=\(other.uid)", "--regid=\(other.gid)", "--clear-groups", gdbus, "call",
                        "--address", bus.address, "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                        "--method", "io.tessera.Agent1.GetToken", world.account, "{}"],
            environment: ["HOME": "/nonexistent"], timeout: .seconds(20))
        #expect(AgentWorld.errorName(token) == "NotPermitted", "\(token.stderr)")
        // Every method is refused before its arguments are read (a flow object's Cancel goes through
        // the same check: deniedAndExpiredLoginsEndTheirFlows sees it logged with its caller).
        for method in AgentContract.agentInterface.methods {
            let arguments = method.inputs.map { $0.signature.rawValue == "s" ? "''" : "{}" }
            let refused = try await Command.run(
                "setpriv", ["--reuid=\(other.uid)", "--regid=\(other.gid)", "--clear-groups", gdbus, "call",
                            "--address", bus.address, "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                            "--method", "io.tessera.Agent1.\(method.name.rawValue)"] + arguments,
                environment: ["HOME": "/nonexistent"], timeout: .seconds(20))
            #expect(AgentWorld.errorName(refused) == "NotPermitted", "\(method.name): \(refused.stdout) \(refused.stderr)")
        }
        #expect(world.agent.process.isRunning)
        #expect(world.agent.log().contains("refused a call from"))
        // The own user is still served after the refusals (and the refusals were not cached as "ok").
        #expect(try await world.call("ListAccounts").succeeded)
    }

    /// The hot path pays no extra bus round trip: credentials are asked once per connection, and
    /// asked again for a new connection (the old one's entry went with its NameOwnerChanged).
    @Test func callerCredentialsAreAskedOncePerConnection() async throws {
        let world = try await AgentWorld()
        let monitorLog = "\(world.directory)/credentials-monitor.log"
        let monitor = try BackgroundProcess(
            "dbus-monitor", ["--session", "type='method_call',interface='org.freedesktop.DBus',member='GetConnectionCredentials'"],
            logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(300))
        func lookups(of name: BusName) -> Int {
            let log = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
            return log.components(separatedBy: "string \"\(name.rawValue)\"").count - 1
        }
        for _ in 0..<2 {
            let client = try await Connection.session()
            for _ in 0..<20 {
                _ = try await client.call(destination: AgentContract.busName, path: AgentContract.objectPath,
                                          interface: AgentContract.interfaceName, member: AgentContract.member(.listAccounts))
            }
            try await eventually("the monitor saw the lookup") { lookups(of: client.uniqueName) >= 1 }
            #expect(lookups(of: client.uniqueName) == 1)
            await client.close()
        }
    }

    /// An interactive GetToken's login notification names the verified program first; the
    /// caller's own `application` claim only appears next to it, quoted.
    @Test func interactiveLoginNotificationNamesTheVerifiedProgram() async throws {
        let session = try await KeyringSession(keyring: .unlocked)
        let server = try await RecordingNotificationServer(address: session.busAddress, capabilities: ["body"])
        let world = try await AgentWorld(busEnvironment: session.environment)
        try await world.addAccount()
        async let answer = world.call("GetToken", world.account,
                                      "{'interactive': <true>, 'timeout': <uint32 30>, 'application': <'Totally Trusted App'>}")
        try await eventually("the login notification") { !server.notifications.isEmpty }
        let body = try #require(server.notifications.first?.body)
        let requester = try #require(body.split(separator: "\n").last.map(String.init))
        #expect(requester.hasPrefix("Requested by /") && requester.contains("gdbus (pid "), "\(body)")
        #expect(requester.hasSuffix("(calls itself “Totally Trusted App”)"), "\(body)")
        let code = try #require(AgentWorld.capture(#"Enter the code (\S+) at"#, in: body))
        try await world.provider.approve(userCode: code)
        let result = try await answer
        #expect(result.succeeded, "\(result.stderr)")
    }

    @Test(arguments: [false, true])
    func notificationsSendActionsOnlyToServersThatShowThem(serverHasActions: Bool) async throws {
        let session = try await KeyringSession(keyring: .unlocked)
        let server = try await RecordingNotificationServer(
            address: session.busAddress, capabilities: serverHasActions ? ["actions", "body"] : ["body"])
        let world = try await AgentWorld(busEnvironment: session.environment)
        try await world.addAccount()
        let flow = try await world.startFlow()
        try await eventually("the notification server receives the login") { !server.notifications.isEmpty }
        let shown = try #require(server.notifications.first)
        #expect(shown.summary == "Log in to \(world.account)")
        #expect(shown.body.contains(flow.userCode))
        // The requester as the bus vouches for it: the gdbus process, by its executable path.
        #expect(shown.body.contains("Requested by /") && shown.body.contains("gdbus"), "\(shown.body)")
        #expect(!shown.body.contains("<b>"), "no markup for a server without body-markup")
        if serverHasActions {
            #expect(shown.actions.first == "default")
        } else {
            #expect(shown.actions.isEmpty)
        }
        #expect(shown.hasImage)
        try await world.provider.approve(userCode: flow.userCode)
        try await world.waitForState(flow, "completed")
        try await eventually("the notification is replaced by a success notice") {
            server.notifications.contains { $0.summary == "Logged in to \(world.account)" && $0.replacesID != 0 }
        }
        // Only the login notification has actions, and only for a server that shows them.
        for notification in server.notifications {
            let wanted = notification.summary == "Log in to \(world.account)" && serverHasActions ? ["default", "Open in browser"] : []
            #expect(notification.actions == wanted, "\(notification.summary): \(notification.actions)")
        }
    }
}

/// A user other than the one running the tests (`nobody`), for policy tests; needs root to switch.
struct OtherUser {
    let uid: UInt32
    let gid: UInt32

    static func available() throws -> OtherUser {
        guard getuid() == 0 else {
            throw TestSupportError.missing("switching to another user needs root (run the suite as root, as CI does)")
        }
        _ = try Requirement.executable("setpriv")
        guard let entry = getpwnam("nobody") else { throw TestSupportError.missing("no user \"nobody\"") }
        return OtherUser(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }
}

/// A fake `org.freedesktop.Notifications` in the test process that records what it is sent.
/// Used where the question is what the agent sends to a server with given capabilities — dunst
/// always announces actions.
final class RecordingNotificationServer: Sendable {
    struct Notification: Sendable {
        var replacesID: UInt32
        var summary: String
        var body: String
        var actions: [String]
        var hasImage: Bool
    }

    /// Shared with the Notify handler, which runs on the connection's loop.
    private final class Log: Sendable {
        let list = Mutex<[Notification]>([])
    }

    let connection: Connection
    private let received = Log()

    var notifications: [Notification] { received.list.withLock { $0 } }

    init(address: String, capabilities: [String]) async throws {
        connection = try await Connection(address: address)
        var interface = ExportedInterface("org.freedesktop.Notifications")
        interface.method("GetCapabilities", outputs: [Argument("capabilities", "as")]) { _ in
            [.array(of: "s", capabilities.map { .string($0) })]
        }
        interface.method("GetServerInformation", outputs: [Argument("name", "s"), Argument("vendor", "s"),
                                                           Argument("version", "s"), Argument("spec_version", "s")]) { _ in
            [.string("recorder"), .string("tessera tests"), .string("1"), .string("1.2")]
        }
        let received = self.received
        interface.method("Notify", inputs: [Argument("app_name", "s"), Argument("replaces_id", "u"), Argument("app_icon", "s"),
                                            Argument("summary", "s"), Argument("body", "s"), Argument("actions", "as"),
                                            Argument("hints", "a{sv}"), Argument("expire_timeout", "i")],
                         outputs: [Argument("id", "u")]) { call in
            let (_, replaces, _, summary, body, actions, hints, _) = try call.arguments.decode(
                String.self, UInt32.self, String.self, String.self, String.self, [String].self, [String: Variant].self, Int32.self)
            let id = received.list.withLock { list -> UInt32 in
                list.append(Notification(replacesID: replaces, summary: summary, body: body, actions: actions,
                                         hasImage: hints["image-data"] != nil))
                return replaces != 0 ? replaces : UInt32(list.count)
            }
            return [.uint32(id)]
        }
        interface.method("CloseNotification", inputs: [Argument("id", "u")]) { _ in [] }
        try await connection.export(interface, at: "/org/freedesktop/Notifications")
        try await connection.requestName("org.freedesktop.Notifications")
    }

    deinit {
        let connection = self.connection
        Task { await connection.close() }
    }
}
