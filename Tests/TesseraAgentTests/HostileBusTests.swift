import DBus
import Foundation
import TesseraAPI
import TestSupport
import Testing

/// tesserad against hostile peers on its bus: descriptors it never asked for, callers of another
/// user, forged signals, a second claimant of its name.
@Suite(.serialized) struct HostileBusTests {
    static func openDescriptors(of pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// 200 fd-carrying calls (argument, variant, Properties.Set, a signal sent to it): every call is
    /// refused with InvalidArgs, tesserad's descriptor count does not grow, and with its limit
    /// lowered to 64 it goes on serving.
    @Test func descriptorsSentToTheServiceAreClosed() async throws {
        let world = try await AgentWorld()
        let pid = world.agent.process.pid
        let client = try await Connection.session()
        let file = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(file >= 0)
        defer { close(file) }
        _ = try await world.check("ListAccounts")
        let before = Self.openDescriptors(of: pid)
        func attempts() -> [(ObjectPath, InterfaceName, MemberName, [DBusValue])] {
            [
                (AgentContract.objectPath, AgentContract.interfaceName, AgentContract.member(.getToken),
                 [.string(world.account), .dictionary(["scopes": .unixFD(file)])]),
                (AgentContract.objectPath, AgentContract.interfaceName, AgentContract.member(.listAccounts), [.unixFD(file)]),
                (AgentContract.objectPath, .properties, "Set",
                 [.string(AgentContract.interfaceName.rawValue), .string("Version"), .variant(.unixFD(file))]),
                (AgentContract.objectPath, .properties, "Get", [.string(AgentContract.interfaceName.rawValue), .unixFD(file)]),
            ]
        }
        var refused = 0
        for round in 0..<50 {
            for (path, interface, member, arguments) in attempts() {
                do {
                    _ = try await client.call(destination: AgentContract.busName, path: path, interface: interface,
                                              member: member, arguments: arguments, timeout: .seconds(10))
                    Issue.record("\(interface).\(member) with a descriptor was answered")
                } catch {
                    #expect(error.isRemote(.invalidArgs), "\(member): \(error)")
                    refused += 1
                }
            }
            let owner = try #require(try await client.nameOwner(of: AgentContract.busName))
            try await client.emit(path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications",
                                  member: "ActionInvoked", arguments: [.uint32(UInt32(round)), .unixFD(file)],
                                  destination: owner)
        }
        _ = try await world.check("ListAccounts")  // every signal before it has been read
        let after = Self.openDescriptors(of: pid)
        print("tesserad open descriptors: \(before) before, \(after) after 200 fd-carrying calls and 50 signals")
        #expect(refused == 200)
        #expect(after - before < 3, "tesserad's open descriptors went from \(before) to \(after)")

        // With 64 descriptors at most, 200 more such calls (the old leak's 200 descriptors) are
        // refused and tesserad keeps serving.
        let limit = try await Command.run("prlimit", ["--pid", "\(pid)", "--nofile=64:64"])
        try #require(limit.succeeded, "\(limit.stderr)")
        for _ in 0..<50 {
            for (path, interface, member, arguments) in attempts() {
                _ = try? await client.call(destination: AgentContract.busName, path: path, interface: interface,
                                           member: member, arguments: arguments, timeout: .seconds(10))
            }
        }
        #expect(world.agent.process.isRunning)
        #expect(try await world.call("ListAccounts").succeeded, "\(world.agent.log().suffix(2000))")
        #expect(Self.openDescriptors(of: pid) - before < 3)
        await client.close()
    }

    /// Another uid on a bus that admits it gets no answer from any object: not the tray (Activate,
    /// the menu's Quit), not Properties of the agent or a flow, not a flow's Cancel, not
    /// introspection. tesserad keeps running and the flow stays pending.
    @Test func anotherUserIsRefusedOnEveryObject() async throws {
        let other = try OtherUser.available()
        let gdbus = try Requirement.executable("gdbus")
        let bus = try await MultiUserBus(keyring: true)
        let world = try await AgentWorld(busEnvironment: bus.environment)
        try await world.addAccount()
        let flow = try await world.startFlow()
        let calls: [(String, String, [String])] = [
            ("/StatusNotifierItem", "org.kde.StatusNotifierItem.Activate", ["0", "0"]),
            ("/StatusNotifierItem", "org.freedesktop.DBus.Properties.GetAll", ["org.kde.StatusNotifierItem"]),
            ("/MenuBar", "com.canonical.dbusmenu.Event", ["1", "'clicked'", "<0>", "0"]),
            ("/MenuBar", "com.canonical.dbusmenu.GetLayout", ["0", "int32 -1", "@as []"]),
            ("/io/tessera/Agent1", "org.freedesktop.DBus.Properties.GetAll", ["io.tessera.Agent1"]),
            ("/io/tessera/Agent1", "org.freedesktop.DBus.Properties.Get", ["io.tessera.Agent1", "Version"]),
            (flow.path, "org.freedesktop.DBus.Properties.GetAll", ["io.tessera.DeviceFlow1"]),
            (flow.path, "io.tessera.DeviceFlow1.Cancel", []),
            ("/", "org.freedesktop.DBus.Introspectable.Introspect", []),
            ("/io/tessera/Daemon", "io.tessera.Daemon1.Handover", []),
        ]
        for (path, method, arguments) in calls {
            let result = try await Command.run(
                "setpriv", ["--reuid=\(other.uid)", "--regid=\(other.gid)", "--clear-groups", gdbus, "call",
                            "--address", bus.address, "--dest", "io.tessera.Agent1", "--object-path", path,
                            "--method", method] + arguments,
                environment: ["HOME": "/nonexistent"], timeout: .seconds(20))
            let refused = result.stderr.contains("org.freedesktop.DBus.Error.AccessDenied")
                || AgentWorld.errorName(result) == "NotPermitted"
            #expect(!result.succeeded && refused, "\(path) \(method): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("uid \(other.uid)"), "\(method): \(result.stderr)")
        }
        #expect(world.agent.process.isRunning)
        #expect(try await world.flowState(flow) == "pending")
        #expect(world.agent.log().contains("refused a call from"))
        #expect(try await world.call("ListAccounts").succeeded)
    }

    /// A forged ActionInvoked (from a connection that does not own org.freedesktop.Notifications,
    /// addressed to tesserad or broadcast) does not open the login page; the server's own does.
    @Test func forgedNotificationActionsOpenNothing() async throws {
        let session = try await KeyringSession(keyring: .unlocked)
        let server = try await RecordingNotificationServer(address: session.busAddress, capabilities: ["actions", "body"])
        let world = try await AgentWorld(busEnvironment: session.environment)
        try await world.addAccount()
        let flow = try await world.startFlow()
        try await eventually("the login notification") { !server.notifications.isEmpty }
        let id = UInt32(server.notifications.count)
        let forger = try await Connection(address: session.busAddress)
        let agent = try #require(try await forger.nameOwner(of: AgentContract.busName))
        for destination in [agent, nil] {
            try await forger.emit(path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications",
                                  member: "ActionInvoked", arguments: [.uint32(id), .string("default")],
                                  destination: destination)
        }
        func opened() -> String { (try? String(contentsOfFile: world.openedFile, encoding: .utf8)) ?? "" }
        _ = try await world.check("ListAccounts")  // the forged signals were read before this answer
        try await Task.sleep(for: .milliseconds(500))
        #expect(opened().isEmpty, "a forged ActionInvoked ran xdg-open: \(opened())")
        // The real server's click still works (so the check above could have failed).
        try await server.connection.emit(path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications",
                                         member: "ActionInvoked", arguments: [.uint32(id), .string("default")])
        let expected = try #require(flow.completeURI)
        try await eventually("the server's own click opens the page") { opened().contains(expected) }
        await forger.close()
    }

    /// Nobody takes io.tessera.Agent1 with REPLACE_EXISTING alone; `tesserad --replace` still does
    /// (through the handover), and a clean stop does not claim that another tesserad took over.
    @Test func theNameIsOnlyHandedOverToTesseradReplace() async throws {
        let world = try await AgentWorld()
        let impostor = try await Connection.session()
        await #expect(throws: DBusError.nameTaken(AgentContract.busName)) {
            try await impostor.requestName(AgentContract.busName, options: .replaceExisting)
        }
        #expect(world.agent.process.isRunning)
        #expect(try await world.call("ListAccounts").succeeded)
        await impostor.close()

        let replacement = try await AgentProcess(environment: world.environment, logPath: "\(world.directory)/replacement.log",
                                                 arguments: ["--replace"])
        try await eventually("the replaced tesserad exits") { !world.agent.process.isRunning }
        #expect(world.agent.log().contains("took over"))
        kill(replacement.process.pid, SIGTERM)
        try await eventually("SIGTERM stops tesserad") { !replacement.process.isRunning }
        #expect(replacement.log().contains("stopping"))
        #expect(!replacement.log().contains("took over"), "\(replacement.log())")
    }

