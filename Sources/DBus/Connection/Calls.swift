import CDBus
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

// Method calls out: the nonisolated `call` (the continuation lives outside the actor, so a
// reply resumes its caller without a hop through the loop) and the rendezvous of a pending call.

extension Connection {
    /// Calls a method and returns the reply's arguments. A D-Bus error reply is thrown as
    /// `DBusError.remote(name:message:)`; task cancellation cancels the pending call.
    public nonisolated func call(
        destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
        arguments: [DBusValue] = [], timeout: Duration = .seconds(25)
    ) async throws(DBusError) -> [DBusValue] {
        try await call(destination: destination, path: path, interface: interface, member: member, arguments: arguments,
                       timeout: timeout, takingProcessFD: false)
    }

    /// `takingProcessFD`: the reply is GetConnectionCredentials' and its `ProcessFD` is taken
    /// (`Message.credentialsArguments`); it comes back as a trailing `.unixFD` the caller owns.
    nonisolated func call(
        destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
        arguments: [DBusValue], timeout: Duration, takingProcessFD: Bool
    ) async throws(DBusError) -> [DBusValue] {
        let message = try Message.methodCall(destination: destination, path: path, interface: interface, member: member)
        try message.append(arguments)
        let outgoing = message.releaseOwnership()
        let reply = PendingReply()
        let milliseconds = Self.milliseconds(timeout)
        let loop = self.loop
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    guard reply.install(continuation) else {
                        dbus_message_unref(outgoing.pointer)
                        return
                    }
                    let accepted = loop.submit {
                        defer { dbus_message_unref(outgoing.pointer) }
                        self.assumeIsolated { $0.startCall(outgoing, reply, milliseconds, takingProcessFD: takingProcessFD) }
                    }
                    if !accepted {
                        dbus_message_unref(outgoing.pointer)
                        reply.finish(.failure(.disconnected))
                    }
                }
            } onCancel: {
                reply.finish(.failure(.cancelled))
                if let pending = reply.takePending() {
                    // libdbus is thread-safe for this; hopping would only delay the caller.
                    dbus_pending_call_cancel(pending.pointer)
                    dbus_pending_call_unref(pending.pointer)
                }
            }
        } catch let error as DBusError {
            throw error
        } catch {
            throw .cancelled
        }
    }

    static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        if seconds >= Int64(Int32.max / 1000) { return Int32.max }  // DBUS_TIMEOUT_INFINITE
        return Int32(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// Calls the bus daemon; `then` runs on the loop thread inside the dispatch of the answer, so
    /// it sees the answer in order with the signals around it (which a continuation would not).
    func busCallOnLoop(_ member: MemberName, _ arguments: [DBusValue], takingProcessFD: Bool = false,
                       then: @escaping @Sendable (isolated Connection, Result<[DBusValue], DBusError>) -> Void) {
        let message: Message
        do {
            message = try Message.methodCall(destination: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: member)
            try message.append(arguments)
        } catch {
            return then(self, .failure(error))
        }
        let outgoing = message.releaseOwnership()
        defer { dbus_message_unref(outgoing.pointer) }
        startCall(outgoing, PendingReply(), Self.milliseconds(.seconds(25)), takingProcessFD: takingProcessFD, onLoop: then)
    }

    func startCall(_ message: CHandle, _ reply: PendingReply, _ milliseconds: Int32, takingProcessFD: Bool = false,
                           onLoop: (@Sendable (isolated Connection, Result<[DBusValue], DBusError>) -> Void)? = nil) {
        func fail(_ error: DBusError) {
            reply.finish(.failure(error))
            onLoop?(self, .failure(error))
        }
        guard isOpen else { return fail(.disconnected) }
        guard !reply.isFinished else { return }
        var pending: OpaquePointer? = nil
        guard dbus_connection_send_with_reply(handle.pointer, message.pointer, &pending, milliseconds) != 0 else {
            return fail(.outOfMemory)
        }
        guard let pending else { return fail(.disconnected) }
        nextID &+= 1
        let id = nextID
        let notify = Unmanaged.passRetained(PendingNotify(reply: reply, id: id, connection: self, takingProcessFD: takingProcessFD, onLoop: onLoop)).toOpaque()
        guard dbus_pending_call_set_notify(pending, { pending, data in
            guard let pending, let data else { return }
            let notify = Unmanaged<PendingNotify>.fromOpaque(data).takeUnretainedValue()
            let id = notify.id
            notify.connection?.assumeIsolated { _ = $0.pendingCalls.removeValue(forKey: id) }
            let result: Result<[DBusValue], DBusError> = if let raw = dbus_pending_call_steal_reply(pending) {
                Connection.result(of: Message(takingOwnership: raw), takingProcessFD: notify.takingProcessFD)
            } else {
                .failure(.disconnected)
            }
            if let onLoop = notify.onLoop { notify.connection?.assumeIsolated { onLoop($0, result) } }
            if !notify.reply.finish(result), case .success(let values) = result {
                // Nobody waits any more (cancelled): close a taken ProcessFD rather than leak it.
                for case .unixFD(let fd) in values { _ = Glibc.close(fd) }
            }
            if let own = notify.reply.takePending() { dbus_pending_call_unref(own.pointer) }
        }, notify, { data in
            if let data { Unmanaged<PendingNotify>.fromOpaque(data).release() }
        }) != 0 else {
            Unmanaged<PendingNotify>.fromOpaque(notify).release()
            dbus_pending_call_cancel(pending)
            dbus_pending_call_unref(pending)
            return fail(.outOfMemory)
        }
        if reply.attach(CHandle(pending)) {
            pendingCalls[id] = reply
        } else {
            // Cancelled between submission and now.
            dbus_pending_call_cancel(pending)
            dbus_pending_call_unref(pending)
        }
    }

    static func result(of reply: Message, takingProcessFD: Bool = false) -> Result<[DBusValue], DBusError> {
        if reply.kind == .error {
            let name = reply.errorName ?? .failed
            return .failure(.remote(name: name, message: reply.errorMessage))
        }
        guard takingProcessFD else { return Result { () throws(DBusError) in try reply.arguments() } }
        return Result { () throws(DBusError) in
            let (entries, processFD) = try reply.credentialsArguments()
            return [.dictionary(keySignature: "s", valueSignature: "v", entries)] + (processFD.map { [.unixFD($0)] } ?? [])
        }
    }
}


