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
//     agent.signal("Changed", arguments: [Argument("what", "s")])
//     try await bus.export(agent, at: "/io/tessera/Example1")
//     try await bus.requestName("io.tessera.Example1")       // throws DBusError.nameTaken if owned
//
//     // Emit a signal:
//     try await bus.emit(path: "/io/tessera/Example1", interface: "io.tessera.Example1",
//                        member: "Changed", arguments: [.string("accounts")])
//
//     // Subscribe (AddMatch now, RemoveMatch when the stream ends):
//     for await signal in try await bus.signals(matching: MatchRule(interface: "io.tessera.Example1")) {
//         print(signal.member, signal.arguments)
//     }
//
// One pthread owns the `DBusConnection*`; it is this actor's executor (see EventLoop). Handlers
// run as tasks off that thread, so a slow handler never delays other calls.

import CDBus
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Options for `Connection.requestName`; DO_NOT_QUEUE is always set.
public struct NameRequestOptions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Let a later `requestName(…, options: .replaceExisting)` take the name from us.
    public static let allowReplacement = NameRequestOptions(rawValue: 0x1)
    /// Take the name from its owner if that owner allowed replacement.
    public static let replaceExisting = NameRequestOptions(rawValue: 0x2)
}

/// A `NameOwnerChanged` signal: `oldOwner`/`newOwner` are nil when the name had/has no owner.
public struct NameOwnerChange: Sendable, Hashable {
    public let name: BusName
    public let oldOwner: BusName?
    public let newOwner: BusName?
}

