import CDBus

// The object server: exported interfaces by path, and the path of one incoming method call —
// descriptor refusal, caller check, standard interfaces, then the method's immediate answer if it
// has one and it answers, else the handler; every reply is sent from the loop thread.

extension Connection {
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

    func handleMethodCall(_ message: Message, peer: PeerLink? = nil) {
        let context = ReplyContext(message, peer: peer)
        // Refused first, whatever the method: the descriptors close when libdbus frees the message.
        if message.carriesUnixFDs {
            return replyError(context, .invalidArgs, "\(message.interface.map { "\($0)." } ?? "")\(message.member.map(\.rawValue) ?? ""): "
                              + Message.unixFDRefusal)
        }
        guard admit(message, context) else { return }
        dispatchMethodCall(message, context)
    }

    /// A call whose caller is admitted: the standard interfaces, then the exported objects.
    func dispatchMethodCall(_ message: Message, _ context: ReplyContext) {
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
        guard let sender = context.sender else {
            return replyError(context, .accessDenied, "a method call without a sender is not accepted")
        }
        let arguments: [DBusValue]
        do { arguments = try message.arguments() } catch {
            return replyError(context, .invalidArgs, "\(error)")
        }
        if let answer = exported.immediateAnswers[member],
           answerImmediately(answer, ImmediateCall(sender: sender, arguments: arguments, vouched: vouchedCredentials(of: sender)),
                             declared.output, context) {
            return
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

    /// Tries a method's immediate answer: true when it answered (the reply is sent from here, inside
    /// this dispatch, with no task and no thread hand-off), false when the handler must run.
    private func answerImmediately(_ answer: ImmediateAnswer, _ call: ImmediateCall, _ output: Signature,
                                   _ context: ReplyContext) -> Bool {
        guard let prepared = answer(call), prepared.signature == output else { return false }
        guard context.expectsReply else { return true }
        // Out of memory for the copy: the handler answers instead (it fails the same way or not).
        guard let reply = prepared.reply(to: context) else { return false }
        dbus_connection_send(route(for: context).pointer, reply, nil)
        dbus_message_unref(reply)
        return true
    }

    /// Runs `work` in a task that prefers the loop thread as its executor, started at once on this
    /// thread: a handler that returns without suspending replies from inside this dispatch, with no
    /// thread hand-off at all (like a C service replying inline). A handler that awaits (an actor,
    /// a timer, another call) suspends without holding the loop, so other calls go on meanwhile;
    /// one with heavy CPU work moves it off explicitly (`Task.detached`, or
    /// `withTaskExecutorPreference(globalConcurrentExecutor)`), as it would otherwise hold up
    /// this connection while it computes.
    /// `outputSignature`, when given, is what `work` has already checked its values against.
    nonisolated func respond(_ context: ReplyContext, outputSignature: Signature? = nil,
                                     _ work: @escaping @Sendable () async throws -> [DBusValue]) {
        Task.immediate(executorPreference: loop) {
            guard let message = await Self.replyMessage(to: context, outputSignature: outputSignature, from: work),
                  context.expectsReply else { return }
            self.send(message, via: context.peer)
        }
    }

    nonisolated static func replyMessage(
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

    /// Sends at once when already on the loop thread (the usual case), else hands over to it; on
    /// the bus, or back to the peer-to-peer client `peer`.
    nonisolated func send(_ message: Message, via peer: PeerLink? = nil) {
        guard loop.isOnLoopThread else { return sendFromAnyThread(message, via: peer) }
        let outgoing = CHandle(message.raw)
        withExtendedLifetime(message) {
            assumeIsolated { connection in
                guard connection.isOpen else { return }
                dbus_connection_send((peer?.handle ?? connection.handle).pointer, outgoing.pointer, nil)
            }
        }
    }

    /// The libdbus connection a reply to `context` goes out on.
    func route(for context: ReplyContext) -> CHandle { context.peer?.handle ?? handle }

    static func errorReply(to context: ReplyContext, for error: any Error) -> Message? {
        let name: ErrorName, text: String
        if let error = error as? any DBusErrorRepresentable {
            (name, text) = (error.dbusErrorName, error.dbusErrorMessage)
        } else {
            (name, text) = (.failed, String(describing: error))
        }
        return try? Message.error(to: context, name: name, message: text)
    }

    nonisolated func sendFromAnyThread(_ message: Message, via peer: PeerLink? = nil) {
        let outgoing = message.releaseOwnership()
        let accepted = loop.submit {
            defer { dbus_message_unref(outgoing.pointer) }
            self.assumeIsolated { connection in
                guard connection.isOpen else { return }
                dbus_connection_send((peer?.handle ?? connection.handle).pointer, outgoing.pointer, nil)
            }
        }
        if !accepted { dbus_message_unref(outgoing.pointer) }
    }

    func reply(_ context: ReplyContext, _ values: [DBusValue]) {
        guard context.expectsReply, let message = try? Message.methodReturn(to: context).appending(values) else { return }
        dbus_connection_send(route(for: context).pointer, message.raw, nil)
    }

    func replyError(_ context: ReplyContext, for error: any Error) {
        guard context.expectsReply, let message = Self.errorReply(to: context, for: error) else { return }
        dbus_connection_send(route(for: context).pointer, message.raw, nil)
    }

    func replyError(_ context: ReplyContext, _ name: ErrorName, _ text: String) {
        guard context.expectsReply, let message = try? Message.error(to: context, name: name, message: text) else { return }
        dbus_connection_send(route(for: context).pointer, message.raw, nil)
    }
}


extension Message {
    fileprivate func appending(_ values: [DBusValue]) throws(DBusError) -> Message {
        try append(values)
        return self
    }
}
