/// A named argument of a method or signal.
public struct Argument: Sendable, Hashable {
    public var name: String?
    public var signature: Signature
    public init(_ name: String?, _ signature: Signature) { self.name = name; self.signature = signature }
}

public struct MethodDeclaration: Sendable, Hashable {
    public var name: MemberName
    public var inputs: [Argument]
    public var outputs: [Argument]
    public init(_ name: MemberName, inputs: [Argument] = [], outputs: [Argument] = []) {
        self.name = name; self.inputs = inputs; self.outputs = outputs
    }
    public var inputSignature: Signature { Signature(unchecked: inputs.map(\.signature.rawValue).joined()) }
    public var outputSignature: Signature { Signature(unchecked: outputs.map(\.signature.rawValue).joined()) }
}

public struct PropertyDeclaration: Sendable, Hashable {
    public enum Access: String, Sendable, Hashable { case read, write, readwrite }
    /// The `org.freedesktop.DBus.Property.EmitsChangedSignal` annotation.
    public enum ChangeSignal: String, Sendable, Hashable {
        case emits = "true", invalidates, const, none = "false"
    }
    public var name: MemberName
    public var signature: Signature
    public var access: Access
    public var changeSignal: ChangeSignal
    public init(_ name: MemberName, _ signature: Signature, access: Access = .read, changeSignal: ChangeSignal = .emits) {
        self.name = name; self.signature = signature; self.access = access; self.changeSignal = changeSignal
    }
    public var isReadable: Bool { access != .write }
    public var isWritable: Bool { access != .read }
}

public struct SignalDeclaration: Sendable, Hashable {
    public var name: MemberName
    public var arguments: [Argument]
    public init(_ name: MemberName, arguments: [Argument] = []) { self.name = name; self.arguments = arguments }
    public var signature: Signature { Signature(unchecked: arguments.map(\.signature.rawValue).joined()) }
}

/// The shape of an interface, without behaviour: what a contract module declares once, and what
/// both the introspection XML and the exported object's argument checks derive from.
public struct InterfaceDeclaration: Sendable, Hashable {
    public var name: InterfaceName
    public var methods: [MethodDeclaration]
    public var properties: [PropertyDeclaration]
    public var signals: [SignalDeclaration]

    public init(_ name: InterfaceName, methods: [MethodDeclaration] = [], properties: [PropertyDeclaration] = [],
                signals: [SignalDeclaration] = []) {
        self.name = name; self.methods = methods; self.properties = properties; self.signals = signals
    }

    public func method(_ name: MemberName) -> MethodDeclaration? { methods.first { $0.name == name } }
    public func property(_ name: MemberName) -> PropertyDeclaration? { properties.first { $0.name == name } }
    public func signal(_ name: MemberName) -> SignalDeclaration? { signals.first { $0.name == name } }

    /// This interface's `<interface>` element, indented by `indent` spaces.
    public func introspectionXML(indent: Int = 2) -> String {
        let pad = String(repeating: " ", count: indent)
        var xml = "\(pad)<interface name=\"\(name)\">\n"
        func argument(_ arg: Argument, direction: String?) -> String {
            var attributes = ""
            if let name = arg.name { attributes += " name=\"\(XMLText.escape(name))\"" }
            attributes += " type=\"\(XMLText.escape(arg.signature.rawValue))\""
            if let direction { attributes += " direction=\"\(direction)\"" }
            return "\(pad)    <arg\(attributes)/>\n"
        }
        for method in methods {
            if method.inputs.isEmpty && method.outputs.isEmpty {
                xml += "\(pad)  <method name=\"\(method.name)\"/>\n"
                continue
            }
            xml += "\(pad)  <method name=\"\(method.name)\">\n"
            for arg in method.inputs { xml += argument(arg, direction: "in") }
            for arg in method.outputs { xml += argument(arg, direction: "out") }
            xml += "\(pad)  </method>\n"
        }
        for signal in signals {
            if signal.arguments.isEmpty {
                xml += "\(pad)  <signal name=\"\(signal.name)\"/>\n"
                continue
            }
            xml += "\(pad)  <signal name=\"\(signal.name)\">\n"
            for arg in signal.arguments { xml += argument(arg, direction: nil) }
            xml += "\(pad)  </signal>\n"
        }
        for property in properties {
            let open = "\(pad)  <property name=\"\(property.name)\" type=\"\(XMLText.escape(property.signature.rawValue))\" access=\"\(property.access.rawValue)\""
            if property.changeSignal == .emits {
                xml += open + "/>\n"
            } else {
                xml += open + ">\n"
                xml += "\(pad)    <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"\(property.changeSignal.rawValue)\"/>\n"
                xml += "\(pad)  </property>\n"
            }
        }
        xml += "\(pad)</interface>\n"
        return xml
    }
}

/// Introspection documents, available without a connection (a contract test compares a checked-in
/// XML file with `document(...)`).
public enum Introspection {
    public static let doctype = """
        <!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
        "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">

        """

