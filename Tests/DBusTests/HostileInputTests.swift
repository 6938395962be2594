import CDBus
import Foundation
import Testing
import TestSupport
@testable import DBus

/// The open descriptors of this process.
func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// What a hostile peer can put on the wire, and what must not follow from it.
@Suite(.serialized) struct HostileInputTests {
    /// A Unix fd inside an argument, a variant, a Properties.Set value or a signal is closed, and a
    /// method call carrying one is refused with InvalidArgs before any handler runs.
    @Test func descriptorsCarriedByIncomingMessagesAreClosed() async throws {
        let (service, name) = try await makeService("Descriptors")
        let client = try await Connection.session()
        let received = try await service.signals(matching: MatchRule(interface: testInterfaceName, member: "Changed"))
        let file = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(file >= 0)
        defer { close(file) }
        // Warm both connections up (threads, first allocations) before counting.
        _ = try await client.call(destination: name, path: testPath, interface: testInterfaceName, member: "Echo",
                                  arguments: [.string("warm")])
        let before = openDescriptorCount()
        var refused = 0
        for _ in 0..<50 {
            let attempts: [(MemberName, InterfaceName, [DBusValue])] = [
                ("EchoVariant", testInterfaceName, [.variant(.unixFD(file))]),
                ("Echo", testInterfaceName, [.unixFD(file)]),
                ("Set", .properties, [.string(testInterfaceName.rawValue), .string("Mode"), .variant(.unixFD(file))]),
                ("GetAll", .properties, [.string(testInterfaceName.rawValue), .unixFD(file)]),
            ]
            for (member, interface, arguments) in attempts {
                do {
                    _ = try await client.call(destination: name, path: testPath, interface: interface, member: member,
                                              arguments: arguments)
                    Issue.record("\(interface).\(member) with a descriptor was answered")
                } catch {
                    #expect(error.isRemote(.invalidArgs), "\(member): \(error)")
                    #expect(error.description.contains("file descriptor"), "\(member): \(error)")
                    refused += 1
                }
            }
            try await client.emit(path: testPath, interface: testInterfaceName, member: "Changed",
                                  arguments: [.unixFD(file)], destination: service.uniqueName)
        }
        try await client.emit(path: testPath, interface: testInterfaceName, member: "Changed",
                              arguments: [.string("last")], destination: service.uniqueName)
        // Signals arrive in order: the first one through must be the plain one sent last.
        let first = await received.first { _ in true }
        #expect(first?.arguments == [.string("last")])
        let after = openDescriptorCount()
        #expect(refused == 200)
        // Each leak would be one descriptor per message (250 here); a few allow for runtime threads.
        #expect(after - before < 5, "open descriptors went from \(before) to \(after)")
        // The service still works and its property was not touched.
        #expect(try await client.call(destination: name, path: testPath, interface: .properties, member: "Get",
                                      arguments: [.string(testInterfaceName.rawValue), .string("Mode")])
                == [.variant(.string("normal"))])
        await client.close()
        await service.close()
    }
}

