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

/// A malformed argument: the field it concerns and why. The service answers it as
/// `io.tessera.Agent1.Error.InvalidArgument`.
public struct ArgumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(field: String, reason: String) { self.field = field; self.reason = reason }
    public var description: String { "invalid \(field): \(reason)" }
}

/// Strict reading of an `a{sv}`: every key must be known and of its declared type.
public struct OptionReader {
    private let options: [String: Variant]
    public init(_ options: [String: Variant], allowed: [String]) throws(ArgumentError) {
        for key in options.keys.sorted() where !allowed.contains(key) {
            throw ArgumentError(field: key, reason: "is not a known option (known: \(allowed.joined(separator: ", ")))")
        }
        self.options = options
    }

    public func value<T: DBusRepresentable>(_ key: String, as type: T.Type = T.self) throws(ArgumentError) -> T? {
        guard let variant = options[key] else { return nil }
        do { return try variant.get(T.self) } catch {
            throw ArgumentError(field: key, reason: "must be of type '\(T.dbusSignature.rawValue)', not '\(variant.value.signature.rawValue)'")
        }
    }
}

/// `GetToken`'s options, for both sides: the CLI encodes them, the service decodes (strictly).
public struct GetTokenOptions: Sendable, Equatable {
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

    public var dbusOptions: [String: Variant] {
        var options: [String: Variant] = [:]
        if let scopes { options[GetTokenOption.scopes.rawValue] = Variant(scopes) }
        if let audience { options[GetTokenOption.audience.rawValue] = Variant(audience) }
        if let minValid { options[GetTokenOption.minValid.rawValue] = Variant(minValid) }
        if let force { options[GetTokenOption.force.rawValue] = Variant(force) }
        if let interactive { options[GetTokenOption.interactive.rawValue] = Variant(interactive) }
        if let timeout { options[GetTokenOption.timeout.rawValue] = Variant(timeout) }
        if let application { options[GetTokenOption.application.rawValue] = Variant(application) }
        return options
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let reader = try OptionReader(dbusOptions, allowed: GetTokenOption.allCases.map(\.rawValue))
        scopes = try reader.value(GetTokenOption.scopes.rawValue)
        audience = try reader.value(GetTokenOption.audience.rawValue)
        minValid = try reader.value(GetTokenOption.minValid.rawValue)
        force = try reader.value(GetTokenOption.force.rawValue)
        interactive = try reader.value(GetTokenOption.interactive.rawValue)
        timeout = try reader.value(GetTokenOption.timeout.rawValue)
        application = try reader.value(GetTokenOption.application.rawValue)
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

    public init(body: [DBusValue]) throws(DBusError) {
        let (token, expiresAt, info) = try body.decode(String.self, Int64.self, [String: Variant].self)
        self.token = token
        self.expiresAt = expiresAt
        tokenType = try info.value(TokenInfoKey.tokenType.rawValue) ?? "Bearer"
        scopes = try info.value(TokenInfoKey.scopes.rawValue) ?? []
        audience = try info.value(TokenInfoKey.audience.rawValue) ?? []
        issuer = try info.value(TokenInfoKey.issuer.rawValue) ?? ""
        account = try info.value(TokenInfoKey.account.rawValue) ?? ""
    }

    public var description: String { "TokenReply(<redacted>, expires \(expiresAt), \(account))" }
}

/// `StartDeviceFlow`'s options.
public struct DeviceFlowOptions: Sendable, Equatable {
    public var scopes: [String]?
    public var notify: Bool?

    public init(scopes: [String]? = nil, notify: Bool? = nil) { self.scopes = scopes; self.notify = notify }

