import DBus

// The mytoken part of the contract: the keys of `CreateMytoken`, `GetTokenWithMytoken`,
// `ExchangeTransferCode` and `RevokeMytoken`, and their codecs. Restriction values travel as the
// user typed them (time values such as "+2w" or "2006-01-02 15:04", a JSON clause list): the
// service parses them, so the CLI needs neither Foundation nor the OIDC module.

/// `CreateMytoken`'s request as it travels.
public struct CreateMytokenRequest: OptionsMessage {
    public var mytoken: String?
    public var mytokenServer: String?
    public var restrictions: String?
    public var restrictionsFile: String?
    public var profile: String?
    public var rotationTemplate: String?
    public var rotationFile: String?
    public var notBefore: String?
    public var expiresAt: String?
    public var scopes: [String]?
    public var audience: [String]?
    public var hosts: [String]?
    public var geoIPAllow: [String]?
    public var geoIPDisallow: [String]?
    public var usagesAT: UInt64?
    public var usagesOther: UInt64?
    public var capabilities: [String]?
    public var subtokenCapabilities: [String]?
    public var rotation: [String]?
    public var rotationLifetime: UInt32?
    public var rotationAutoRevoke: Bool?
    public var name: String?
    public var tokenType: String?
    public var maxTokenLength: UInt32?
    public var failOnWiderRestrictions: Bool?
    public var oidcIssuer: String?
    public var notify: Bool?

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(CreateMytokenKey.mytoken, \.mytoken),
            OptionField(CreateMytokenKey.mytokenServer, \.mytokenServer),
            OptionField(CreateMytokenKey.restrictions, \.restrictions),
            OptionField(CreateMytokenKey.restrictionsFile, \.restrictionsFile),
            OptionField(CreateMytokenKey.profile, \.profile),
            OptionField(CreateMytokenKey.rotationTemplate, \.rotationTemplate),
            OptionField(CreateMytokenKey.rotationFile, \.rotationFile),
            OptionField(CreateMytokenKey.notBefore, \.notBefore),
            OptionField(CreateMytokenKey.expiresAt, \.expiresAt),
            OptionField(CreateMytokenKey.scopes, \.scopes),
            OptionField(CreateMytokenKey.audience, \.audience),
            OptionField(CreateMytokenKey.hosts, \.hosts),
            OptionField(CreateMytokenKey.geoIPAllow, \.geoIPAllow),
            OptionField(CreateMytokenKey.geoIPDisallow, \.geoIPDisallow),
            OptionField(CreateMytokenKey.usagesAT, \.usagesAT),
            OptionField(CreateMytokenKey.usagesOther, \.usagesOther),
            OptionField(CreateMytokenKey.capabilities, \.capabilities),
            OptionField(CreateMytokenKey.subtokenCapabilities, \.subtokenCapabilities),
            OptionField(CreateMytokenKey.rotation, \.rotation),
            OptionField(CreateMytokenKey.rotationLifetime, \.rotationLifetime),
            OptionField(CreateMytokenKey.rotationAutoRevoke, \.rotationAutoRevoke),
            OptionField(CreateMytokenKey.name, \.name),
            OptionField(CreateMytokenKey.tokenType, \.tokenType),
            OptionField(CreateMytokenKey.maxTokenLength, \.maxTokenLength),
            OptionField(CreateMytokenKey.failOnWiderRestrictions, \.failOnWiderRestrictions),
            OptionField(CreateMytokenKey.oidcIssuer, \.oidcIssuer),
            OptionField(CreateMytokenKey.notify, \.notify),
        ]
    }
}

/// `GetTokenWithMytoken`'s options.
public struct MytokenTokenOptions: OptionsMessage {
    public var mytokenServer: String?
    public var scopes: [String]?
    public var audience: [String]?
    public var oidcIssuer: String?
    public var comment: String?

    public init(mytokenServer: String? = nil, scopes: [String]? = nil, audience: [String]? = nil,
                oidcIssuer: String? = nil, comment: String? = nil) {
        self.mytokenServer = mytokenServer
        self.scopes = scopes
        self.audience = audience
        self.oidcIssuer = oidcIssuer
        self.comment = comment
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(MytokenTokenOption.mytokenServer, \.mytokenServer),
            OptionField(MytokenTokenOption.scopes, \.scopes),
            OptionField(MytokenTokenOption.audience, \.audience),
            OptionField(MytokenTokenOption.oidcIssuer, \.oidcIssuer),
            OptionField(MytokenTokenOption.comment, \.comment),
        ]
    }
}

/// `ExchangeTransferCode`'s and `RevokeMytoken`'s options (`recursive` only for the latter).
public struct MytokenServerOptions: OptionsMessage {
    public var mytokenServer: String?
    public var recursive: Bool?

    public init(mytokenServer: String? = nil, recursive: Bool? = nil) {
        self.mytokenServer = mytokenServer
        self.recursive = recursive
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(MytokenServerOption.mytokenServer, \.mytokenServer),
            OptionField(MytokenServerOption.recursive, \.recursive),
        ]
    }
}

extension MytokenServerOptions {
    /// `recursive` is RevokeMytoken's only: ExchangeTransferCode rejects it like any unknown key.
    public init(dbusOptions: [String: Variant], allowRecursive: Bool) throws(ArgumentError) {
        try self.init(dbusOptions: dbusOptions,
                      allowed: allowRecursive ? Self.allowedKeys : [MytokenServerOption.mytokenServer.rawValue])
    }
}

