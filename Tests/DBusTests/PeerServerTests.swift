import Foundation
import Testing
import TestSupport
@testable import DBus

/// `Connection.servePeers`: the connection's objects over a peer-to-peer socket, through the same
/// object server (caller check, handlers, errors) as bus callers, with the kernel's credentials,
/// and with bounds a local client cannot get around.
@Suite struct PeerServerTests {
    /// A service on a private bus, admitting only our uid, serving the test object and `Who`
    /// (the credentials the service's own lookup gets for the caller) to peers at `socket`.
    struct PeerService {
        let bus: PrivateBus
        let service: Connection
        let socket: String

        init(maximumPeers: Int = Connection.defaultMaximumPeers,
             authenticationTime: Duration = Connection.defaultPeerAuthenticationTime) async throws {
            bus = try PrivateBus()
            service = try await Connection(address: bus.address)
            try await service.admitCallers(ofUserID: getuid())
            var interface = makeTestInterface()
            interface.method("Who", outputs: [Argument("pid", "u"), Argument("uid", "u")]) { [service] call in
                let (credentials, _) = try await service.credentialsAndProcess(of: call.sender)
                return [.uint32(try credentials["ProcessID"]?.get(UInt32.self) ?? 0),
                        .uint32(try credentials["UnixUserID"]?.get(UInt32.self) ?? 99999)]
            }
            try await service.export(interface, at: testPath)
            socket = "\(bus.directory)/peer.sock"
            try await service.servePeers(at: socket, maximumPeers: maximumPeers, authenticationTime: authenticationTime)
        }

        func call(_ member: MemberName, _ arguments: [DBusValue] = []) throws -> [DBusValue]? {
            let request = try PipelinedRequest(destination: nil, path: testPath, interface: testInterfaceName,
                                               member: member, arguments: arguments, registering: false)
            guard let reply = try OneShotCall.peerExchange(at: socket, request, timeout: .seconds(10)) else { return nil }
            return try UnixStreamSocket.outcome(of: reply)
        }
    }