    public var dbusOptions: [String: Variant] {
        var options: [String: Variant] = [:]
        if let scopes { options[DeviceFlowOption.scopes.rawValue] = Variant(scopes) }
        if let notify { options[DeviceFlowOption.notify.rawValue] = Variant(notify) }
        return options
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let reader = try OptionReader(dbusOptions, allowed: DeviceFlowOption.allCases.map(\.rawValue))
        scopes = try reader.value(DeviceFlowOption.scopes.rawValue)
        notify = try reader.value(DeviceFlowOption.notify.rawValue)
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

    public var body: [DBusValue] {
        var info: [String: Variant] = [
            DeviceFlowInfoKey.verificationURI.rawValue: Variant(verificationURI),
            DeviceFlowInfoKey.expiresAt.rawValue: Variant(expiresAt),
            DeviceFlowInfoKey.interval.rawValue: Variant(interval),
        ]
        // A mytoken login has no code to type: only the consent URI.
        if !userCode.isEmpty { info[DeviceFlowInfoKey.userCode.rawValue] = Variant(userCode) }
        if let verificationURIComplete {
            info[DeviceFlowInfoKey.verificationURIComplete.rawValue] = Variant(verificationURIComplete)
        }
        return [.objectPath(flow), info.dbusValue]
    }

    public init(body: [DBusValue]) throws(DBusError) {
        let (flow, info) = try body.decode(ObjectPath.self, [String: Variant].self)
        self.flow = flow
        userCode = try info.value(DeviceFlowInfoKey.userCode.rawValue) ?? ""
        verificationURI = try info.value(DeviceFlowInfoKey.verificationURI.rawValue) ?? ""
        verificationURIComplete = try info.value(DeviceFlowInfoKey.verificationURIComplete.rawValue)
        expiresAt = try info.value(DeviceFlowInfoKey.expiresAt.rawValue) ?? 0
        interval = try info.value(DeviceFlowInfoKey.interval.rawValue) ?? 5
    }
}

/// `LoginWithPassword`'s options. `description` never shows the password.
public struct PasswordLoginOptions: Sendable, Equatable, CustomStringConvertible {
    public var username: String?
    public var password: String?
    public var scopes: [String]?

    public init(username: String? = nil, password: String? = nil, scopes: [String]? = nil) {
        self.username = username
        self.password = password
        self.scopes = scopes
    }

    public var dbusOptions: [String: Variant] {
        var options: [String: Variant] = [:]
        if let username { options[PasswordLoginOption.username.rawValue] = Variant(username) }
        if let password { options[PasswordLoginOption.password.rawValue] = Variant(password) }
        if let scopes { options[PasswordLoginOption.scopes.rawValue] = Variant(scopes) }
        return options
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let reader = try OptionReader(dbusOptions, allowed: PasswordLoginOption.allCases.map(\.rawValue))
        username = try reader.value(PasswordLoginOption.username.rawValue)
        password = try reader.value(PasswordLoginOption.password.rawValue)
        scopes = try reader.value(PasswordLoginOption.scopes.rawValue)
    }

    public var description: String {
        "PasswordLoginOptions(username: \(username ?? "-"), password: \(password == nil ? "-" : "<redacted>"), "
            + "scopes: \(scopes?.joined(separator: " ") ?? "-"))"
    }
}

/// `Revoke`'s options.
public struct RevokeOptions: Sendable, Equatable {
    public var keepOnFailure: Bool?
    public var recursive: Bool?
    public init(keepOnFailure: Bool? = nil, recursive: Bool? = nil) {
        self.keepOnFailure = keepOnFailure
        self.recursive = recursive
    }

    public var dbusOptions: [String: Variant] {
        var options: [String: Variant] = [:]
        if let keepOnFailure { options[RevokeOption.keepOnFailure.rawValue] = Variant(keepOnFailure) }
        if let recursive { options[RevokeOption.recursive.rawValue] = Variant(recursive) }
        return options
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let reader = try OptionReader(dbusOptions, allowed: RevokeOption.allCases.map(\.rawValue))
        keepOnFailure = try reader.value(RevokeOption.keepOnFailure.rawValue)
        recursive = try reader.value(RevokeOption.recursive.rawValue)
    }
}

/// `RemoveAccount`'s options.
public struct RemoveAccountOptions: Sendable, Equatable {
    public var revoke: Bool?
    public init(revoke: Bool? = nil) { self.revoke = revoke }

    public var dbusOptions: [String: Variant] {
        revoke.map { [RemoveAccountOption.revoke.rawValue: Variant($0)] } ?? [:]
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let reader = try OptionReader(dbusOptions, allowed: RemoveAccountOption.allCases.map(\.rawValue))
        revoke = try reader.value(RemoveAccountOption.revoke.rawValue)
    }
}

/// `AddAccount`'s settings as they travel (strings, unchecked beyond types; the service validates
/// values and names the field that is wrong).
public struct AccountSettingsMessage: Sendable, Equatable {
    public var issuer: String?
    public var clientID: String?
    /// Write-only: sent to the service, which stores it in the keyring.
    public var clientSecret: String?
    public var scopes: [String]?
    public var audience: [String]?
    public var audienceStyle: String?
    public var kind: String?
    public var mytokenServer: String?
    public var oidcIssuer: String?
    /// Write-only: a mytoken to store (import).
    public var mytoken: String?
    /// Write-only: a transfer code to exchange for the mytoken to store.
    public var transferCode: String?
    /// Write-only: `oidc-gen -p` output to import.
    public var oidcAgentConfig: String?
    public var replace: Bool?
    /// A known provider's short name (AddAccount only).
    public var provider: String?
    /// Write-only: a refresh token to import.
    public var refreshToken: String?
    /// kind=mytoken: `CreateMytokenRequest` keys for the account's logins.
    public var mytokenRequest: [String: Variant]?

