import CDBus
import Posix
#if canImport(Glibc)
import Glibc
#endif

// Peer-to-peer D-Bus: the connection's objects served to clients that connect straight to a
// socket of this process instead of going through the bus daemon (systemd's private socket for
// systemctl is the same idea). A one-shot client such as `tessera token` then costs one round
// trip to this process, not a trip through dbus-daemon plus a credentials query back to it.
//
// A peer's calls go through the same object server as the bus's — caller check, immediate
// answers, handlers — under a name of its own (`:peer.N`, a form no bus hands out), and its
// replies go back on its own connection. Who it is comes from the kernel (SO_PEERCRED,
// SO_PEERPIDFD, SO_PEERSEC) and is offered as a `GetConnectionCredentials` answer would be; when
// it disconnects, subscribers of `nameOwnerChanges` see its name leave, as for a bus client.
// Everything runs on this connection's loop thread: no thread per peer.

/// A peer-to-peer client's libdbus connection, kept while anything may still reply on it; closed
/// and released on the loop thread when the last holder lets go.
final class PeerLink: Sendable {
    let name: BusName
    let handle: CHandle
    /// The kernel's word on the client, in `GetConnectionCredentials` form; nil if unreadable.
    let credentials: VouchedCredentials?
    let acceptedAt = ContinuousClock.now
    private let loop: EventLoop

    init(name: BusName, retaining handle: CHandle, credentials: VouchedCredentials?, loop: EventLoop) {
        dbus_connection_ref(handle.pointer)
        self.name = name
        self.handle = handle
        self.credentials = credentials
        self.loop = loop
    }

    deinit {
        // libdbus aborts on dropping the last reference to an open private connection.
        let handle = self.handle
        let release: @Sendable () -> Void = {
            dbus_connection_close(handle.pointer)
            dbus_connection_unref(handle.pointer)
        }
        if !loop.submit(release) { release() }
    }
}

/// The listening side: the libdbus server and the peers it accepted.
struct PeerServer {
    let server: CHandle
    let path: String
    let maximumPeers: Int
    let authenticationTime: Duration
    var peers: [BusName: PeerLink] = [:]
    var accepted: UInt64 = 0
}

extension Connection {
    /// The most peers served at once; later ones are closed at connect (their client can still
    /// use the bus).
    public static let defaultMaximumPeers = 64
    /// How long a peer may take to authenticate before it is closed.
    public static let defaultPeerAuthenticationTime = Duration.seconds(5)
    /// Bounds on what one peer may send: far above any call this service takes.
    static let peerMessageLimit = 1 << 20
    static let peerQueueLimit = 4 << 20