    /// The standard interfaces every exported object answers.
    public static let standardInterfaces: [InterfaceDeclaration] = [
        InterfaceDeclaration(.peer, methods: [
            MethodDeclaration("Ping"),
            MethodDeclaration("GetMachineId", outputs: [Argument("machine_uuid", "s")]),
        ]),
        InterfaceDeclaration(.introspectable, methods: [
            MethodDeclaration("Introspect", outputs: [Argument("xml_data", "s")]),
        ]),
        InterfaceDeclaration(.properties, methods: [
            MethodDeclaration("Get", inputs: [Argument("interface_name", "s"), Argument("property_name", "s")],
                              outputs: [Argument("value", "v")]),
            MethodDeclaration("GetAll", inputs: [Argument("interface_name", "s")],
                              outputs: [Argument("props", "a{sv}")]),
            MethodDeclaration("Set", inputs: [Argument("interface_name", "s"), Argument("property_name", "s"),
                                              Argument("value", "v")]),
        ], signals: [
            SignalDeclaration("PropertiesChanged", arguments: [
                Argument("interface_name", "s"), Argument("changed_properties", "a{sv}"),
                Argument("invalidated_properties", "as"),
            ]),
        ]),
    ]

    /// The full document an object answers to `Introspect`: its interfaces (plus the standard ones
    /// when `includeStandardInterfaces`) and its child nodes.
    public static func document(interfaces: [InterfaceDeclaration], children: [String] = [],
                                includeStandardInterfaces: Bool = true) -> String {
        var xml = doctype + "<node>\n"
        if includeStandardInterfaces {
            for interface in standardInterfaces { xml += interface.introspectionXML() }
        }
        for interface in interfaces { xml += interface.introspectionXML() }
        for child in children { xml += "  <node name=\"\(XMLText.escape(child))\"/>\n" }
        xml += "</node>\n"
        return xml
    }
}

// MARK: Behaviour

public typealias MethodHandler = @Sendable (MethodCall) async throws -> [DBusValue]
public typealias PropertyGetter = @Sendable () async throws -> DBusValue
public typealias PropertySetter = @Sendable (DBusValue) async throws -> Void

/// A method call delivered to an exported object.
public struct MethodCall: Sendable {
    /// The caller's unique name (`:1.42`); verify callers with `Connection.callerProcessID(of:)`.
    public let sender: BusName
    public let path: ObjectPath
    public let interface: InterfaceName
    public let member: MemberName
    /// Already checked against the declared input signature.
    public let arguments: [DBusValue]
    let reply: ReplyContext
}

/// An interface declaration bound to its handlers, ready for `Connection.export`.
public struct ExportedInterface: Sendable {
    public private(set) var declaration: InterfaceDeclaration
    private(set) var methods: [MemberName: MethodHandler] = [:]
    private(set) var getters: [MemberName: PropertyGetter] = [:]
    private(set) var setters: [MemberName: PropertySetter] = [:]
    /// Each method's joined input and output signatures, computed once rather than per call.
    private(set) var signatures: [MemberName: MethodSignatures] = [:]
    /// Synchronous answers tried before a method's handler (`answerImmediately`).
    private(set) var immediateAnswers: [MemberName: ImmediateAnswer] = [:]

    struct MethodSignatures: Sendable {
        let input: Signature
        let output: Signature
        init(_ method: MethodDeclaration) { input = method.inputSignature; output = method.outputSignature }
    }

    /// Binds handlers to a declaration made elsewhere (e.g. a contract module). Every declared method
    /// and property must have its handlers, and no handler may lack a declaration.
    public init(_ declaration: InterfaceDeclaration, methods: [MemberName: MethodHandler],
                getters: [MemberName: PropertyGetter] = [:], setters: [MemberName: PropertySetter] = [:]) throws(DBusError) {
        self.declaration = declaration
        self.methods = methods
        self.getters = getters
        self.setters = setters
        for method in declaration.methods { signatures[method.name] = MethodSignatures(method) }
        try validate()
    }

    /// Starts an empty interface to be filled with `method`, `property` and `signal`.
    public init(_ name: InterfaceName) { declaration = InterfaceDeclaration(name) }

    public mutating func method(_ name: MemberName, inputs: [Argument] = [], outputs: [Argument] = [],
                                _ handler: @escaping MethodHandler) {
        declaration.methods.removeAll { $0.name == name }
        let method = MethodDeclaration(name, inputs: inputs, outputs: outputs)
        declaration.methods.append(method)
        methods[name] = handler
        signatures[name] = MethodSignatures(method)
    }

    /// Lets `answer` reply to calls of the declared method `name` synchronously, on the connection's
    /// thread, without a task; when it declines (nil), the method's handler runs as usual. For a
    /// method whose common case is a lookup (a cached token): the handler stays the one that is
    /// always right, the answer only ever a shortcut to what the handler would return.
    public mutating func answerImmediately(_ name: MemberName, _ answer: @escaping ImmediateAnswer) throws(DBusError) {
        guard declaration.method(name) != nil else {
            throw .invalidInterface("an immediate answer for \(declaration.name).\(name) has no declared method")
        }
        immediateAnswers[name] = answer
    }