    public init(issuer: String? = nil, clientID: String? = nil, clientSecret: String? = nil, scopes: [String]? = nil,
                audience: [String]? = nil, audienceStyle: String? = nil, kind: String? = nil,
                mytokenServer: String? = nil, oidcIssuer: String? = nil, mytoken: String? = nil,
                transferCode: String? = nil, replace: Bool? = nil, provider: String? = nil, refreshToken: String? = nil,
                oidcAgentConfig: String? = nil) {
        self.provider = provider
        self.refreshToken = refreshToken
        self.oidcAgentConfig = oidcAgentConfig
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.scopes = scopes
        self.audience = audience
        self.audienceStyle = audienceStyle
        self.kind = kind
        self.mytokenServer = mytokenServer
        self.oidcIssuer = oidcIssuer
        self.mytoken = mytoken
        self.transferCode = transferCode
        self.replace = replace
    }

    public var dbusOptions: [String: Variant] {
        var options: [String: Variant] = [:]
        if let issuer { options[AccountSetting.issuer.rawValue] = Variant(issuer) }
        if let clientID { options[AccountSetting.clientID.rawValue] = Variant(clientID) }
        if let clientSecret { options[AccountSetting.clientSecret.rawValue] = Variant(clientSecret) }
        if let scopes { options[AccountSetting.scopes.rawValue] = Variant(scopes) }
        if let audience { options[AccountSetting.audience.rawValue] = Variant(audience) }
        if let audienceStyle { options[AccountSetting.audienceStyle.rawValue] = Variant(audienceStyle) }
        if let kind { options[AccountSetting.kind.rawValue] = Variant(kind) }
        if let mytokenServer { options[AccountSetting.mytokenServer.rawValue] = Variant(mytokenServer) }
        if let oidcIssuer { options[AccountSetting.oidcIssuer.rawValue] = Variant(oidcIssuer) }
        if let mytoken { options[AccountSetting.mytoken.rawValue] = Variant(mytoken) }
        if let transferCode { options[AccountSetting.transferCode.rawValue] = Variant(transferCode) }
        if let oidcAgentConfig { options[AccountSetting.oidcAgentConfig.rawValue] = Variant(oidcAgentConfig) }
        if let replace { options[AccountSetting.replace.rawValue] = Variant(replace) }
        if let provider { options[AccountSetting.provider.rawValue] = Variant(provider) }
        if let refreshToken { options[AccountSetting.refreshToken.rawValue] = Variant(refreshToken) }
        if let mytokenRequest { options[AccountSetting.mytokenRequest.rawValue] = Variant(mytokenRequest) }
        return options
    }

    /// `allowed`: `AccountSetting.settable` for AddAccount, `.editable` for SetAccount.
    public init(dbusOptions: [String: Variant], allowed: [AccountSetting] = AccountSetting.settable) throws(ArgumentError) {
        let reader = try OptionReader(dbusOptions, allowed: allowed.map(\.rawValue))
        provider = try reader.value(AccountSetting.provider.rawValue)
        refreshToken = try reader.value(AccountSetting.refreshToken.rawValue)
        mytokenRequest = try reader.value(AccountSetting.mytokenRequest.rawValue)
        issuer = try reader.value(AccountSetting.issuer.rawValue)
        clientID = try reader.value(AccountSetting.clientID.rawValue)
        clientSecret = try reader.value(AccountSetting.clientSecret.rawValue)
        scopes = try reader.value(AccountSetting.scopes.rawValue)
        audience = try reader.value(AccountSetting.audience.rawValue)
        audienceStyle = try reader.value(AccountSetting.audienceStyle.rawValue)
        kind = try reader.value(AccountSetting.kind.rawValue)
        mytokenServer = try reader.value(AccountSetting.mytokenServer.rawValue)
        oidcIssuer = try reader.value(AccountSetting.oidcIssuer.rawValue)
        mytoken = try reader.value(AccountSetting.mytoken.rawValue)
        transferCode = try reader.value(AccountSetting.transferCode.rawValue)
        oidcAgentConfig = try reader.value(AccountSetting.oidcAgentConfig.rawValue)
        replace = try reader.value(AccountSetting.replace.rawValue)
    }
}

/// One entry of `ListAccounts`: `(s name, a{sv} settings)`; never a secret.
public struct AccountInfo: Sendable, Equatable {
    public var name: String
    public var issuer: String
    public var kind: String
    public var clientID: String?
    public var scopes: [String]
    public var audience: [String]
    public var audienceStyle: String
    public var mytokenServer: String?
    /// Nil when the keyring could not be asked.
    public var loggedIn: Bool?
    public var hasClientSecret: Bool?
    /// Expiry (Unix seconds) of each access token held in memory; nil from a service that does not say.
    public var tokenExpiresAt: [Int64]?
    /// The RFC 7592 URI of the client Tessera registered for the account, if it did.
    public var registrationClientURI: String?

