// A connection to a D-Bus message bus.
//
//     let bus = try await Connection.session()            // or Connection(address: "unix:path=…")
//
//     // Call a method:
//     let reply = try await bus.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
//                                    interface: "org.freedesktop.DBus", member: "GetNameOwner",
//                                    arguments: ["io.tessera.Agent1".dbusValue], timeout: .seconds(5))
//     let owner = try reply.decode(String.self)
//
//     // Export an interface (object first, then the name, so activated callers find the object):
//     var agent = ExportedInterface("io.tessera.Example1")
//     agent.method("Echo", inputs: [Argument("text", "s")], outputs: [Argument("text", "s")]) { call in
//         call.arguments                                   // already checked against the declared "s"
//     }
//     agent.property("Version", "u", get: { .uint32(1) })
//     // Optional: answer from a cache on the connection's thread, before any task (nil: the
//     // handler runs). The reply is marshalled once (`PreparedReply`) and kept with what it answers.
//     try agent.answerImmediately("Echo") { call in cache.withLock { $0[call.arguments] } }
//     agent.signal("Changed", arguments: [Argument("what", "s")])
//     try await bus.export(agent, at: "/io/tessera/Example1")
//     try await bus.requestName("io.tessera.Example1")       // throws DBusError.nameTaken if owned
//
//     // Emit a signal:
//     try await bus.emit(path: "/io/tessera/Example1", interface: "io.tessera.Example1",
//                        member: "Changed", arguments: [.string("accounts")])
//
//     // Also serve the exported objects peer-to-peer, without the bus daemon in between (same
//     // object server and caller check; PeerServer.swift):
//     try await bus.servePeers(at: "\(runtimeDirectory)/example/bus")
//
//     // Subscribe (AddMatch now, RemoveMatch when the stream ends):
//     for await signal in try await bus.signals(matching: MatchRule(interface: "io.tessera.Example1")) {
//         print(signal.member, signal.arguments)
//     }
//
// One pthread owns the `DBusConnection*`; it is this actor's executor (see EventLoop). Handlers
// run as tasks off that thread, so a slow handler never delays other calls.
//
// Laid out as zbus is: this file holds the actor's state, its life and the routing of incoming
// messages; Calls.swift, Signals.swift and Bus.swift (the bus daemon's methods) extend it, with
// NameOwnerTracking.swift for signals from well-known names and PeerServer.swift for peer-to-peer
// clients; ../ObjectServer holds the exported objects, the standard interfaces
// (StandardInterfaces.swift) and the caller check.