    public mutating func property(_ name: MemberName, _ signature: Signature,
                                  changeSignal: PropertyDeclaration.ChangeSignal = .emits,
                                  get: @escaping PropertyGetter, set: PropertySetter? = nil) {
        declaration.properties.removeAll { $0.name == name }
        declaration.properties.append(PropertyDeclaration(name, signature, access: set == nil ? .read : .readwrite,
                                                          changeSignal: changeSignal))
        getters[name] = get
        setters[name] = set
    }

    public mutating func signal(_ name: MemberName, arguments: [Argument] = []) {
        declaration.signals.removeAll { $0.name == name }
        declaration.signals.append(SignalDeclaration(name, arguments: arguments))
    }

    func validate() throws(DBusError) {
        let name = declaration.name
        for interface in Introspection.standardInterfaces where interface.name == name {
            throw .invalidInterface("\(name) is provided by the connection itself")
        }
        for method in declaration.methods {
            guard methods[method.name] != nil else { throw .invalidInterface("\(name).\(method.name) has no handler") }
            _ = try Signature(method.inputSignature.rawValue)
            _ = try Signature(method.outputSignature.rawValue)
        }
        for member in methods.keys where declaration.method(member) == nil {
            throw .invalidInterface("a handler for \(name).\(member) has no declaration")
        }
        for member in immediateAnswers.keys where declaration.method(member) == nil {
            throw .invalidInterface("an immediate answer for \(name).\(member) has no declared method")
        }
        for property in declaration.properties {
            guard property.signature.isSingleCompleteType else {
                throw .invalidInterface("property \(name).\(property.name) must have a single complete type, not '\(property.signature)'")
            }
            if property.isReadable && getters[property.name] == nil {
                throw .invalidInterface("readable property \(name).\(property.name) has no getter")
            }
            if property.isWritable && setters[property.name] == nil {
                throw .invalidInterface("writable property \(name).\(property.name) has no setter")
            }
        }
        for member in Set(getters.keys).union(setters.keys) where declaration.property(member) == nil {
            throw .invalidInterface("a property handler for \(name).\(member) has no declaration")
        }
        for signal in declaration.signals { _ = try Signature(signal.signature.rawValue) }
    }
}

/// A signal received through `Connection.signals(matching:)`.
public struct SignalMessage: Sendable, Hashable {
    public let sender: BusName?
    public let path: ObjectPath
    public let interface: InterfaceName
    public let member: MemberName
    public let arguments: [DBusValue]
}

/// A bus match rule for signals. Fields left nil match anything.
public struct MatchRule: Sendable, Hashable, CustomStringConvertible {
    public var sender: BusName?
    public var path: ObjectPath?
    /// Matches this path and every path below it.
    public var pathNamespace: ObjectPath?
    public var interface: InterfaceName?
    public var member: MemberName?
    /// `argN='value'` string matches (N from 0 to 63).
    public var arguments: [Int: String]

    public init(sender: BusName? = nil, path: ObjectPath? = nil, pathNamespace: ObjectPath? = nil,
                interface: InterfaceName? = nil, member: MemberName? = nil, arguments: [Int: String] = [:]) {
        self.sender = sender; self.path = path; self.pathNamespace = pathNamespace
        self.interface = interface; self.member = member; self.arguments = arguments
    }

    /// The rule in the bus's syntax (`type='signal',interface='…'`).
    public var description: String {
        func quote(_ value: String) -> String {
            // Inside quotes only the quote itself needs care: close, escaped quote, reopen.
            "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        var parts = ["type='signal'"]
        if let sender { parts.append("sender=" + quote(sender.rawValue)) }
        if let path { parts.append("path=" + quote(path.rawValue)) }
        if let pathNamespace { parts.append("path_namespace=" + quote(pathNamespace.rawValue)) }
        if let interface { parts.append("interface=" + quote(interface.rawValue)) }
        if let member { parts.append("member=" + quote(member.rawValue)) }
        for (index, value) in arguments.sorted(by: { $0.key < $1.key }) { parts.append("arg\(index)=" + quote(value)) }
        return parts.joined(separator: ",")
    }

    /// The local half of matching: the bus delivers the union of every rule of this connection (and
    /// any signal addressed to it), so each stream re-checks its own rule. A well-known `sender` is
    /// checked by the connection against the name's current owner (`comesFromOwner`).
    func matches(_ signal: SignalMessage) -> Bool {
        if let sender, sender.isUnique || sender == .bus, signal.sender != sender { return false }
        if let path, signal.path != path { return false }
        if let pathNamespace, pathNamespace != .root, signal.path != pathNamespace,
           !signal.path.rawValue.hasPrefix(pathNamespace.rawValue + "/") { return false }
        if let interface, signal.interface != interface { return false }
        if let member, signal.member != member { return false }
        for (index, value) in arguments {
            guard index < signal.arguments.count, case .string(let actual) = signal.arguments[index],
                  actual == value else { return false }
        }
        return true
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
