import CDBus

// org.freedesktop.DBus.Introspectable, .Peer and .Properties, answered for every exported object.

extension Connection {
    /// The introspection XML this connection answers for `path`.
    public func introspectionXML(for path: ObjectPath) -> String? {
        let children = childNodes(of: path)
        guard let interfaces = objects[path] else {
            return children.isEmpty ? nil : Introspection.document(interfaces: [], children: children)
        }
        return Introspection.document(interfaces: interfaces.map(\.declaration), children: children)
    }

    func childNodes(of path: ObjectPath) -> [String] {
        let prefix = path == .root ? "/" : path.rawValue + "/"
        var names = Set<String>()
        for candidate in objects.keys where candidate.rawValue.hasPrefix(prefix) && candidate != path {
            if let first = candidate.rawValue.dropFirst(prefix.count).split(separator: "/").first {
                names.insert(String(first))
            }
        }
        return names.sorted()
    }


    func handlePeer(_ member: MemberName, _ signature: Signature, _ context: ReplyContext) {
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
                replyError(context, for: error)
            }
        default: replyError(context, .unknownMethod, "\(InterfaceName.peer) has no method \(member)")
        }
    }

    func handleProperties(_ member: MemberName, _ message: Message, _ interfaces: [ExportedInterface],
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
}