import CDBus
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public actor Connection {
    let loop: EventLoop
    let handle: CHandle
    /// This connection's unique name on the bus (`:1.42`).
    public nonisolated let uniqueName: BusName

    var isOpen = true
    var objects: [ObjectPath: [ExportedInterface]] = [:]
    /// Set by `admitCallers(ofUserID:refusing:)`.
    var callerCheck: CallerCheck?
    /// Set by `servePeers(at:)`: peer-to-peer clients served beside the bus.
    var peerServer: PeerServer?
    /// Owners of the well-known names that subscriptions name as their sender.
    var ownerTracks: [BusName: OwnerTrack] = [:]
    var subscriptions: [UInt64: Subscription] = [:]
    var pendingCalls: [UInt64: PendingReply] = [:]
    var nextID: UInt64 = 0
    var filterBox: CHandle?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    struct Subscription {
        let rule: MatchRule
        let deliver: @Sendable (SignalMessage) -> Void
        let finish: @Sendable () -> Void
    }

    /// The session bus named by `DBUS_SESSION_BUS_ADDRESS`, on a private connection of our own.
    public static func session() async throws(DBusError) -> Connection {
        try await Connection(address: sessionBusAddress())
    }

    /// Connects to the bus at `address` and registers with it (Hello).
    public init(address: String) async throws(DBusError) {
        let loop = EventLoop.forConnection(name: "dbus-connection")
        let opened: Result<(CHandle, String), DBusError> = await withCheckedContinuation { continuation in
            let accepted = loop.submit {
                continuation.resume(returning: Result { () throws(DBusError) in try Self.open(address, loop: loop) })
            }
            if !accepted { continuation.resume(returning: .failure(.disconnected)) }
        }
        let handle: CHandle, unique: String
        switch opened {
        case .success(let value): (handle, unique) = value
        case .failure(let error):
            loop.stop(closing: nil)
            throw error
        }
        self.loop = loop
        self.handle = handle
        self.uniqueName = (try? BusName(unique)) ?? BusName(uncheckedUnique: unique)
        // From here on this initializer runs isolated, i.e. on the loop thread.
        installFilter()
    }

    /// Runs on the loop thread, before the connection is shared.
    static func open(_ address: String, loop: EventLoop) throws(DBusError) -> (CHandle, String) {
        let (raw, unique) = try openRegisteredConnection(address)
        loop.attach(raw)
        return (CHandle(raw), unique)
    }

    func installFilter() {
        let box = Unmanaged.passRetained(WeakConnection(self)).toOpaque()
        filterBox = CHandle(OpaquePointer(box))
        let added = dbus_connection_add_filter(handle.pointer, connectionFilter, box, { data in
            if let data { Unmanaged<WeakConnection>.fromOpaque(data).release() }
        })
        precondition(added != 0, "libdbus ran out of memory adding a filter")
    }

    /// Removing the filter releases its box now, whoever else still holds the connection.
    func removeFilter() {
        guard let box = filterBox else { return }
        filterBox = nil
        dbus_connection_remove_filter(handle.pointer, connectionFilter, UnsafeMutableRawPointer(box.pointer))
    }

    deinit {
        for reply in pendingCalls.values { reply.finish(.failure(.disconnected)) }
        for subscription in subscriptions.values { subscription.finish() }
        loop.stop(closing: isOpen ? handle : nil)
    }

    /// Closes the connection: pending calls fail with `.disconnected`, signal streams finish,
    /// exported objects disappear. Idempotent.
    public func close() {
        guard isOpen else { return }
        shutDown()
        dbus_connection_close(handle.pointer)
        dbus_connection_unref(handle.pointer)
    }

    func shutDown() {
        stopServingPeers()
        isOpen = false
        loop.detach()
        removeFilter()
        let pending = pendingCalls
        pendingCalls.removeAll()
        for reply in pending.values {
            reply.finish(.failure(.disconnected))
            if let call = reply.takePending() {
                dbus_pending_call_cancel(call.pointer)
                dbus_pending_call_unref(call.pointer)
            }
        }
        let streams = subscriptions
        subscriptions.removeAll()
        for subscription in streams.values { subscription.finish() }
        objects.removeAll()
        ownerTracks.removeAll()
        callerCheck?.waiting.removeAll()
    }

    /// False once closed or after the bus went away.
    public var isConnected: Bool { isOpen }

    // MARK: Incoming messages (on the loop thread, inside dispatch)

    fileprivate func route(_ message: Message) -> Bool {
        switch message.kind {
        case .signal:
            if message.isSignal("org.freedesktop.DBus.Local", "Disconnected") {
                if isOpen {
                    shutDown()
                    // We are inside dbus_connection_dispatch on this connection: release it only
                    // after dispatch has returned, or the loop would touch a freed connection.
                    let handle = self.handle
                    loop.submit {
                        dbus_connection_close(handle.pointer)
                        dbus_connection_unref(handle.pointer)
                    }
                }
                return true
            }
            noteBusSignal(message)
            deliver(message)
            return false
        case .methodCall:
            handleMethodCall(message)
            return true
        default:
            return false
        }
    }

}


extension BusName {
    /// The bus's own word for our unique name; used only if it ever failed our stricter check.
    init(uncheckedUnique value: String) {
        self = (try? BusName(value)) ?? ":0.0"
    }
}


/// Every incoming message passes here first (on the loop thread, inside dispatch).
private let connectionFilter: DBusHandleMessageFunction = { _, message, data in
    guard let message, let data,
          let connection = Unmanaged<WeakConnection>.fromOpaque(data).takeUnretainedValue().connection
    else { return DBUS_HANDLER_RESULT_NOT_YET_HANDLED }
    let incoming = CHandle(message)
    let handled = connection.assumeIsolated { $0.route(Message(retaining: incoming.pointer)) }
    return handled ? DBUS_HANDLER_RESULT_HANDLED : DBUS_HANDLER_RESULT_NOT_YET_HANDLED
}

/// The filter's user data: a weak reference, so libdbus never keeps the actor alive.
private final class WeakConnection {
    weak var connection: Connection?
    init(_ connection: Connection) { self.connection = connection }
}