public actor Connection {
    private let loop: EventLoop
    private let handle: CHandle
    /// This connection's unique name on the bus (`:1.42`).
    public nonisolated let uniqueName: BusName

    var isOpen = true
    private var objects: [ObjectPath: [ExportedInterface]] = [:]
    /// Set by `admitCallers(ofUserID:refusing:)`.
    var callerCheck: CallerCheck?
    /// Owners of the well-known names that subscriptions name as their sender.
    var ownerTracks: [BusName: OwnerTrack] = [:]
    private var subscriptions: [UInt64: Subscription] = [:]
    private var pendingCalls: [UInt64: PendingReply] = [:]
    private var nextID: UInt64 = 0
    private var filterBox: CHandle?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    private struct Subscription {
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
        let loop = EventLoop(name: "dbus-connection")
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
    private static func open(_ address: String, loop: EventLoop) throws(DBusError) -> (CHandle, String) {
        let (raw, unique) = try openRegisteredConnection(address)
        loop.attach(raw)
        return (CHandle(raw), unique)
    }

    private func installFilter() {
        let box = Unmanaged.passRetained(WeakConnection(self)).toOpaque()
        filterBox = CHandle(OpaquePointer(box))
        let added = dbus_connection_add_filter(handle.pointer, connectionFilter, box, { data in
            if let data { Unmanaged<WeakConnection>.fromOpaque(data).release() }
        })
        precondition(added != 0, "libdbus ran out of memory adding a filter")
    }

    /// Removing the filter releases its box now, whoever else still holds the connection.
    private func removeFilter() {
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

    private func shutDown() {
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

    // MARK: Calls

    /// Calls a method and returns the reply's arguments. A D-Bus error reply is thrown as
    /// `DBusError.remote(name:message:)`; task cancellation cancels the pending call.
    public nonisolated func call(
        destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
        arguments: [DBusValue] = [], timeout: Duration = .seconds(25)
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
                        self.assumeIsolated { $0.startCall(outgoing, reply, milliseconds) }
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
    func busCallOnLoop(_ member: MemberName, _ arguments: [DBusValue],
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
        startCall(outgoing, PendingReply(), Self.milliseconds(.seconds(25)), onLoop: then)
    }

    private func startCall(_ message: CHandle, _ reply: PendingReply, _ milliseconds: Int32,
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
        let notify = Unmanaged.passRetained(PendingNotify(reply: reply, id: id, connection: self, onLoop: onLoop)).toOpaque()
        guard dbus_pending_call_set_notify(pending, { pending, data in
            guard let pending, let data else { return }
            let notify = Unmanaged<PendingNotify>.fromOpaque(data).takeUnretainedValue()
            let id = notify.id
            notify.connection?.assumeIsolated { _ = $0.pendingCalls.removeValue(forKey: id) }
            let result: Result<[DBusValue], DBusError> = if let raw = dbus_pending_call_steal_reply(pending) {
                Connection.result(of: Message(takingOwnership: raw))
            } else {
                .failure(.disconnected)
            }
            if let onLoop = notify.onLoop { notify.connection?.assumeIsolated { onLoop($0, result) } }
            notify.reply.finish(result)
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

    private static func result(of reply: Message) -> Result<[DBusValue], DBusError> {
        if reply.kind == .error {
            let name = reply.errorName ?? .failed
            return .failure(.remote(name: name, message: reply.errorMessage))
        }
        return Result { () throws(DBusError) in try reply.arguments() }
    }

    // MARK: Signals

    /// Emits a signal from `path`.
    public func emit(path: ObjectPath, interface: InterfaceName, member: MemberName,
                     arguments: [DBusValue] = [], destination: BusName? = nil) throws(DBusError) {
        guard isOpen else { throw .disconnected }
        let message = try Message.signal(path: path, interface: interface, member: member)
        if let destination { dbus_message_set_destination(message.raw, destination.rawValue) }
        try message.append(arguments)
        guard dbus_connection_send(handle.pointer, message.raw, nil) != 0 else { throw .outOfMemory }
    }

    /// Emits `org.freedesktop.DBus.Properties.PropertiesChanged` for `interface` at `path`.
    public func emitPropertiesChanged(path: ObjectPath, interface: InterfaceName,
                                      changed: [MemberName: DBusValue], invalidated: [MemberName] = []) throws(DBusError) {
        try emit(path: path, interface: .properties, member: "PropertiesChanged", arguments: [
            .string(interface.rawValue),
            .dictionary(Dictionary(uniqueKeysWithValues: changed.map { ($0.key.rawValue, $0.value) })),
            .array(of: "s", invalidated.map { .string($0.rawValue) }),
        ])
    }

    /// Signals matching `rule`, from now until the stream is dropped (then RemoveMatch) or the
    /// connection closes (the stream finishes). The match is active when this returns.
    public func signals(matching rule: MatchRule) async throws(DBusError) -> AsyncStream<SignalMessage> {
        let (stream, continuation) = AsyncStream.makeStream(of: SignalMessage.self, bufferingPolicy: .bufferingNewest(4096))
        try await subscribe(rule, continuation: continuation) { $0 }
        return stream
    }

    private func subscribe<Element: Sendable>(
        _ rule: MatchRule, continuation: AsyncStream<Element>.Continuation,
        transform: @escaping @Sendable (SignalMessage) -> Element?
    ) async throws(DBusError) {
        guard isOpen else { throw .disconnected }
        if let name = rule.wellKnownSender { try await trackOwner(of: name) }
        nextID &+= 1
        let id = nextID
        subscriptions[id] = Subscription(rule: rule, deliver: { signal in
            if let element = transform(signal) { continuation.yield(element) }
        }, finish: { continuation.finish() })
        do {
            try await busCall("AddMatch", [.string(rule.description)])
        } catch {
            subscriptions[id] = nil
            if let name = rule.wellKnownSender { await untrackOwner(of: name) }
            throw error
        }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            Task { await self.unsubscribe(id) }
        }
    }

    private func unsubscribe(_ id: UInt64) async {
        guard let subscription = subscriptions.removeValue(forKey: id), isOpen else { return }
        _ = try? await busCall("RemoveMatch", [.string(subscription.rule.description)])
        if let name = subscription.rule.wellKnownSender { await untrackOwner(of: name) }
    }

    private func deliver(_ message: Message) {
        guard !subscriptions.isEmpty, let path = message.path, let interface = message.interface,
              let member = message.member, let arguments = try? message.arguments() else { return }
        let signal = SignalMessage(sender: message.sender, path: path, interface: interface, member: member,
                                   arguments: arguments)
        for subscription in subscriptions.values
        where subscription.rule.matches(signal) && comesFromOwner(signal, for: subscription.rule) {
            subscription.deliver(signal)
        }
    }

    // MARK: Names and the bus

    @discardableResult
    nonisolated func busCall(_ member: MemberName, _ arguments: [DBusValue]) async throws(DBusError) -> [DBusValue] {
        try await call(destination: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: member,
                       arguments: arguments, timeout: .seconds(25))
    }

    /// Claims `name` without queueing. Throws `DBusError.nameTaken` when another connection owns it
    /// (unless it allowed replacement and `options` holds `.replaceExisting`).
    public nonisolated func requestName(_ name: BusName, options: NameRequestOptions = []) async throws(DBusError) {
        let flags = options.rawValue | 0x4  // DBUS_NAME_FLAG_DO_NOT_QUEUE
        let reply = try await busCall("RequestName", [.string(name.rawValue), .uint32(flags)])
        switch try reply.decode(UInt32.self) {
        case 1, 4: return  // primary owner / already owner
        default: throw .nameTaken(name)
        }
    }

    /// Gives up `name`; false when we did not own it.
    @discardableResult
    public nonisolated func releaseName(_ name: BusName) async throws(DBusError) -> Bool {
        try await busCall("ReleaseName", [.string(name.rawValue)]).decode(UInt32.self) == 1
    }

    /// The unique name owning `name`, or nil when nobody does.
    public nonisolated func nameOwner(of name: BusName) async throws(DBusError) -> BusName? {
        do {
            return try await busCall("GetNameOwner", [.string(name.rawValue)]).decode(BusName.self)
        } catch where error.isRemote(.nameHasNoOwner) {
            return nil
        }
    }

    /// Every name currently on the bus.
    public nonisolated func listNames() async throws(DBusError) -> [String] {
        try await busCall("ListNames", []).decode([String].self)
    }

    /// The process ID of the connection `sender` (a caller's unique name), as the bus daemon saw it.
    public nonisolated func callerProcessID(of sender: BusName) async throws(DBusError) -> UInt32 {
        try await busCall("GetConnectionUnixProcessID", [.string(sender.rawValue)]).decode(UInt32.self)
    }

    /// The Unix user ID of the connection `sender`.
    public nonisolated func callerUserID(of sender: BusName) async throws(DBusError) -> UInt32 {
        try await busCall("GetConnectionUnixUser", [.string(sender.rawValue)]).decode(UInt32.self)
    }

    /// `GetConnectionCredentials`: `ProcessID` (u), `UnixUserID` (u), `LinuxSecurityLabel` (ay), … .
    public nonisolated func credentials(of sender: BusName) async throws(DBusError) -> [String: Variant] {
        try await busCall("GetConnectionCredentials", [.string(sender.rawValue)]).decode([String: Variant].self)
    }

    /// `NameOwnerChanged` for `name` (or every name when nil).
    public func nameOwnerChanges(for name: BusName? = nil) async throws(DBusError) -> AsyncStream<NameOwnerChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: NameOwnerChange.self, bufferingPolicy: .bufferingNewest(4096))
        try await subscribe(.nameOwnerChanged(of: name), continuation: continuation) { signal in
            guard let (name, old, new) = try? signal.arguments.decode(String.self, String.self, String.self),
                  let busName = try? BusName(name) else { return nil }
            return NameOwnerChange(name: busName, oldOwner: try? BusName(old), newOwner: try? BusName(new))
        }
        return stream
    }

    /// Names this connection loses (`NameLost`), e.g. to a `replaceExisting` request.
    public func namesLost() async throws(DBusError) -> AsyncStream<BusName> {
        let (stream, continuation) = AsyncStream.makeStream(of: BusName.self, bufferingPolicy: .bufferingNewest(256))
        let rule = MatchRule(sender: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: "NameLost")
        try await subscribe(rule, continuation: continuation) { signal in
            try? signal.arguments.decode(BusName.self)
        }
        return stream
    }

    // MARK: Exported objects

    /// Exports `interfaces` at `path`. Throws `.alreadyExported` if the path is taken.
    public func export(_ interfaces: [ExportedInterface], at path: ObjectPath) throws(DBusError) {
        guard isOpen else { throw .disconnected }
        guard objects[path] == nil else { throw .alreadyExported(path) }
        var seen = Set<InterfaceName>()
        for interface in interfaces {
            try interface.validate()
            guard seen.insert(interface.declaration.name).inserted else {
                throw .invalidInterface("\(interface.declaration.name) is listed twice for \(path)")
            }
        }
        objects[path] = interfaces
    }

    public func export(_ interface: ExportedInterface, at path: ObjectPath) throws(DBusError) {
        try export([interface], at: path)
    }

    /// Removes the object at `path`; later calls to it get `UnknownObject`. False if nothing was there.
    @discardableResult
    public func unexport(_ path: ObjectPath) -> Bool {
        objects.removeValue(forKey: path) != nil
    }

    /// The paths currently exported.
    public var exportedPaths: [ObjectPath] { objects.keys.sorted() }

    /// The introspection XML this connection answers for `path`.
    public func introspectionXML(for path: ObjectPath) -> String? {
        let children = childNodes(of: path)
        guard let interfaces = objects[path] else {
            return children.isEmpty ? nil : Introspection.document(interfaces: [], children: children)
        }
        return Introspection.document(interfaces: interfaces.map(\.declaration), children: children)
    }

    private func childNodes(of path: ObjectPath) -> [String] {
        let prefix = path == .root ? "/" : path.rawValue + "/"
        var names = Set<String>()
        for candidate in objects.keys where candidate.rawValue.hasPrefix(prefix) && candidate != path {
            if let first = candidate.rawValue.dropFirst(prefix.count).split(separator: "/").first {
                names.insert(String(first))
            }
        }
        return names.sorted()
    }

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

    private func handleMethodCall(_ message: Message) {
        let context = ReplyContext(message)
        // Refused first, whatever the method: the descriptors close when libdbus frees the message.
        if message.carriesUnixFDs {
            return replyError(context, .invalidArgs, "\(message.interface.map { "\($0)." } ?? "")\(message.member.map(\.rawValue) ?? ""): "
                              + Message.unixFDRefusal)
        }
        guard admit(message, context) else { return }
        dispatchMethodCall(message)
    }

    /// A call whose caller is admitted: the standard interfaces, then the exported objects.
    func dispatchMethodCall(_ message: Message) {
        let context = ReplyContext(message)
        guard let path = message.path, let member = message.member else {
            return replyError(context, .unknownMethod, "a method call needs a path and a member")
        }
        let interfaceName = message.interface
        let signature = message.signature

        if interfaceName == nil || interfaceName == .introspectable, member == "Introspect" {
            guard let xml = introspectionXML(for: path) else {
                return replyError(context, .unknownObject, "no object at path \(path)")
            }
            return reply(context, [.string(xml)])
        }
        if interfaceName == .peer {
            return handlePeer(member, signature, context)
        }
        guard let interfaces = objects[path] else {
            return replyError(context, .unknownObject, "no object at path \(path)")
        }
        if interfaceName == .properties {
            return handleProperties(member, message, interfaces, path, context)
        }
        let exported: ExportedInterface
        if let interfaceName {
            guard let found = interfaces.first(where: { $0.declaration.name == interfaceName }) else {
                return replyError(context, .unknownInterface, "object \(path) has no interface \(interfaceName)")
            }
            exported = found
        } else {
            guard let found = interfaces.first(where: { $0.declaration.method(member) != nil }) else {
                return replyError(context, .unknownMethod, "object \(path) has no method \(member)")
            }
            exported = found
        }
        guard let handler = exported.methods[member], let declared = exported.signatures[member] else {
            return replyError(context, .unknownMethod,
                              "interface \(exported.declaration.name) has no method \(member)")
        }
        guard signature == declared.input else {
            return replyError(context, .invalidArgs,
                              "\(exported.declaration.name).\(member) takes arguments of type '\(declared.input)', got '\(signature)'")
        }
        guard let sender = message.sender else {
            return replyError(context, .accessDenied, "a method call without a sender is not accepted")
        }
        let arguments: [DBusValue]
        do { arguments = try message.arguments() } catch {
            return replyError(context, .invalidArgs, "\(error)")
        }
        let interface = exported.declaration.name
        let call = MethodCall(sender: sender, path: path, interface: interface, member: member,
                              arguments: arguments, reply: context)
        respond(context, outputSignature: declared.output) {
            let values = try await handler(call)
            guard values.signature == declared.output else {
                throw DBusError.remote(name: .failed,
                                       message: "\(interface).\(member) returned values of type '\(values.signature)' but declares '\(declared.output)'")
            }
            return values
        }
    }

    private func handlePeer(_ member: MemberName, _ signature: Signature, _ context: ReplyContext) {
        guard signature == .empty else {
            return replyError(context, .invalidArgs, "\(InterfaceName.peer).\(member) takes no arguments, got '\(signature)'")
        }
        switch member {
        case "Ping": reply(context, [])
        case "GetMachineId":
            do {
                let id = try withCError { dbus_try_get_local_machine_id($0) }
                defer { dbus_free(id) }
                reply(context, [.string(String(cString: id))])
            } catch {
                replyError(context, .failed, "\(error)")
            }
        default: replyError(context, .unknownMethod, "\(InterfaceName.peer) has no method \(member)")
        }
    }

    private func handleProperties(_ member: MemberName, _ message: Message, _ interfaces: [ExportedInterface],
                                  _ path: ObjectPath, _ context: ReplyContext) {
        let expected: Signature
        switch member {
        case "Get": expected = "ss"
        case "GetAll": expected = "s"
        case "Set": expected = "ssv"
        default: return replyError(context, .unknownMethod, "\(InterfaceName.properties) has no method \(member)")
        }
        let signature = message.signature
        guard signature == expected, let arguments = try? message.arguments(),
              case .string(let interfaceString) = arguments[0] else {
            return replyError(context, .invalidArgs,
                              "\(InterfaceName.properties).\(member) takes arguments of type '\(expected)', got '\(signature)'")
        }
        guard let exported = interfaces.first(where: { $0.declaration.name.rawValue == interfaceString }) else {
            return replyError(context, .unknownInterface, "object \(path) has no interface '\(interfaceString)'")
        }
        let interfaceName = exported.declaration.name
        if member == "GetAll" {
            let readable = exported.declaration.properties.filter(\.isReadable)
            let getters = exported.getters
            return respond(context) {
                var values: [String: DBusValue] = [:]
                for property in readable {
                    guard let getter = getters[property.name] else { continue }
                    let value = try await getter()
                    guard value.signature == property.signature else {
                        throw DBusError.remote(name: .failed,
                                               message: "property \(interfaceName).\(property.name) returned '\(value.signature)' but declares '\(property.signature)'")
                    }
                    values[property.name.rawValue] = value
                }
                return [.dictionary(values)]
            }
        }
        guard case .string(let propertyString) = arguments[1],
              let property = exported.declaration.properties.first(where: { $0.name.rawValue == propertyString }) else {
            return replyError(context, .unknownProperty, "interface \(interfaceName) has no property '\(arguments[1].unwrappedVariant)'")
        }
        if member == "Get" {
            guard property.isReadable, let getter = exported.getters[property.name] else {
                return replyError(context, .accessDenied, "property \(interfaceName).\(property.name) is write-only")
            }
            return respond(context) {
                let value = try await getter()
                guard value.signature == property.signature else {
                    throw DBusError.remote(name: .failed,
                                           message: "property \(interfaceName).\(property.name) returned '\(value.signature)' but declares '\(property.signature)'")
                }
                return [.variant(value)]
            }
        }
        guard property.isWritable, let setter = exported.setters[property.name] else {
            return replyError(context, .propertyReadOnly, "property \(interfaceName).\(property.name) is read-only")
        }
        let value = arguments[2].unwrappedVariant
        guard value.signature == property.signature else {
            return replyError(context, .invalidArgs,
                              "property \(interfaceName).\(property.name) has type '\(property.signature)', got '\(value.signature)'")
        }
        let emits = property.changeSignal
        respond(context) {
            try await setter(value)
            switch emits {
            case .emits:
                try await self.emitPropertiesChanged(path: path, interface: interfaceName, changed: [property.name: value])
            case .invalidates:
                try await self.emitPropertiesChanged(path: path, interface: interfaceName, changed: [:],
                                                     invalidated: [property.name])
            case .const, .none: break
            }
            return []
        }
    }

    /// Runs `work` in a task that prefers the loop thread as its executor, started at once on this
    /// thread: a handler that returns without suspending replies from inside this dispatch, with no
    /// thread hand-off at all (like a C service replying inline). A handler that awaits (an actor,
    /// a timer, another call) suspends without holding the loop, so other calls go on meanwhile;
    /// one with heavy CPU work moves it off explicitly (`Task.detached`, or
    /// `withTaskExecutorPreference(globalConcurrentExecutor)`), as it would otherwise hold up
    /// this connection while it computes.
    /// `outputSignature`, when given, is what `work` has already checked its values against.
    private nonisolated func respond(_ context: ReplyContext, outputSignature: Signature? = nil,
                                     _ work: @escaping @Sendable () async throws -> [DBusValue]) {
        Task.immediate(executorPreference: loop) {
            guard let message = await Self.replyMessage(to: context, outputSignature: outputSignature, from: work),
                  context.expectsReply else { return }
            self.send(message)
        }
    }

    private nonisolated static func replyMessage(
        to context: ReplyContext, outputSignature: Signature?, from work: @Sendable () async throws -> [DBusValue]
    ) async -> Message? {
        do {
            let values = try await work()
            do {
                let reply = try Message.methodReturn(to: context)
                if let outputSignature {
                    try reply.append(values, checkedSignature: outputSignature)
                } else {
                    try reply.append(values)
                }
                return reply
            } catch {
                return try? Message.error(to: context, name: .failed, message: "the reply could not be marshalled: \(error)")
            }
        } catch {
            return errorReply(to: context, for: error)
        }
    }

    /// Sends at once when already on the loop thread (the usual case), else hands over to it.
    private nonisolated func send(_ message: Message) {
        guard loop.isOnLoopThread else { return sendFromAnyThread(message) }
        let outgoing = CHandle(message.raw)
        withExtendedLifetime(message) {
            assumeIsolated { connection in
                guard connection.isOpen else { return }
                dbus_connection_send(connection.handle.pointer, outgoing.pointer, nil)
            }
        }
    }

    private static func errorReply(to context: ReplyContext, for error: any Error) -> Message? {
        let name: ErrorName, text: String
        if let error = error as? any DBusErrorRepresentable {
            (name, text) = (error.dbusErrorName, error.dbusErrorMessage)
        } else {
            (name, text) = (.failed, String(describing: error))
        }
        return try? Message.error(to: context, name: name, message: text)
    }

    private nonisolated func sendFromAnyThread(_ message: Message) {
        let outgoing = message.releaseOwnership()
        let accepted = loop.submit {
            defer { dbus_message_unref(outgoing.pointer) }
            self.assumeIsolated { connection in
                guard connection.isOpen else { return }
                dbus_connection_send(connection.handle.pointer, outgoing.pointer, nil)
            }
        }
        if !accepted { dbus_message_unref(outgoing.pointer) }
    }

    private func reply(_ context: ReplyContext, _ values: [DBusValue]) {
        guard context.expectsReply, let message = try? Message.methodReturn(to: context).appending(values) else { return }
        dbus_connection_send(handle.pointer, message.raw, nil)
    }

    func replyError(_ context: ReplyContext, for error: any Error) {
        guard context.expectsReply, let message = Self.errorReply(to: context, for: error) else { return }
        dbus_connection_send(handle.pointer, message.raw, nil)
    }

    func replyError(_ context: ReplyContext, _ name: ErrorName, _ text: String) {
        guard context.expectsReply, let message = try? Message.error(to: context, name: name, message: text) else { return }
        dbus_connection_send(handle.pointer, message.raw, nil)
    }
}

extension Message {
    fileprivate func appending(_ values: [DBusValue]) throws(DBusError) -> Message {
        try append(values)
        return self
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

/// A pending call's notify user data.
private final class PendingNotify {
    let reply: PendingReply
    let id: UInt64
    weak var connection: Connection?
    let onLoop: (@Sendable (isolated Connection, Result<[DBusValue], DBusError>) -> Void)?
    init(reply: PendingReply, id: UInt64, connection: Connection,
         onLoop: (@Sendable (isolated Connection, Result<[DBusValue], DBusError>) -> Void)?) {
        self.reply = reply; self.id = id; self.connection = connection; self.onLoop = onLoop
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

    func finish(_ result: Result<[DBusValue], DBusError>) {
        let continuation = state.withLock { state -> CheckedContinuation<[DBusValue], any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
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