/// A pending call's notify user data.
private final class PendingNotify {
    let reply: PendingReply
    let id: UInt64
    weak var connection: Connection?
    let takingProcessFD: Bool
    let onLoop: (@Sendable (isolated Connection, Result<[DBusValue], DBusError>) -> Void)?
    init(reply: PendingReply, id: UInt64, connection: Connection, takingProcessFD: Bool,
         onLoop: (@Sendable (isolated Connection, Result<[DBusValue], DBusError>) -> Void)?) {
        self.reply = reply; self.id = id; self.connection = connection; self.takingProcessFD = takingProcessFD; self.onLoop = onLoop
    }
}

/// The rendezvous of one outgoing call: the awaiting continuation, the libdbus pending call, and
/// whichever of reply, timeout, cancellation or disconnect comes first (it alone resumes).
final class PendingReply: Sendable {
    private struct State {
        var continuation: CheckedContinuation<[DBusValue], any Error>?
        var result: Result<[DBusValue], DBusError>?
        var pending: CHandle?
    }
    private let state = Mutex(State())

    /// False when the outcome is already known (e.g. cancelled before we started): it resumed at once.
    func install(_ continuation: CheckedContinuation<[DBusValue], any Error>) -> Bool {
        let earlier = state.withLock { state -> Result<[DBusValue], DBusError>? in
            if state.result == nil { state.continuation = continuation }
            return state.result
        }
        guard let earlier else { return true }
        continuation.resume(with: earlier.mapError { $0 as any Error })
        return false
    }

    var isFinished: Bool { state.withLock { $0.result != nil } }

    /// False when an earlier outcome already resumed the caller (`result` was dropped).
    @discardableResult
    func finish(_ result: Result<[DBusValue], DBusError>) -> Bool {
        let (taken, continuation) = state.withLock { state -> (Bool, CheckedContinuation<[DBusValue], any Error>?) in
            guard state.result == nil else { return (false, nil) }
            state.result = result
            defer { state.continuation = nil }
            return (true, state.continuation)
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
        return taken
    }

    /// Stores the libdbus pending call; false when already finished (the caller cancels it).
    func attach(_ pending: CHandle) -> Bool {
        state.withLock { state in
            guard state.result == nil else { return false }
            state.pending = pending
            return true
        }
    }

    /// Hands our reference of the pending call to exactly one taker.
    func takePending() -> CHandle? {
        state.withLock { state in
            defer { state.pending = nil }
            return state.pending
        }
    }
}