    /// Serves this connection's objects to peer-to-peer clients on a new AF_UNIX socket at `path`
    /// (mode 0600; the directory's safety is the caller's to check). Only the user this process
    /// runs as can authenticate (EXTERNAL). Stops with `stopServingPeers()` or when the connection
    /// closes; then libdbus removes the socket file.
    public func servePeers(at path: String, maximumPeers: Int = defaultMaximumPeers,
                           authenticationTime: Duration = defaultPeerAuthenticationTime) throws(DBusError) {
        guard isOpen else { throw .disconnected }
        guard peerServer == nil else { throw .connectionFailed("already serving peers at \(peerServer?.path ?? "")") }
        guard path.hasPrefix("/"), path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw .connectionFailed("cannot serve peers at \(path): not an absolute path short enough for a UNIX socket")
        }
        guard let escaped = dbus_address_escape_value(path) else { throw .outOfMemory }
        let address = "unix:path=" + String(cString: escaped)
        dbus_free(escaped)
        let raw = try withCError { error in dbus_server_listen(address, error) }
        // EXTERNAL only: the kernel's word on the client's uid, never a cookie or anonymity.
        let mechanisms = strdup("EXTERNAL")
        var list: [UnsafePointer<CChar>?] = [UnsafePointer(mechanisms), nil]
        let restricted = list.withUnsafeMutableBufferPointer { dbus_server_set_auth_mechanisms(raw, $0.baseAddress) }
        free(mechanisms)
        guard restricted != 0, chmod(path, 0o600) == 0 else {
            dbus_server_disconnect(raw)
            dbus_server_unref(raw)
            throw restricted == 0 ? .outOfMemory : .connectionFailed("cannot make \(path) private: \(String(cString: strerror(errno)))")
        }
        let box = Unmanaged.passRetained(PeerServerBox(self)).toOpaque()
        dbus_server_set_new_connection_function(raw, { _, peer, data in
            guard let peer, let data,
                  let connection = Unmanaged<PeerServerBox>.fromOpaque(data).takeUnretainedValue().connection else { return }
            // Called on the loop thread, from the server's watch.
            let accepted = CHandle(peer)
            connection.assumeIsolated { $0.acceptPeer(accepted) }
        }, box, { data in
            if let data { Unmanaged<PeerServerBox>.fromOpaque(data).release() }
        })
        loop.attachServer(raw)
        peerServer = PeerServer(server: CHandle(raw), path: path, maximumPeers: max(1, maximumPeers),
                                authenticationTime: authenticationTime)
    }

    /// The socket peers connect to, while serving them.
    public var peerSocketPath: String? { peerServer?.path }

    /// How many peers are connected now (for tests and debugging).
    public var peerCount: Int { peerServer?.peers.count ?? 0 }

    /// Closes every peer and the socket (libdbus removes its file). Idempotent.
    public func stopServingPeers() {
        guard let server = peerServer else { return }
        for name in server.peers.keys { dropPeer(name) }
        peerServer = nil
        loop.detachServer(server.server.pointer)
        dbus_server_disconnect(server.server.pointer)
        dbus_server_unref(server.server.pointer)
    }

    private func acceptPeer(_ handle: CHandle) {
        dropSilentPeers()
        // Not referencing the connection makes libdbus close and free it once this returns.
        guard var server = peerServer, server.peers.count < server.maximumPeers else { return }
        server.accepted += 1
        let name = BusName(uncheckedUnique: ":peer.\(server.accepted)")
        let raw = handle.pointer
        dbus_connection_set_unix_user_function(raw, { _, uid, _ in uid == UInt(getuid()) ? 1 : 0 }, nil, nil)
        dbus_connection_set_max_message_size(raw, Self.peerMessageLimit)
        dbus_connection_set_max_received_size(raw, Self.peerQueueLimit)
        var descriptor: Int32 = -1
        let peer = dbus_connection_get_socket(raw, &descriptor) != 0 ? PeerCredentials.of(descriptor) : nil
        let credentials = peer.map(Self.vouched)
        let link = PeerLink(name: name, retaining: handle, credentials: credentials, loop: loop)
        let box = Unmanaged.passRetained(PeerBox(self, name)).toOpaque()
        guard dbus_connection_add_filter(raw, peerFilter, box, { data in
            if let data { Unmanaged<PeerBox>.fromOpaque(data).release() }
        }) != 0 else {
            Unmanaged<PeerBox>.fromOpaque(box).release()
            return
        }
        loop.attachPeer(raw)
        server.peers[name] = link
        peerServer = server
        if let peer { callerCheck?.known[name] = peer.userID }
    }

    /// The peer's credentials as `GetConnectionCredentials` names them, with its pidfd.
    private static func vouched(_ peer: PeerCredentials) -> VouchedCredentials {
        var credentials: [String: Variant] = [
            "UnixUserID": Variant(.uint32(peer.userID)),
            "ProcessID": Variant(.uint32(UInt32(bitPattern: peer.processID))),
        ]
        if let label = peer.securityLabel { credentials["LinuxSecurityLabel"] = Variant(.array(elementSignature: "y", label.map { .byte($0) })) }
        return VouchedCredentials(credentials: credentials, process: peer.process)
    }

    /// Peers still not authenticated after `authenticationTime` lose their place. Checked when
    /// the next peer arrives, not by a timer: a client that connects and says nothing can only
    /// keep others out until they come, and an idle service never wakes for it.
    private func dropSilentPeers() {
        guard let server = peerServer else { return }
        let now = ContinuousClock.now
        for (name, link) in server.peers
        where now - link.acceptedAt > server.authenticationTime && dbus_connection_get_is_authenticated(link.handle.pointer) == 0 {
            dropPeer(name)
        }
    }

    /// A message from a peer, on the loop thread inside its dispatch.
    fileprivate func routePeerMessage(_ message: Message, from name: BusName) {
        if message.isSignal("org.freedesktop.DBus.Local", "Disconnected") { return dropPeer(name) }
        guard message.kind == .methodCall, let link = peerServer?.peers[name] else { return }
        // The object server and the service know callers by name; a peer gets its own.
        guard dbus_message_set_sender(message.raw, name.rawValue) != 0 else { return }
        if message.destination == .bus { return answerAsBus(message, link) }
        handleMethodCall(message, peer: link)
    }

    /// Clients written for a bus (GDBus's `--address`, sd-bus) say `Hello` first: a peer is told
    /// its name, as a bus would. Nothing else of the bus daemon's exists here.
    private func answerAsBus(_ message: Message, _ link: PeerLink) {
        let context = ReplyContext(message, peer: link)
        if message.interface == .bus, message.member == "Hello", message.signature == .empty {
            return reply(context, [.string(link.name.rawValue)])
        }
        replyError(context, .unknownMethod, "\(message.member.map(\.rawValue) ?? "this method") of the bus is not served "
                   + "on tesserad's peer-to-peer socket: it is not a bus")
    }

    /// Forgets a peer and closes its connection (once nothing replies on it any more); its name
    /// leaves as a bus client's would. Idempotent.
    private func dropPeer(_ name: BusName) {
        guard let link = peerServer?.peers.removeValue(forKey: name) else { return }
        loop.detachPeer(link.handle.pointer)
        dbus_connection_close(link.handle.pointer)
        announceDeparture(of: name)
    }

    /// Tells the caller check and every subscriber of the bus's `NameOwnerChanged` that the
    /// peer left, as the bus tells them of a client that left.
    private func announceDeparture(of name: BusName) {
        forgetCaller(name)
        deliver(SignalMessage(sender: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: "NameOwnerChanged",
                              arguments: [.string(name.rawValue), .string(name.rawValue), .string("")]))
    }

    /// What the service may know of a peer caller: the kernel's credentials, kept for the
    /// connection's life (every lookup gets them; the pidfd is shared).
    func peerCredentials(of name: BusName) -> VouchedCredentials? {
        peerServer?.peers[name]?.credentials
    }
}

/// The server's user data: a weak reference, so libdbus never keeps the actor alive.
private final class PeerServerBox {
    weak var connection: Connection?
    init(_ connection: Connection) { self.connection = connection }
}

/// A peer filter's user data: the serving connection (weakly) and the peer's name.
private final class PeerBox {
    weak var connection: Connection?
    let name: BusName
    init(_ connection: Connection, _ name: BusName) {
        self.connection = connection
        self.name = name
    }
}

/// Every message from a peer passes here (on the loop thread, inside that peer's dispatch).
private let peerFilter: DBusHandleMessageFunction = { _, message, data in
    guard let message, let data else { return DBUS_HANDLER_RESULT_NOT_YET_HANDLED }
    let box = Unmanaged<PeerBox>.fromOpaque(data).takeUnretainedValue()
    guard let connection = box.connection else { return DBUS_HANDLER_RESULT_NOT_YET_HANDLED }
    let incoming = CHandle(message)
    let name = box.name
    connection.assumeIsolated { $0.routePeerMessage(Message(retaining: incoming.pointer), from: name) }
    return DBUS_HANDLER_RESULT_HANDLED
}
