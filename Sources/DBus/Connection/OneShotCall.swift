import Glibc
import Posix

/// One method call on the session bus, for a process that makes that call and exits
/// (`tessera token NAME`): authentication, `Hello` and the call go out in one write, and the
/// replies come back in one read, one round trip through the bus daemon instead of four.
///
/// Why: libdbus waits for each step of the handshake in turn (AUTH, NEGOTIATE_UNIX_FD, Hello,
/// then the call), and on a busy machine every wait is a wake-up of the bus daemon that queues
/// for a core; those waits were most of `tessera token`'s time. The D-Bus specification lets a
/// client send `BEGIN` and its first messages without waiting (the daemon keeps the bytes that
/// follow `BEGIN` for the message reader; sd-bus pipelines its handshake the same way), and a bus
/// handles one connection's messages in order, so the call runs right after `Hello`.
///
/// Only a `unix:path=` or `unix:abstract=` first address with the EXTERNAL mechanism takes this
/// route. Any other address, a refused connect or a refused authentication (nothing was done on
/// the bus yet) goes through `BlockingConnection` instead, so every error reads as before; so
/// does a call that passes Unix fds. Messages are written and read by `WireEncoder` and
/// `WireDecoder`, not libdbus: see there for why.
public enum OneShotCall {
    /// The call on the session bus. (`tessera token` first tries tesserad's peer-to-peer socket
    /// itself, with `peerExchange`.)
    public static func session(
        destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
        arguments: [DBusValue] = [], timeout: Duration = .seconds(25)
    ) throws(DBusError) -> [DBusValue] {
        try call(onBusAt: sessionBusAddress(), destination: destination, path: path, interface: interface,
                 member: member, arguments: arguments, timeout: timeout)
    }

    static func call(
        onBusAt address: String, destination: BusName?, path: ObjectPath, interface: InterfaceName?,
        member: MemberName, arguments: [DBusValue], timeout: Duration
    ) throws(DBusError) -> [DBusValue] {
        let request = try? PipelinedRequest(destination: destination, path: path, interface: interface,
                                           member: member, arguments: arguments, registering: true)
        if let request, let socket = UnixStreamSocket(connectingTo: address) {
            if let reply = try socket.pipelinedCall(request, timeout: timeout) { return reply }
        }
        // Also where the arguments cannot go this way: libdbus's connection reports or sends them.
        return try BlockingConnection(address: address).call(
            destination: destination, path: path, interface: interface, member: member, arguments: arguments,
            timeout: timeout)
    }

    /// `request` on a peer-to-peer socket, answered by a method return or an error reply (read
    /// it with `WireMessage.bodyReader`, or `UnixStreamSocket.outcome`). Nil when the call could
    /// not be made there: then nothing ran, or the service went away mid-call, and the caller may
    /// ask again on the bus. The service's own answer, error replies and a timeout included, is final.
    package static func peerExchange(at socketPath: String, _ request: PipelinedRequest,
                                     timeout: Duration) throws(DBusError) -> WireMessage? {
        guard let socket = UnixStreamSocket(connectingToPath: socketPath), socket.peerUserID == getuid() else { return nil }
        do { return try socket.exchange(request, timeout: timeout) } catch .disconnected {
            return nil
        }
    }
}

/// The bytes a one-shot client sends at once: the EXTERNAL authentication with our uid,
/// `BEGIN`, `Hello` when `registering` with a bus (a peer-to-peer server takes none), the call.
package struct PipelinedRequest {
    static let helloSerial: UInt32 = 1
    static let callSerial: UInt32 = 2
    let buffer: ByteBuffer
    /// What is sent, as an array (tests).
    package var bytes: [UInt8] { buffer.array }

    package init(destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
                 arguments: [DBusValue], registering: Bool) throws(DBusError) {
        buffer = try WireEncoder.methodCall(serial: Self.callSerial, destination: destination, path: path,
                                            interface: interface, member: member, arguments: arguments,
                                            appendingTo: Self.handshake(registering: registering))
    }

    /// A call whose body `write` writes, typed (see `WireEncoder.methodCall(…body:)`).
    package init(destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
                 signature: String, registering: Bool, body write: (inout WireEncoder) -> Void) {
        buffer = WireEncoder.methodCall(serial: Self.callSerial, destination: destination, path: path,
                                        interface: interface, member: member, signature: signature,
                                        appendingTo: Self.handshake(registering: registering), body: write)
    }

    private static func handshake(registering: Bool) -> ByteBuffer {
        // EXTERNAL with our uid as the initial response (hex of its decimal digits), as libdbus
        // sends it. A plain loop: `map { … }.joined()` cost 0.19 M instructions in a one-shot run.
        let request = ByteBuffer(capacity: 512)
        request.append(0)
        request.append("AUTH EXTERNAL ")
        for digit in String(getuid()).utf8 {
            request.append(Self.hexDigit(digit >> 4))
            request.append(Self.hexDigit(digit & 0xF))
        }
        request.append("\r\nBEGIN\r\n")
        guard registering else { return request }
        return WireEncoder.methodCall(serial: helloSerial, destination: .bus, path: "/org/freedesktop/DBus",
                                      interface: .bus, member: "Hello", signature: "", appendingTo: request) { _ in }
    }

    /// A lower-case hex digit, computed: a table would be one more lazily made global to fault in.
    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 48 + nibble : 87 + nibble }
}

/// A connected `AF_UNIX` stream socket to a bus, closed on deinit.
final class UnixStreamSocket {
    private let descriptor: Int32