    @Test func aPeerCallsTheSameObjectsAsABusClient() async throws {
        let peer = try await PeerService()
        var info = stat()
        #expect(lstat(peer.socket, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK && info.st_mode & 0o777 == 0o600)
        #expect(try peer.call("Echo", [.string("hello")]) == [.string("hello")])
        #expect(try peer.call("Add", [.int32(2), .int32(40)]) == [.int32(42)])
        let sender = try #require(try peer.call("Caller")?.first)
        guard case .string(let name) = sender else { Issue.record("\(sender)"); return }
        #expect(name.hasPrefix(":peer."), "\(name)")
        // The kernel's word on who called, as GetConnectionCredentials would give it.
        #expect(try peer.call("Who") == [.uint32(UInt32(getpid())), .uint32(getuid())])
        // Errors and refusals read as on the bus.
        let nope: ErrorName = "org.example.Error.Nope"
        #expect(throws: DBusError.remote(name: nope, message: "failed as asked")) {
            try peer.call("Fail", [.string("org.example.Error.Nope")])
        }
        #expect(throws: DBusError.self) { try peer.call("Add", [.string("two")]) }
        #expect(throws: DBusError.self) { try peer.call("NoSuchMethod") }
        // A client written for a bus says Hello first and is told its name; the bus daemon's
        // other methods are not there.
        let hello = try #require(UnixStreamSocket(connectingToPath: peer.socket))
        let echo = try PipelinedRequest(destination: nil, path: testPath, interface: testInterfaceName, member: "Echo",
                                        arguments: [.string("after hello")], registering: true)
        #expect(try hello.pipelinedCall(echo, timeout: .seconds(10)) == [.string("after hello")])
        let listNames = try #require(UnixStreamSocket(connectingToPath: peer.socket))
        let names = try PipelinedRequest(destination: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: "ListNames",
                                         arguments: [], registering: false)
        #expect(throws: DBusError.self) { try listNames.pipelinedCall(names, timeout: .seconds(10)) }
        // The bus side is untouched.
        let client = try await Connection(address: peer.bus.address)
        #expect(try await client.call(destination: peer.service.uniqueName, path: testPath, interface: testInterfaceName,
                                      member: "Echo", arguments: [.string("bus")]) == [.string("bus")])
        await client.close()
        await peer.service.close()
    }

    @Test func aPeerThatLeavesIsForgottenLikeABusClient() async throws {
        let peer = try await PeerService()
        let changes = try await peer.service.nameOwnerChanges()
        let sender = try peer.call("Caller")
        guard case .string(let name)? = sender?.first else { Issue.record("\(String(describing: sender))"); return }
        // Bounded: a departure that never comes fails the test instead of hanging it.
        let watcher = Task {
            for await change in changes where change.name.rawValue == name { return change.newOwner == nil }
            return false
        }
        let timeout = Task {
            try await Task.sleep(for: .seconds(10))
            watcher.cancel()
        }
        #expect(await watcher.value, "no departure of \(name) was announced")
        timeout.cancel()
        #expect(await peer.service.peerCount == 0)
        await peer.service.close()
    }

    @Test func peersBeyondTheLimitOrSilentTooLongLoseTheirPlace() async throws {
        let peer = try await PeerService(maximumPeers: 1, authenticationTime: .milliseconds(300))
        // One client connects and says nothing: it holds the only place...
        let silent = try #require(UnixStreamSocket(connectingToPath: peer.socket))
        try await waitFor("the silent peer to be accepted") { await peer.service.peerCount == 1 }
        // ...so the next is closed before authenticating: nothing ran, the caller may use the bus.
        #expect(try peer.call("Echo", [.string("x")]) == nil)
        // Once the silent one is past its time, the next arrival takes its place (no timer: an
        // idle service never wakes for a silent client).
        try await Task.sleep(for: .milliseconds(400))
        #expect(await peer.service.peerCount == 1)
        #expect(try peer.call("Echo", [.string("y")]) == [.string("y")])
        withExtendedLifetime(silent) {}
        await peer.service.close()
    }

    @Test func garbageAndOversizedMessagesCloseOnlyThatPeer() async throws {
        let peer = try await PeerService()
        // Not the D-Bus handshake at all.
        try sendRaw(peer.socket, Array("GET / HTTP/1.1\r\n\r\n".utf8))
        // A valid handshake, then a message header announcing a 2 MiB body (over the 1 MiB limit,
        // under libdbus's own 32 MiB default).
        var oversized: [UInt8] = [0] + Array("AUTH EXTERNAL \(hex(String(getuid())))\r\nBEGIN\r\n".utf8)
        oversized += [UInt8(ascii: "l"), 1, 0, 1] + le32(2 << 20) + le32(1) + le32(0)
        try sendRaw(peer.socket, oversized)
        // Bytes that are no message at all after a valid handshake.
        try sendRaw(peer.socket, [0] + Array("AUTH EXTERNAL \(hex(String(getuid())))\r\nBEGIN\r\n".utf8) + [UInt8](repeating: 0xff, count: 64))
        try await waitFor("the bad peers to be dropped") { await peer.service.peerCount == 0 }
        #expect(try peer.call("Echo", [.string("still here")]) == [.string("still here")])
        await peer.service.close()
    }

    @Test func stoppingRemovesTheSocketAndClientsFallBack() async throws {
        let peer = try await PeerService()
        #expect(try peer.call("Echo", [.string("a")]) == [.string("a")])
        await peer.service.stopServingPeers()
        #expect(access(peer.socket, F_OK) != 0, "the socket file stayed")
        #expect(try peer.call("Echo", [.string("b")]) == nil)
        // A second server may start on the same connection afterwards.
        try await peer.service.servePeers(at: peer.socket)
        #expect(try peer.call("Echo", [.string("c")]) == [.string("c")])
        await peer.service.close()
        #expect(access(peer.socket, F_OK) != 0, "closing the connection left the socket")
    }

    // MARK: helpers

    func waitFor(_ what: String, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while await !condition() {
            guard ContinuousClock.now < deadline else { throw TestSupportError.timedOut("waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Connects, sends `bytes`, and waits until the service hangs up (or 5 s).
    func sendRaw(_ path: String, _ bytes: [UInt8]) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw TestSupportError.failed("connect: errno \(errno)") }
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            guard poll(&pollFD, 1, 100) >= 0 else { return }
            if pollFD.revents != 0 {
                if recv(fd, &buffer, buffer.count, 0) <= 0 { return }
            }
        }
        throw TestSupportError.failed("the service kept a peer that sent garbage")
    }

    func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }
    func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
}