    /// `tessera` sends a password or a client secret only to an owner of io.tessera.Agent1 that runs
    /// as the user: here another user's process owns the name on a bus that lets it.
    @Test func secretsAreNotSentToAnotherUsersOwnerOfTheName() async throws {
        let other = try OtherUser.available()
        let bus = try MultiUserBus()
        let directory = try makeTemporaryDirectory("impostor")
        // On the command line: the other user cannot read files in the test's private directories.
        let impostor = try BackgroundProcess(
            "setpriv", ["--reuid=\(other.uid)", "--regid=\(other.gid)", "--clear-groups", "/usr/bin/python3", "-c",
                        Self.impostor, bus.address],
            environment: ["HOME": "/nonexistent"], logPath: "\(directory)/impostor.log")
        defer { impostor.stop() }
        try await eventually("the impostor owns the name") { impostor.log().contains("owned 1") }
        let tessera = URL(fileURLWithPath: try AgentProcess.binary()).deletingLastPathComponent()
            .appendingPathComponent("tessera").path
        let password = "pa55-\(UInt32.random(in: 0...UInt32.max))"
        let login = try await Command.run(tessera, ["login", "acct", "--password", "--username", "alice"],
                                          stdin: "\(password)\n", environment: bus.environment, timeout: .seconds(30))
        let clientSecret = "cs-\(UInt32.random(in: 0...UInt32.max))"
        let add = try await Command.run(tessera, ["account", "add", "acct", "--issuer", "https://issuer.example",
                                                  "--client-id", "c", "--client-secret-stdin"],
                                        stdin: "\(clientSecret)\n", environment: bus.environment, timeout: .seconds(30))
        for run in [login, add] {
            #expect(!run.succeeded)
            #expect(run.stderr.contains("runs as uid \(other.uid)"), "\(run.stderr)")
        }
        let received = impostor.log()
        #expect(!received.contains(password) && !received.contains(clientSecret), "\(received)")
        #expect(!received.contains("LoginWithPassword") && !received.contains("AddAccount"), "\(received)")
    }

    /// Owns io.tessera.Agent1 on the bus given as argv[1], prints each method call it gets and
    /// answers it with an error (so a client that does send does not wait for a timeout).
    static let impostor = """
        import sys
        from gi.repository import Gio, GLib
        flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
        bus = Gio.DBusConnection.new_for_address_sync(sys.argv[1], flags, None, None)
        def received(connection, message, incoming):
            if incoming and message.get_message_type() == Gio.DBusMessageType.METHOD_CALL:
                print("call", message.get_member(), message.get_body(), flush=True)
                reply = Gio.DBusMessage.new_method_error_literal(message, "org.freedesktop.DBus.Error.Failed", "impostor")
                connection.send_message(reply, Gio.DBusSendMessageFlags.NONE)
                return None
            return message
        bus.add_filter(received)
        answer = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName",
                               GLib.Variant("(su)", ("io.tessera.Agent1", 4)), None, Gio.DBusCallFlags.NONE, -1, None)
        print("owned", answer.unpack()[0], flush=True)
        GLib.MainLoop().run()
        """
}