    public init(name: String, issuer: String, kind: String, clientID: String?, scopes: [String], audience: [String],
                audienceStyle: String, mytokenServer: String?, loggedIn: Bool?, hasClientSecret: Bool?,
                tokenExpiresAt: [Int64]? = nil, registrationClientURI: String? = nil) {
        self.registrationClientURI = registrationClientURI
        self.name = name
        self.issuer = issuer
        self.kind = kind
        self.clientID = clientID
        self.scopes = scopes
        self.audience = audience
        self.audienceStyle = audienceStyle
        self.mytokenServer = mytokenServer
        self.loggedIn = loggedIn
        self.hasClientSecret = hasClientSecret
        self.tokenExpiresAt = tokenExpiresAt
    }

    public var dbusValue: DBusValue {
        var settings: [String: Variant] = [
            AccountSetting.issuer.rawValue: Variant(issuer),
            AccountSetting.kind.rawValue: Variant(kind),
            AccountSetting.scopes.rawValue: Variant(scopes),
            AccountSetting.audience.rawValue: Variant(audience),
            AccountSetting.audienceStyle.rawValue: Variant(audienceStyle),
        ]
        if let clientID { settings[AccountSetting.clientID.rawValue] = Variant(clientID) }
        if let mytokenServer { settings[AccountSetting.mytokenServer.rawValue] = Variant(mytokenServer) }
        if let loggedIn { settings[AccountSetting.loggedIn.rawValue] = Variant(loggedIn) }
        if let hasClientSecret { settings[AccountSetting.hasClientSecret.rawValue] = Variant(hasClientSecret) }
        if let tokenExpiresAt { settings[AccountSetting.tokenExpiresAt.rawValue] = Variant(tokenExpiresAt) }
        if let registrationClientURI { settings[AccountSetting.registrationClientURI.rawValue] = Variant(registrationClientURI) }
        return .structure([.string(name), settings.dbusValue])
    }

    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .structure(let fields) = dbusValue, fields.count == 2 else {
            throw .typeMismatch(expected: "(sa{sv})", actual: dbusValue.signature.rawValue, context: "account entry")
        }
        let (name, settings) = try fields.decode(String.self, [String: Variant].self)
        self.name = name
        issuer = try settings.value(AccountSetting.issuer.rawValue) ?? ""
        kind = try settings.value(AccountSetting.kind.rawValue) ?? AccountKindName.oidc.rawValue
        clientID = try settings.value(AccountSetting.clientID.rawValue)
        scopes = try settings.value(AccountSetting.scopes.rawValue) ?? []
        audience = try settings.value(AccountSetting.audience.rawValue) ?? []
        audienceStyle = try settings.value(AccountSetting.audienceStyle.rawValue) ?? AudienceStyleName.resource.rawValue
        mytokenServer = try settings.value(AccountSetting.mytokenServer.rawValue)
        loggedIn = try settings.value(AccountSetting.loggedIn.rawValue)
        hasClientSecret = try settings.value(AccountSetting.hasClientSecret.rawValue)
        tokenExpiresAt = try settings.value(AccountSetting.tokenExpiresAt.rawValue)
        registrationClientURI = try settings.value(AccountSetting.registrationClientURI.rawValue)
    }

    /// `ListAccounts`' reply body.
    public static func listBody(_ accounts: [AccountInfo]) -> [DBusValue] {
        [.array(of: "(sa{sv})", accounts.map(\.dbusValue))]
    }

    public static func list(body: [DBusValue]) throws(DBusError) -> [AccountInfo] {
        guard let first = body.first, case .array(_, let entries) = first, body.count == 1 else {
            throw .typeMismatch(expected: "a(sa{sv})", actual: body.map(\.signature.rawValue).joined(), context: "ListAccounts reply")
        }
        var result: [AccountInfo] = []
        for entry in entries { result.append(try AccountInfo(dbusValue: entry)) }
        return result
    }
}