/// The object server's caller check and the owner check of signal senders.
@Suite(.serialized) struct CallerAndSenderTests {
    /// `nobody`, when this process may switch to it.
    static func otherUser() throws -> (uid: UInt32, gid: UInt32) {
        guard getuid() == 0 else { throw TestSupportError.missing("switching to another user needs root") }
        guard let entry = getpwnam("nobody") else { throw TestSupportError.missing("no user \"nobody\"") }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// Every method call of another uid is refused with AccessDenied, on the exported interfaces
    /// and the standard ones alike; the own uid is served before and after.
    @Test func callsOfAnotherUserAreRefusedOnEveryInterface() async throws {
        let other = try Self.otherUser()
        let gdbus = try Requirement.executable("gdbus")
        let bus = try MultiUserBus()
        let service = try await Connection(address: bus.address)
        try await service.admitCallers(ofUserID: getuid())
        try await service.export(makeTestInterface(), at: testPath)
        let name = uniqueBusName("Callers")
        try await service.requestName(name)
        let client = try await Connection(address: bus.address)
        #expect(try await client.call(destination: name, path: testPath, interface: testInterfaceName, member: "Echo",
                                      arguments: [.string("own")]) == [.string("own")])
        let calls: [(String, String, [String])] = [
            (testPath.rawValue, "io.tessera.Test1.Echo", ["'x'"]),
            (testPath.rawValue, "org.freedesktop.DBus.Properties.GetAll", ["io.tessera.Test1"]),
            (testPath.rawValue, "org.freedesktop.DBus.Properties.Set", ["io.tessera.Test1", "Mode", "<'evil'>"]),
            ("/", "org.freedesktop.DBus.Introspectable.Introspect", []),
            // (org.freedesktop.DBus.Peer never reaches us: libdbus answers Ping itself.)
        ]
        for (path, method, arguments) in calls {
            let result = try await Command.run(
                "setpriv", ["--reuid=\(other.uid)", "--regid=\(other.gid)", "--clear-groups", gdbus, "call",
                            "--address", bus.address, "--dest", name.rawValue, "--object-path", path,
                            "--method", method] + arguments,
                environment: ["HOME": "/nonexistent"], timeout: .seconds(20))
            #expect(!result.succeeded && result.stderr.contains("org.freedesktop.DBus.Error.AccessDenied"),
                    "\(method): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("uid \(other.uid)"), "\(method): \(result.stderr)")
        }
        #expect(try await client.call(destination: name, path: testPath, interface: .properties, member: "Get",
                                      arguments: [.string(testInterfaceName.rawValue), .string("Mode")])
                == [.variant(.string("normal"))])
        await client.close()
        await service.close()
    }

    /// A subscription naming a well-known sender gets that name's current owner's signals only: not
    /// a forger's signal addressed to it, not the old owner's after the name moved.
    @Test func signalsFromAWellKnownNameComeOnlyFromItsCurrentOwner() async throws {
        try Requirement.session()
        let name = uniqueBusName("Sender")
        let owner = try await Connection.session()
        try await owner.requestName(name, options: .allowReplacement)
        let listener = try await Connection.session()
        let forger = try await Connection.session()
        var signals = try await listener.signals(matching: MatchRule(sender: name, interface: testInterfaceName,
                                                                    member: "Changed")).makeAsyncIterator()
        func send(_ from: Connection, _ what: String, addressed: Bool) async throws {
            try await from.emit(path: testPath, interface: testInterfaceName, member: "Changed",
                                arguments: [.string(what)], destination: addressed ? listener.uniqueName : nil)
        }
        try await send(forger, "forged", addressed: true)
        try await send(owner, "first", addressed: false)
        #expect(await signals.next()?.arguments == [.string("first")])
        // The name moves to the forger: the old owner is now the one not to trust.
        try await forger.requestName(name, options: .replaceExisting)
        try await send(owner, "stale", addressed: true)
        try await send(forger, "second", addressed: false)
        #expect(await signals.next()?.arguments == [.string("second")])
        for connection in [owner, listener, forger] { await connection.close() }
    }
}

/// libdbus's own errors keep their name and message.
@Suite struct LibdbusErrorTests {
    @Test func aLibdbusErrorKeepsItsNameAndMessage() {
        // dbus_set_error_const keeps the pointers: they must outlive the call, unlike Swift's
        // temporary C strings.
        let name = strdup("org.example.Error.Broken"), text = strdup("it broke")
        defer { free(name); free(text) }
        #expect(throws: DBusError.library(name: "org.example.Error.Broken", message: "it broke")) {
            try withCError { error -> Int? in
                dbus_set_error_const(error, name, text)
                return nil
            }
        }
        #expect(DBusError.library(name: "org.example.Error.Broken", message: "it broke").dbusErrorName == "org.example.Error.Broken")
    }

    /// Connecting still reports a connection failure, now with libdbus's words and error name.
    @Test func aFailedConnectionNamesTheLibdbusError() async {
        do {
            _ = try await Connection(address: "unix:path=/nonexistent/tessera-no-bus")
            Issue.record("connected to a bus that does not exist")
        } catch {
            guard case .connectionFailed(let why) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(why.contains("/nonexistent/tessera-no-bus") && why.contains("(org.freedesktop.DBus.Error."), "\(why)")
        }
    }
}
