import DBus

/// The typed contract: names as validated DBus types, the two interface declarations the service
/// exports (and the introspection XML derives from), and the shapes of every argument and reply.
public enum AgentContract {
    public static let busName = BusName(stringLiteral: AgentBus.name)
    public static let objectPath = ObjectPath(stringLiteral: AgentBus.objectPath)
    public static let interfaceName = InterfaceName(stringLiteral: AgentBus.interface)
    public static let deviceFlowInterfaceName = InterfaceName(stringLiteral: AgentBus.deviceFlowInterface)
    public static let flowPathPrefix = ObjectPath(stringLiteral: AgentBus.flowPathPrefix)

    /// `/io/tessera/Agent1/flows/<number>`.
    public static func flowPath(_ number: Int) -> ObjectPath {
        ObjectPath(stringLiteral: "\(AgentBus.flowPathPrefix)/\(number)")
    }

    public static func member(_ method: AgentMethod) -> MemberName { MemberName(stringLiteral: method.rawValue) }
    public static func member(_ signal: AgentSignal) -> MemberName { MemberName(stringLiteral: signal.rawValue) }
    public static func member(_ property: AgentProperty) -> MemberName { MemberName(stringLiteral: property.rawValue) }
    public static func errorName(_ name: AgentErrorName) -> ErrorName { ErrorName(stringLiteral: name.wireName) }

