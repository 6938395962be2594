import Glibc
import Posix
import Logging
import Synchronization

/// Serves oidc-agent's protocol on a `ListeningSocket`: every connection at once, none able to
/// hold up another.
///
/// One thread runs a `poll(2)` loop over the listening socket, every open connection and a wake-up
/// pipe; it never blocks on a peer (all sockets are non-blocking) and never awaits. A complete
/// request goes to `handler` in its own task; the reply comes back through the pipe and is sent in
/// one write (oidc-agent's C client reads only what the first read finds). Bounds: a request must
/// arrive within `requestTimeout` and fit `maxRequestBytes`; at most `maxConnections` are open,
/// further ones wait in the kernel's backlog. Peers of another uid are closed at accept.
public final class OIDCAgentSocketServer: Sendable {
    public typealias Handler = @Sendable (AgentRequest, PeerCredentials) async -> AgentReply

    public struct Limits: Sendable {
        public var maxConnections: Int = 512
        /// From accept to the whole request (key exchange included).
        public var requestTimeout: Duration = .seconds(5)
        /// For a reply the peer does not take (its buffer full).
        public var writeTimeout: Duration = .seconds(5)
        public var exchange = Exchange.Limits()
        public init() {}
    }

    private struct Inbox {
        var replies: [(UInt64, AgentReply)] = []
        var stopping = false
    }

    public let path: String
    private let socket: ListeningSocket
    private let limits: Limits
    private let logger: Logger
    private let handler: Handler
    private let userID: UInt32
    private let inbox = Mutex(Inbox())
    private let wake: (read: Int32, write: Int32)
    private let stopped: AsyncStream<Void>
    private let stoppedContinuation: AsyncStream<Void>.Continuation
    private let started = Atomic<Bool>(false)
    /// Open connections, for tests and the status output.
    private let openCount = Atomic<Int>(0)

    public init(socket: ListeningSocket, limits: Limits = Limits(), logger: Logger, userID: UInt32 = getuid(),
                handler: @escaping Handler) throws(SocketSetupError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .system(call: "pipe", path: socket.path, errno: errno) }
        guard configureDescriptor(fds[0]), configureDescriptor(fds[1]) else {
            let number = errno
            close(fds[0])
            close(fds[1])
            throw .system(call: "fcntl", path: socket.path, errno: number)
        }
        wake = (fds[0], fds[1])
        self.socket = socket
        self.path = socket.path
        self.limits = limits
        self.logger = logger
        self.userID = userID
        self.handler = handler
        (stopped, stoppedContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var openConnections: Int { openCount.load(ordering: .relaxed) }

    /// Starts the loop thread (once).
    public func start() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        Posix.startThread(named: "oidc-agent-socket") { [self] in
            Loop(server: self).run()
            socket.closeAndUnlink()
            close(wake.read)
            close(wake.write)
            stoppedContinuation.yield()
        }
    }

    /// Stops accepting, closes every connection, removes the socket file; returns when done.
    public func stop() async {
        guard started.load(ordering: .relaxed) else {
            socket.closeAndUnlink()
            return
        }
        inbox.withLock { $0.stopping = true }
        poke()
        for await _ in stopped { return }
    }

