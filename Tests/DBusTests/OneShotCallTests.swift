import Foundation
import Glibc
import Testing
import TestSupport
@testable import DBus

/// `OneShotCall`: the whole handshake and the call in one round trip must answer exactly what a
/// libdbus connection (`BlockingConnection`) answers, values and errors alike.
@Suite struct OneShotCallTests {
    static func address() throws -> String {
        try Requirement.session()
        return try #require(ProcessInfo.processInfo.environment["DBUS_SESSION_BUS_ADDRESS"])
    }

    @Test func repliesMatchALibdbusConnection() async throws {
        let (service, name) = try await makeService("OneShot")
        let blocking = try BlockingConnection.session()
        for value in everyType {
            let arguments: [DBusValue] = [.variant(value)]
            let oneShot = try OneShotCall.session(destination: name, path: testPath, interface: testInterfaceName,
                                                  member: "EchoVariant", arguments: arguments)
            #expect(oneShot == [.variant(value)])
            #expect(oneShot == (try blocking.call(destination: name, path: testPath, interface: testInterfaceName,
                                                  member: "EchoVariant", arguments: arguments)))
        }
        // A reply far larger than one read: reassembled from many.
        let big = String(repeating: "ä", count: 3_000_000)
        #expect(try OneShotCall.session(destination: name, path: testPath, interface: testInterfaceName, member: "Echo",
                                        arguments: [.string(big)]) == [.string(big)])
        await service.close()
    }

    /// The pipelined route itself answers (not a silent fall-back to libdbus).
    @Test func theTestBusTakesThePipelinedRoute() async throws {
        let (service, name) = try await makeService("OneShotRoute")
        let socket = try #require(UnixStreamSocket(connectingTo: try Self.address()))
        let call = try PipelinedRequest(destination: name, path: testPath, interface: testInterfaceName, member: "Add",
                                        arguments: [.int32(40), .int32(2)], registering: true)
        #expect(try socket.pipelinedCall(call, timeout: .seconds(10)) == [.int32(42)])
        // Hello made it a connection of its own: the service sees a unique name as the sender.
        let callerSocket = try #require(UnixStreamSocket(connectingTo: try Self.address()))
        let caller = try PipelinedRequest(destination: name, path: testPath, interface: testInterfaceName, member: "Caller",
                                          arguments: [], registering: true)
        let reply = try callerSocket.pipelinedCall(caller, timeout: .seconds(10))
        guard case .string(let sender)? = reply?.first else { Issue.record("\(String(describing: reply))"); return }
        #expect(sender.hasPrefix(":"), "\(sender)")
        await service.close()
    }

    @Test func errorsMatchALibdbusConnection() async throws {
        let (service, name) = try await makeService("OneShotErrors")
        let blocking = try BlockingConnection.session()
        func outcome(_ body: () throws(DBusError) -> [DBusValue]) -> String {
            do { return "reply \(try body())" } catch { return "\(error)" }
        }
        let cases: [(BusName, MemberName, [DBusValue])] = [
            (name, "Fail", [.string("io.tessera.Test1.Error.Chosen")]),
            (name, "Fail", [.string("")]),
            (name, "NoSuchMember", []),
            (name, "Add", [.string("wrong type")]),
            (uniqueBusName("Nobody"), "Echo", [.string("x")]),
        ]
        for (destination, member, arguments) in cases {
            let oneShot = outcome { () throws(DBusError) in
                try OneShotCall.session(destination: destination, path: testPath, interface: testInterfaceName,
                                        member: member, arguments: arguments)
            }
            let libdbus = outcome { () throws(DBusError) in
                try blocking.call(destination: destination, path: testPath, interface: testInterfaceName,
                                  member: member, arguments: arguments)
            }
            #expect(oneShot.hasPrefix("org.freedesktop.DBus.Error.") || oneShot.hasPrefix("io.tessera."), "\(oneShot)")
            #expect(oneShot == libdbus, "\(member)")
        }
        await service.close()
    }

    @Test func aLateReplyIsNoReply() async throws {
        let (service, name) = try await makeService("OneShotTimeout")
        let started = ContinuousClock.now
        do {
            _ = try OneShotCall.session(destination: name, path: testPath, interface: testInterfaceName, member: "Sleep",
                                        arguments: [.uint32(3000)], timeout: .milliseconds(300))
            Issue.record("the call did not time out")
        } catch {
            #expect(error.isRemote(.noReply), "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(2))
        await service.close()
    }

    /// Addresses the pipelined route does not take go through libdbus, which fails them in its words.
    @Test func otherAddressesFallBackToLibdbus() throws {
        for address in ["unix:path=/nonexistent/tessera-bus", "tcp:host=127.0.0.1,port=1", "nonsense"] {
            do {
                _ = try OneShotCall.call(onBusAt: address, destination: .bus, path: "/org/freedesktop/DBus",
                                         interface: .bus, member: "GetId", arguments: [], timeout: .seconds(5))
                Issue.record("\(address) answered")
            } catch {
                guard case .connectionFailed(let why) = error else { Issue.record("\(error)"); continue }
                #expect(!why.isEmpty)
            }
        }
    }

    @Test func readsTheFirstUnixAddress() throws {
        func path(_ address: String) -> [UInt8]? {
            guard var (socketAddress, _) = UnixStreamSocket.unixSocketAddress(address) else { return nil }
            let bytes = withUnsafeBytes(of: &socketAddress.sun_path) { Array($0) }
            let end = bytes.dropFirst().firstIndex(of: 0) ?? bytes.count
            return Array(bytes[..<end])
        }
        #expect(path("unix:path=/run/user/1000/bus") == Array("/run/user/1000/bus".utf8))
        #expect(path("unix:path=/tmp/a%20b,guid=0123456789abcdef0123456789abcdef") == Array("/tmp/a b".utf8))
        #expect(path("unix:abstract=/tmp/dbus-X;unix:path=/b") == [0] + Array("/tmp/dbus-X".utf8))
        #expect(path("tcp:host=localhost,port=1;unix:path=/b") == nil)
        #expect(path("unix:runtime=yes") == nil)
        #expect(path("unix:path=/" + String(repeating: "x", count: 200)) == nil)
        #expect(path("") == nil)
    }

    /// A bus on an abstract socket (the name's length, not a NUL, ends it) takes the route too.
    @Test func anAbstractSocketBusTakesThePipelinedRoute() async throws {
        try Requirement.session()
        let address = "unix:abstract=/tmp/tessera-oneshot-\(UInt32.random(in: 0...UInt32.max))"
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: try Requirement.executable("dbus-daemon"))
        daemon.arguments = ["--session", "--nofork", "--nopidfile", "--address=\(address)"]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        // SIGKILL: the child inherits this test thread's blocked signals, SIGTERM among them.
        defer { kill(daemon.processIdentifier, SIGKILL); daemon.waitUntilExit() }
        var socket: UnixStreamSocket?
        for _ in 0..<250 where socket == nil {
            socket = UnixStreamSocket(connectingTo: address)
            if socket == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let connected = try #require(socket, "the bus at \(address) did not listen")
        let call = try PipelinedRequest(destination: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: "GetId",
                                        arguments: [], registering: true)
        let reply = try connected.pipelinedCall(call, timeout: .seconds(10))
        guard case .string(let id)? = reply?.first else { Issue.record("\(String(describing: reply))"); return }
        #expect(id.count == 32, "\(id)")
        #expect(try OneShotCall.call(onBusAt: address, destination: .bus, path: "/org/freedesktop/DBus", interface: .bus,
                                     member: "GetId", arguments: [], timeout: .seconds(10)) == [.string(id)])
    }
}