    /// `io.tessera.Agent1`.
    public static let agentInterface = InterfaceDeclaration(
        interfaceName,
        methods: [
            MethodDeclaration(member(.getToken),
                              inputs: [Argument("account", "s"), Argument("options", "a{sv}")],
                              outputs: [Argument("token", "s"), Argument("expires_at", "x"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.startDeviceFlow),
                              inputs: [Argument("account", "s"), Argument("options", "a{sv}")],
                              outputs: [Argument("flow", "o"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.revoke),
                              inputs: [Argument("account", "s"), Argument("options", "a{sv}")],
                              outputs: [Argument("revoked_at_provider", "b")]),
            MethodDeclaration(member(.addAccount),
                              inputs: [Argument("name", "s"), Argument("settings", "a{sv}")]),
            MethodDeclaration(member(.removeAccount),
                              inputs: [Argument("name", "s"), Argument("options", "a{sv}")]),
            MethodDeclaration(member(.listAccounts),
                              outputs: [Argument("accounts", "a(sa{sv})")]),
            MethodDeclaration(member(.startBrowserLogin),
                              inputs: [Argument("account", "s"), Argument("options", "a{sv}")],
                              outputs: [Argument("flow", "o"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.createMytoken),
                              inputs: [Argument("account", "s"), Argument("request", "a{sv}")],
                              outputs: [Argument("token", "s"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.getTokenWithMytoken),
                              inputs: [Argument("mytoken", "s"), Argument("options", "a{sv}")],
                              outputs: [Argument("token", "s"), Argument("expires_at", "x"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.exchangeTransferCode),
                              inputs: [Argument("transfer_code", "s"), Argument("options", "a{sv}")],
                              outputs: [Argument("token", "s"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.revokeMytoken),
                              inputs: [Argument("mytoken", "s"), Argument("options", "a{sv}")]),
            MethodDeclaration(member(.listMytokenTemplates),
                              inputs: [Argument("options", "a{sv}")],
                              outputs: [Argument("json", "s"), Argument("entries", "a{ss}")]),
            MethodDeclaration(member(.mytokenInfo),
                              inputs: [Argument("account", "s"), Argument("action", "s"), Argument("options", "a{sv}")],
                              outputs: [Argument("json", "s"), Argument("rows", "aa{ss}"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.startMytokenLogin),
                              inputs: [Argument("request", "a{sv}")],
                              outputs: [Argument("flow", "o"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.finishMytokenLogin),
                              inputs: [Argument("flow", "o")],
                              outputs: [Argument("token", "s"), Argument("info", "a{sv}")]),
            MethodDeclaration(member(.loginWithPassword),
                              inputs: [Argument("account", "s"), Argument("options", "a{sv}")]),
            MethodDeclaration(member(.listProviders),
                              outputs: [Argument("providers", "a(sa{sv})")]),
            MethodDeclaration(member(.setAccount),
                              inputs: [Argument("name", "s"), Argument("settings", "a{sv}")]),
            MethodDeclaration(member(.renameAccount),
                              inputs: [Argument("old", "s"), Argument("new", "s")]),
            MethodDeclaration(member(.getIdToken),
                              inputs: [Argument("account", "s"), Argument("options", "a{sv}")],
                              outputs: [Argument("id_token", "s"), Argument("expires_at", "x")]),
            MethodDeclaration(member(.getSettings),
                              outputs: [Argument("settings", "a{sv}")]),
            MethodDeclaration(member(.setSettings),
                              inputs: [Argument("settings", "a{sv}")]),
            MethodDeclaration(member(.getPolicy),
                              inputs: [Argument("account", "s")],
                              outputs: [Argument("default", "s"), Argument("rules", "a(ss)")]),
            MethodDeclaration(member(.setPolicy),
                              inputs: [Argument("account", "s"), Argument("default", "s")]),
            MethodDeclaration(member(.setApplicationPolicy),
                              inputs: [Argument("account", "s"), Argument("application", "s"), Argument("decision", "s")]),
            MethodDeclaration(member(.forgetApplication),
                              inputs: [Argument("account", "s"), Argument("application", "s")]),
        ],
        properties: [
            PropertyDeclaration(member(.version), "s", changeSignal: .const),
            PropertyDeclaration(member(.providerProblems), "as", changeSignal: .none),
        ],
        signals: [
            SignalDeclaration(member(.loginRequired), arguments: [Argument("account", "s")]),
            SignalDeclaration(member(.loginCompleted), arguments: [Argument("account", "s")]),
            SignalDeclaration(member(.accountsChanged)),
        ])

    /// `io.tessera.DeviceFlow1`, one object per login in progress.
    public static let deviceFlowInterface = InterfaceDeclaration(
        deviceFlowInterfaceName,
        methods: [MethodDeclaration(MemberName(stringLiteral: DeviceFlowMember.cancel))],
        properties: [
            PropertyDeclaration(MemberName(stringLiteral: DeviceFlowMember.state), "s"),
            PropertyDeclaration(MemberName(stringLiteral: DeviceFlowMember.account), "s", changeSignal: .const),
        ],
        signals: [
            SignalDeclaration(MemberName(stringLiteral: DeviceFlowMember.completed)),
            SignalDeclaration(MemberName(stringLiteral: DeviceFlowMember.failed),
                              arguments: [Argument("error_name", "s"), Argument("message", "s")]),
        ])

    /// What `/io/tessera/Agent1` answers to `Introspect` while no flow object exists; the file
    /// `dbus/io.tessera.Agent1.xml` holds exactly this (a test compares both with the live service).
    public static var introspectionXML: String { Introspection.document(interfaces: [agentInterface]) }
}

/// `GetToken`'s options, for both sides: the CLI encodes them, the service decodes (strictly).
public struct GetTokenOptions: OptionsMessage {
    public var scopes: [String]?
    public var audience: [String]?
    public var minValid: UInt32?
    public var force: Bool?
    public var interactive: Bool?
    public var timeout: UInt32?
    public var application: String?

    public init(scopes: [String]? = nil, audience: [String]? = nil, minValid: UInt32? = nil, force: Bool? = nil,
                interactive: Bool? = nil, timeout: UInt32? = nil, application: String? = nil) {
        self.scopes = scopes
        self.audience = audience
        self.minValid = minValid
        self.force = force
        self.interactive = interactive
        self.timeout = timeout
        self.application = application
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(GetTokenOption.scopes, \.scopes),
            OptionField(GetTokenOption.audience, \.audience),
            OptionField(GetTokenOption.minValid, \.minValid),
            OptionField(GetTokenOption.force, \.force),
            OptionField(GetTokenOption.interactive, \.interactive),
            OptionField(GetTokenOption.timeout, \.timeout),
            OptionField(GetTokenOption.application, \.application),
        ]
    }
}

/// `GetToken`'s reply.
public struct TokenReply: Sendable, Equatable, CustomStringConvertible {
    public var token: String
    /// Unix seconds.
    public var expiresAt: Int64
    public var tokenType: String
    public var scopes: [String]
    public var audience: [String]
    public var issuer: String
    public var account: String

    public init(token: String, expiresAt: Int64, tokenType: String, scopes: [String], audience: [String],
                issuer: String, account: String) {
        self.token = token
        self.expiresAt = expiresAt
        self.tokenType = tokenType
        self.scopes = scopes
        self.audience = audience
        self.issuer = issuer
        self.account = account
    }

    public var info: [String: Variant] {
        [
            TokenInfoKey.tokenType.rawValue: Variant(tokenType),
            TokenInfoKey.scopes.rawValue: Variant(scopes),
            TokenInfoKey.audience.rawValue: Variant(audience),
            TokenInfoKey.issuer.rawValue: Variant(issuer),
            TokenInfoKey.account.rawValue: Variant(account),
        ]
    }

    public var body: [DBusValue] { [.string(token), .int64(expiresAt), info.dbusValue] }

    /// Read by matching the values, not with `decode(String.self, Int64.self, [String: Variant].self)`:
    /// in `tessera token`, a process that makes this one call, instantiating the generic types
    /// cost ~0.3 M instructions, a quarter of the run. Same rules: the three values of `sxa{sv}`;
    /// in `info`, unknown keys passed over, a known key of another type an error naming it.
    public init(body: [DBusValue]) throws(DBusError) {
        guard body.count == 3, case .string(let token) = body[0], case .int64(let expiresAt) = body[1],
              case .dictionary(let keyType, let valueType, let entries) = body[2], keyType == "s", valueType == "v"
        else { throw .typeMismatch(expected: "sxa{sv}", actual: body.signature.rawValue, context: "arguments") }
        self.token = token
        self.expiresAt = expiresAt
        (tokenType, scopes, audience, issuer, account) = ("Bearer", [], [], "", "")
        for entry in entries {
            guard case .string(let key) = entry.key, case .variant(let value) = entry.value else { continue }
            switch key {
            case TokenInfoKey.tokenType.rawValue: tokenType = try Self.string(value, key)
            case TokenInfoKey.scopes.rawValue: scopes = try Self.strings(value, key)
            case TokenInfoKey.audience.rawValue: audience = try Self.strings(value, key)
            case TokenInfoKey.issuer.rawValue: issuer = try Self.string(value, key)
            case TokenInfoKey.account.rawValue: account = try Self.string(value, key)
            default: continue
            }
        }
    }

    /// The same reply read straight from the wire (`tessera token` on the peer socket): the
    /// same rules as `init(body:)` without building the `DBusValue` tree. `TokenReplyWireTests`
    /// checks that both read every reply alike.
    package init(wire reply: WireMessage) throws(DBusError) {
        guard reply.signature == "sxa{sv}" else {
            throw .typeMismatch(expected: "sxa{sv}", actual: reply.signature, context: "arguments")
        }
        var reader = try reply.bodyReader()
        token = try reader.string()
        expiresAt = try reader.int64()
        var (tokenType, scopes, audience, issuer, account) = ("Bearer", [String](), [String](), "", "")
        try reader.array(alignment: 8) { (entry: inout WireReader) throws(DBusError) in
            try entry.align(8)
            let key = try entry.string()
            let type = try entry.signatureText()
            func text() throws(DBusError) -> String {
                guard type == "s" else { throw Self.mismatch("s", type, key) }
                return try entry.string()
            }
            func texts() throws(DBusError) -> [String] {
                guard type == "as" else { throw Self.mismatch("as", type, key) }
                var values: [String] = []
                try entry.array(alignment: 4) { (element: inout WireReader) throws(DBusError) in values.append(try element.string()) }
                return values
            }
            switch key {
            case TokenInfoKey.tokenType.rawValue: tokenType = try text()
            case TokenInfoKey.scopes.rawValue: scopes = try texts()
            case TokenInfoKey.audience.rawValue: audience = try texts()
            case TokenInfoKey.issuer.rawValue: issuer = try text()
            case TokenInfoKey.account.rawValue: account = try text()
            default: _ = try entry.value(ofType: type)
            }
        }
        guard reader.isAtEnd else { throw .invalidValue("a malformed message: the body is longer than its values") }
        (self.tokenType, self.scopes, self.audience, self.issuer, self.account) = (tokenType, scopes, audience, issuer, account)
    }

    private static func mismatch(_ expected: String, _ actual: String, _ key: String) -> DBusError {
        .typeMismatch(expected: expected, actual: actual, context: "option '\(key)'")
    }

    private static func string(_ value: DBusValue, _ key: String) throws(DBusError) -> String {
        guard case .string(let text) = value else { throw mismatch("s", value, key) }
        return text
    }

    private static func strings(_ value: DBusValue, _ key: String) throws(DBusError) -> [String] {
        guard case .array(let elementType, let elements) = value, elementType == "s" else { throw mismatch("as", value, key) }
        var texts: [String] = []
        texts.reserveCapacity(elements.count)
        for element in elements {
            guard case .string(let text) = element else { throw mismatch("as", value, key) }
            texts.append(text)
        }
        return texts
    }

    private static func mismatch(_ expected: String, _ value: DBusValue, _ key: String) -> DBusError {
        .typeMismatch(expected: expected, actual: value.signature.rawValue, context: "option '\(key)'")
    }

    public var description: String { "TokenReply(<redacted>, expires \(expiresAt), \(account))" }
}

/// `StartDeviceFlow`'s options.
public struct DeviceFlowOptions: OptionsMessage {
    public var scopes: [String]?
    public var notify: Bool?

    public init(scopes: [String]? = nil, notify: Bool? = nil) { self.scopes = scopes; self.notify = notify }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(DeviceFlowOption.scopes, \.scopes),
            OptionField(DeviceFlowOption.notify, \.notify),
        ]
    }
}

/// `StartDeviceFlow`'s reply: the flow object and what to show the user.
public struct DeviceFlowReply: Sendable, Equatable {
    public var flow: ObjectPath
    public var userCode: String
    public var verificationURI: String
    public var verificationURIComplete: String?
    /// Unix seconds.
    public var expiresAt: Int64
    public var interval: UInt32

    public init(flow: ObjectPath, userCode: String, verificationURI: String, verificationURIComplete: String?,
                expiresAt: Int64, interval: UInt32) {
        self.flow = flow
        self.userCode = userCode
        self.verificationURI = verificationURI
        self.verificationURIComplete = verificationURIComplete
        self.expiresAt = expiresAt
        self.interval = interval
    }

    /// The `info` dictionary.
    static var infoFields: [OptionField<Self>] {
        [
            // A mytoken login has no code to type: only the consent URI.
            OptionField(DeviceFlowInfoKey.userCode, \.userCode, default: "", omitting: ""),
            OptionField(DeviceFlowInfoKey.verificationURI, \.verificationURI, default: ""),
            OptionField(DeviceFlowInfoKey.verificationURIComplete, \.verificationURIComplete),
            OptionField(DeviceFlowInfoKey.expiresAt, \.expiresAt, default: 0),
            OptionField(DeviceFlowInfoKey.interval, \.interval, default: 5),
        ]
    }

    public var body: [DBusValue] { [.objectPath(flow), Self.infoFields.options(of: self).dbusValue] }

    public init(body: [DBusValue]) throws(DBusError) {
        let (flow, info) = try body.decode(ObjectPath.self, [String: Variant].self)
        self.init(flow: flow, userCode: "", verificationURI: "", verificationURIComplete: nil, expiresAt: 0, interval: 5)
        try Self.infoFields.read(info, into: &self)
    }
}

/// `LoginWithPassword`'s options. `description` never shows the password.
public struct PasswordLoginOptions: OptionsMessage, CustomStringConvertible {
    public var username: String?
    public var password: String?
    public var scopes: [String]?

    public init(username: String? = nil, password: String? = nil, scopes: [String]? = nil) {
        self.username = username
        self.password = password
        self.scopes = scopes
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(PasswordLoginOption.username, \.username),
            OptionField(PasswordLoginOption.password, \.password),
            OptionField(PasswordLoginOption.scopes, \.scopes),
        ]
    }

    public var description: String {
        "PasswordLoginOptions(username: \(username ?? "-"), password: \(password == nil ? "-" : "<redacted>"), "
            + "scopes: \(scopes?.joined(separator: " ") ?? "-"))"
    }
}

/// `Revoke`'s options.
public struct RevokeOptions: OptionsMessage {
    public var keepOnFailure: Bool?
    public var recursive: Bool?
    public init(keepOnFailure: Bool? = nil, recursive: Bool? = nil) {
        self.keepOnFailure = keepOnFailure
        self.recursive = recursive
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(RevokeOption.keepOnFailure, \.keepOnFailure),
            OptionField(RevokeOption.recursive, \.recursive),
        ]
    }
}

/// `RemoveAccount`'s options.
public struct RemoveAccountOptions: OptionsMessage {
    public var revoke: Bool?
    public init(revoke: Bool? = nil) { self.revoke = revoke }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(RemoveAccountOption.revoke, \.revoke),
        ]
    }
}