    private func deliver(_ reply: AgentReply, to connection: UInt64) {
        inbox.withLock { $0.replies.append((connection, reply)) }
        poke()
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1) // a full pipe already means "wake up"
    }

    /// The loop's state: touched only on the loop thread.
    private final class Loop {
        enum Phase { case reading, answering, writing }

        final class Client {
            let descriptor: Int32
            let peer: PeerCredentials
            var exchange: Exchange
            var phase = Phase.reading
            var output: [UInt8] = []
            var deadline: Int64?

            init(descriptor: Int32, peer: PeerCredentials, exchange: Exchange, deadline: Int64) {
                self.descriptor = descriptor
                self.peer = peer
                self.exchange = exchange
                self.deadline = deadline
            }
        }

        let server: OIDCAgentSocketServer
        var clients: [UInt64: Client] = [:]
        var nextID: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)

        init(server: OIDCAgentSocketServer) { self.server = server }

        static func now() -> Int64 {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
        }

        static func milliseconds(_ duration: Duration) -> Int64 {
            let (seconds, attoseconds) = duration.components
            return seconds * 1000 + attoseconds / 1_000_000_000_000_000
        }

        func run() {
            let listener = server.socket.descriptor
            server.logger.info("serving oidc-agent's protocol at \(server.path)")
            while true {
                var fds = [pollfd(fd: server.wake.read, events: Int16(POLLIN), revents: 0)]
                let accepting = clients.count < server.limits.maxConnections
                fds.append(pollfd(fd: accepting ? listener : -1, events: Int16(POLLIN), revents: 0))
                var order: [UInt64] = []
                order.reserveCapacity(clients.count)
                var nearest: Int64?
                for (id, client) in clients {
                    let events: Int32 = switch client.phase {
                    case .reading: POLLIN
                    case .answering: 0 // POLLHUP/POLLERR still tell us the peer left
                    case .writing: POLLOUT
                    }
                    fds.append(pollfd(fd: client.descriptor, events: Int16(events), revents: 0))
                    order.append(id)
                    if let deadline = client.deadline { nearest = min(nearest ?? deadline, deadline) }
                }
                let timeout = nearest.map { Int32(clamping: max(0, $0 - Self.now())) } ?? -1
                let ready = poll(&fds, nfds_t(fds.count), timeout)
                if ready < 0 && errno != EINTR {
                    server.logger.error("poll failed on the oidc-agent socket: \(String(cString: strerror(errno))); stopping it")
                    break
                }
                if fds[0].revents != 0, !drainWakeups() { break }
                if accepting, fds[1].revents & Int16(POLLIN) != 0 { acceptAll(listener) }
                for (index, id) in order.enumerated() {
                    let revents = Int32(fds[index + 2].revents)
                    guard revents != 0, let client = clients[id] else { continue }
                    service(id, client, revents: revents)
                }
                expire()
            }
            for id in Array(clients.keys) { drop(id) }
        }

        /// Hands finished replies to their connections; false once stopping.
        func drainWakeups() -> Bool {
            var sink = [UInt8](repeating: 0, count: 256)
            while read(server.wake.read, &sink, sink.count) > 0 {}
            let (replies, stopping) = server.inbox.withLock { inbox in
                defer { inbox.replies.removeAll() }
                return (inbox.replies, inbox.stopping)
            }
            if stopping { return false }
            for (id, reply) in replies {
                guard let client = clients[id], client.phase == .answering else { continue } // the peer left meanwhile
                send(id, client, client.exchange.reply(reply))
            }
            return true
        }

        func acceptAll(_ listener: Int32) {
            while clients.count < server.limits.maxConnections {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else {
                    if errno == EMFILE || errno == ENFILE {
                        server.logger.warning("oidc-agent socket: out of file descriptors; new connections wait")
                    }
                    return
                }
                guard configureDescriptor(fd) else {
                    close(fd)
                    continue
                }
                guard let peer = PeerCredentials.of(fd) else {
                    server.logger.warning("oidc-agent socket: cannot read the peer's credentials; connection closed")
                    close(fd)
                    continue
                }
                guard peer.userID == server.userID else {
                    server.logger.warning("oidc-agent socket: refused \(peer): tesserad serves only uid \(server.userID)")
                    close(fd)
                    continue
                }
                nextID += 1
                clients[nextID] = Client(descriptor: fd, peer: peer, exchange: Exchange(limits: server.limits.exchange),
                                         deadline: Self.now() + Self.milliseconds(server.limits.requestTimeout))
                server.openCount.add(1, ordering: .relaxed)
            }
        }

        func service(_ id: UInt64, _ client: Client, revents: Int32) {
            switch client.phase {
            case .reading:
                guard revents & (POLLIN | POLLHUP | POLLERR) != 0 else { return }
                let count = read(client.descriptor, &buffer, buffer.count)
                if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
                guard count > 0 else { return drop(id) } // closed (or half-closed) before the request was whole
                let step: Exchange.Step
                do throws(ProtocolError) {
                    let result = buffer.withUnsafeBytes { bytes in
                        Result { () throws(ProtocolError) -> Exchange.Step in
                            try client.exchange.receive(UnsafeRawBufferPointer(rebasing: bytes[..<count]))
                        }
                    }
                    step = try result.get()
                } catch {
                    server.logger.notice("oidc-agent socket: \(client.peer): \(error); connection closed")
                    return drop(id)
                }
                switch step {
                case .needMore:
                    break
                case .send(let bytes):
                    // 44 bytes into an empty socket buffer: one write, or the peer is gone.
                    let sent = bytes.withUnsafeBytes { Glibc.send(client.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if sent != bytes.count { drop(id) }
                case .request(.failure(let failure)):
                    client.phase = .answering
                    send(id, client, client.exchange.reply(.failure(error: failure.message, info: nil)))
                case .request(.success(let request)):
                    client.phase = .answering
                    client.deadline = nil // the token path bounds its own work (network timeouts)
                    let server = self.server, peer = client.peer
                    Task {
                        let reply = await server.handler(request, peer)
                        server.deliver(reply, to: id)
                    }
                }
            case .answering:
                if revents & (POLLHUP | POLLERR) != 0 { drop(id) }
            case .writing:
                flush(id, client)
            }
        }

        func send(_ id: UInt64, _ client: Client, _ bytes: [UInt8]) {
            client.output = bytes
            client.phase = .writing
            client.deadline = Self.now() + Self.milliseconds(server.limits.writeTimeout)
            flush(id, client)
        }

        func flush(_ id: UInt64, _ client: Client) {
            let sent = client.output.withUnsafeBytes { Glibc.send(client.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && (errno == EAGAIN || errno == EINTR) { return }
            guard sent > 0, sent < client.output.count else { return drop(id) } // done, or the peer left
            client.output.removeFirst(sent)
        }

        func expire() {
            let now = Self.now()
            for (id, client) in clients {
                guard let deadline = client.deadline, deadline <= now else { continue }
                let what = client.phase == .writing ? "took no reply" : "sent no complete request"
                server.logger.notice("oidc-agent socket: \(client.peer) \(what) in time; connection closed")
                drop(id)
            }
        }

        func drop(_ id: UInt64) {
            guard let client = clients.removeValue(forKey: id) else { return }
            // Wipe the reply (it may hold a token) before the array is freed.
            client.output.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
            close(client.descriptor)
            server.openCount.subtract(1, ordering: .relaxed)
        }
    }
}
