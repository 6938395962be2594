import CDBus

// Signals out (`emit`) and in (`signals(matching:)`): every subscription re-checks its rule and,
// for a well-known sender, that the sender owns the name now (NameOwnerTracking).

extension Connection {
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

    func subscribe<Element: Sendable>(
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

    func unsubscribe(_ id: UInt64) async {
        guard let subscription = subscriptions.removeValue(forKey: id), isOpen else { return }
        _ = try? await busCall("RemoveMatch", [.string(subscription.rule.description)])
        if let name = subscription.rule.wellKnownSender { await untrackOwner(of: name) }
    }

    func deliver(_ message: Message) {
        guard !subscriptions.isEmpty, let path = message.path, let interface = message.interface,
              let member = message.member, let arguments = try? message.arguments() else { return }
        deliver(SignalMessage(sender: message.sender, path: path, interface: interface, member: member,
                              arguments: arguments))
    }

    func deliver(_ signal: SignalMessage) {
        for subscription in subscriptions.values
        where subscription.rule.matches(signal) && comesFromOwner(signal, for: subscription.rule) {
            subscription.deliver(signal)
        }
    }
}