    /// What libdbus says when a reply does not come in time (`dbus_connection_send_with_reply_and_block`).
    private static let noReplyText = """
        Did not receive a reply. Possible causes include: the remote application did not send a reply, \
        the message bus security policy blocked the reply, the reply timeout expired, or the network \
        connection was broken.
        """

    /// Connects to the first entry of a D-Bus address when it is `unix:path=…` or `unix:abstract=…`;
    /// nil for anything else, or when the connect fails (libdbus then reports it in its words).
    convenience init?(connectingTo address: String) {
        guard let (address, length) = Self.unixSocketAddress(address) else { return nil }
        self.init(connecting: address, length)
    }

    /// Connects to the AF_UNIX socket at a filesystem path; nil if that fails.
    convenience init?(connectingToPath path: String) {
        guard path.hasPrefix("/"), path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        self.init(connecting: SocketFiles.address(path), socklen_t(MemoryLayout<sockaddr_un>.size))
    }

    private init?(connecting address: sockaddr_un, _ length: socklen_t) {
        var socketAddress = address
        let descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        let connected = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, length) }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// The uid of the process that listens at the other end (SO_PEERCRED); nil if unknown.
    var peerUserID: UInt32? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }, read as three 32-bit fields (a
        // tuple, not an array: no array type to look up in a one-shot process).
        var fields: (Int32, Int32, Int32) = (-1, -1, -1)
        var length = socklen_t(MemoryLayout<Int32>.size * 3)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &fields, &length) == 0,
              length == socklen_t(MemoryLayout<Int32>.size * 3) else { return nil }
        return UInt32(bitPattern: fields.1)
    }

    /// The `sockaddr_un` of the address's first entry and its length. An abstract name is not
    /// NUL-terminated: its length ends it, as in libdbus.
    static func unixSocketAddress(_ address: String) -> (sockaddr_un, socklen_t)? {
        guard let path = BusAddress.unixSocketBytes(of: address) else { return nil }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: socketAddress.sun_path)
        guard !path.isEmpty, path.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { bytes in
            for (index, byte) in path.enumerated() { bytes[index] = byte }
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
        let length = path[0] == 0 ? pathOffset + path.count : MemoryLayout<sockaddr_un>.size
        return (socketAddress, socklen_t(length))
    }

    /// Sends `request` at once and reads until the call's reply. Nil when the other end refused
    /// the authentication, before anything ran: the caller may then try libdbus.
    func pipelinedCall(_ request: PipelinedRequest, timeout: Duration) throws(DBusError) -> [DBusValue]? {
        guard let reply = try exchange(request, timeout: timeout) else { return nil }
        return try Self.outcome(of: reply)
    }

    /// Sends `request` and reads until the call's method return or error reply (a failed Hello
    /// throws); nil when the authentication was refused.
    func exchange(_ request: PipelinedRequest, timeout: Duration) throws(DBusError) -> WireMessage? {
        guard send(request.buffer) else { return nil }
        let deadline = ContinuousClock.now + timeout
        let received = ByteBuffer(capacity: 4096)
        var authenticated = false
        var offset = 0
        while true {
            guard try receive(into: received, until: deadline) else {
                guard authenticated else { return nil }  // refused or closed before BEGIN took effect
                throw .disconnected
            }
            if !authenticated {
                guard let end = Self.lineEnd(in: received) else { continue }
                // "OK <server guid>"; REJECTED or ERROR means nothing was run.
                guard received.count >= 3, received[0] == UInt8(ascii: "O"), received[1] == UInt8(ascii: "K"),
                      received[2] == UInt8(ascii: " ") else { return nil }
                authenticated = true
                offset = end
            }
            while received.count - offset >= WireDecoder.fixedHeaderLength {
                let needed = try WireDecoder.messageLength(received, at: offset)
                guard received.count - offset >= needed else { break }
                let message = try WireDecoder.message(received.copy(offset..<(offset + needed)))
                offset += needed
                guard message.isReply else { continue }  // the NameAcquired signal
                if message.replySerial == PipelinedRequest.callSerial { return message }
                if message.replySerial == PipelinedRequest.helloSerial, let error = message.remoteError {
                    guard case .remote(let name, let text) = error else { throw error }
                    throw .connectionFailed("registering with the bus (Hello): \(text) (\(name))")
                }
            }
            if offset > 0 {
                received.removeFirst(offset)
                offset = 0
            }
        }
    }

    /// The call's arguments from its reply, or its error.
    static func outcome(of reply: WireMessage) throws(DBusError) -> [DBusValue] {
        if let error = reply.remoteError { throw error }
        return try reply.arguments()
    }

    /// The index just past the first "\r\n", if there is one.
    private static func lineEnd(in bytes: ByteBuffer) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for index in 1..<bytes.count where bytes[index - 1] == 13 && bytes[index] == 10 { return index + 1 }
        return nil
    }

    private func send(_ bytes: ByteBuffer) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let chunk = bytes.span(sent..<bytes.count)
            let count = Glibc.send(descriptor, chunk.baseAddress, chunk.count, Int32(MSG_NOSIGNAL))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    /// Appends the next bytes from the other end to `buffer`; false at end of stream; `NoReply`
    /// at the deadline.
    private func receive(into buffer: ByteBuffer, until deadline: ContinuousClock.Instant) throws(DBusError) -> Bool {
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw .remote(name: .noReply, message: Self.noReplyText) }
            var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let waited = poll(&ready, 1, Connection.milliseconds(left))
            if waited == 0 || (waited < 0 && errno == EINTR) { continue }
            guard waited > 0 else { return false }
            let count = buffer.appendUnsafe(maximum: 4096) { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            return count > 0
        }
    }
}