/// The `(s token, a{sv} info)` reply of `CreateMytoken` and `ExchangeTransferCode`.
public struct MytokenReply: Sendable, Equatable, CustomStringConvertible {
    public var token: String
    public var tokenType: String
    public var expiresAt: Int64?
    public var restrictions: String?
    public var capabilities: [String]
    public var mytokenServer: String
    public var rotatedMytoken: String?

    public init(token: String, tokenType: String, expiresAt: Int64?, restrictions: String?, capabilities: [String],
                mytokenServer: String, rotatedMytoken: String?) {
        self.token = token
        self.tokenType = tokenType
        self.expiresAt = expiresAt
        self.restrictions = restrictions
        self.capabilities = capabilities
        self.mytokenServer = mytokenServer
        self.rotatedMytoken = rotatedMytoken
    }

    static var infoFields: [OptionField<Self>] {
        [
            OptionField(MytokenInfoKey.tokenType, \.tokenType, default: MytokenTokenTypeName.jwt.rawValue),
            OptionField(MytokenInfoKey.expiresAt, \.expiresAt),
            OptionField(MytokenInfoKey.restrictions, \.restrictions),
            OptionField(MytokenInfoKey.capabilities, \.capabilities, default: []),
            OptionField(MytokenInfoKey.mytokenServer, \.mytokenServer, default: ""),
            OptionField(MytokenInfoKey.rotatedMytoken, \.rotatedMytoken),
        ]
    }

    public var info: [String: Variant] { Self.infoFields.options(of: self) }

    public var body: [DBusValue] { [.string(token), info.dbusValue] }

    public init(body: [DBusValue]) throws(DBusError) {
        let (token, info) = try body.decode(String.self, [String: Variant].self)
        self.init(token: token, tokenType: "", expiresAt: nil, restrictions: nil, capabilities: [], mytokenServer: "",
                  rotatedMytoken: nil)
        try Self.infoFields.read(info, into: &self)
    }

    public var description: String { "MytokenReply(<redacted>, \(tokenType))" }
}

/// `ListMytokenTemplates`'s options.
public struct MytokenTemplatesRequest: OptionsMessage {
    public var mytokenServer: String?
    /// What travels under `kind`; absent means `profiles`.
    public var kindOption: String?
    public var group: String?

    public var kind: String {
        get { kindOption ?? MytokenTemplatesKindName.profiles.rawValue }
        set { kindOption = newValue }
    }

    public init(mytokenServer: String?, kind: String, group: String?) {
        self.mytokenServer = mytokenServer
        self.kindOption = kind
        self.group = group
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(MytokenTemplatesOption.mytokenServer, \.mytokenServer),
            OptionField(MytokenTemplatesOption.kind, \.kindOption),
            OptionField(MytokenTemplatesOption.group, \.group),
        ]
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.mytokenServer == b.mytokenServer && a.kind == b.kind && a.group == b.group
    }
}

/// `ListMytokenTemplates`'s reply: the server's JSON as received, and name → payload JSON.
public struct MytokenTemplatesReply: Sendable, Equatable {
    public var json: String
    public var entries: [String: String]

    public init(json: String, entries: [String: String]) {
        self.json = json
        self.entries = entries
    }

    public var body: [DBusValue] { [.string(json), entries.dbusValue] }

    public init(body: [DBusValue]) throws(DBusError) {
        (json, entries) = try body.decode(String.self, [String: String].self)
    }
}

/// `MytokenInfo`'s options.
public struct MytokenInfoRequest: OptionsMessage, CustomStringConvertible {
    public var mytoken: String?
    public var mytokenServer: String?

    public init(mytoken: String? = nil, mytokenServer: String? = nil) {
        self.mytoken = mytoken
        self.mytokenServer = mytokenServer
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [OptionField(MytokenInfoOption.mytoken, \.mytoken), OptionField(MytokenInfoOption.mytokenServer, \.mytokenServer)]
    }

    public var description: String { "MytokenInfoRequest(<redacted>)" }
}

/// `MytokenInfo`'s reply: the server's JSON (without `token_update`), rows for a table (string
/// values, keys per action: history `event`, `time`, `ip`, `user-agent`, `comment`; subtokens
/// and list `depth`, `name`, `created`, `expires-at`, `ip`, `mom-id`; introspect `field`,
/// `value`), and `info` (`mytoken-server`, `rotated-mytoken` for a passed token that rotated).
public struct MytokenInfoReply: Sendable, Equatable, CustomStringConvertible {
    public var json: String
    public var rows: [[String: String]]
    public var mytokenServer: String
    public var rotatedMytoken: String?

    public init(json: String, rows: [[String: String]], mytokenServer: String, rotatedMytoken: String?) {
        self.json = json
        self.rows = rows
        self.mytokenServer = mytokenServer
        self.rotatedMytoken = rotatedMytoken
    }

    static var infoFields: [OptionField<Self>] {
        [
            OptionField(MytokenInfoKey.mytokenServer, \.mytokenServer, default: ""),
            OptionField(MytokenInfoKey.rotatedMytoken, \.rotatedMytoken),
        ]
    }

    public var body: [DBusValue] { [.string(json), rows.dbusValue, Self.infoFields.options(of: self).dbusValue] }

    public init(body: [DBusValue]) throws(DBusError) {
        let (json, rows, info) = try body.decode(String.self, [[String: String]].self, [String: Variant].self)
        self.init(json: json, rows: rows, mytokenServer: "", rotatedMytoken: nil)
        try Self.infoFields.read(info, into: &self)
    }

    public var description: String { "MytokenInfoReply(\(rows.count) rows)" }
}
