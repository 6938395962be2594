import DBus

// The mytoken part of the contract: the keys of `CreateMytoken`, `GetTokenWithMytoken`,
// `ExchangeTransferCode` and `RevokeMytoken`, and their codecs. Restriction values travel as the
// user typed them (time values such as "+2w" or "2006-01-02 15:04", a JSON clause list): the
// service parses them, so the CLI needs neither Foundation nor the OIDC module.

/// `CreateMytoken`'s request as it travels.
public struct CreateMytokenRequest: Sendable, Equatable {
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

    public var dbusOptions: [String: Variant] {
        var o: [String: Variant] = [:]
        func put<T: DBusRepresentable>(_ key: CreateMytokenKey, _ value: T?) {
            if let value { o[key.rawValue] = Variant(value) }
        }
        put(.mytoken, mytoken)
        put(.mytokenServer, mytokenServer)
        put(.restrictions, restrictions)
        put(.restrictionsFile, restrictionsFile)
        put(.profile, profile)
        put(.rotationTemplate, rotationTemplate)
        put(.rotationFile, rotationFile)
        put(.notBefore, notBefore)
        put(.expiresAt, expiresAt)
        put(.scopes, scopes)
        put(.audience, audience)
        put(.hosts, hosts)
        put(.geoIPAllow, geoIPAllow)
        put(.geoIPDisallow, geoIPDisallow)
        put(.usagesAT, usagesAT)
        put(.usagesOther, usagesOther)
        put(.capabilities, capabilities)
        put(.subtokenCapabilities, subtokenCapabilities)
        put(.rotation, rotation)
        put(.rotationLifetime, rotationLifetime)
        put(.rotationAutoRevoke, rotationAutoRevoke)
        put(.name, name)
        put(.tokenType, tokenType)
        put(.maxTokenLength, maxTokenLength)
        put(.failOnWiderRestrictions, failOnWiderRestrictions)
        put(.oidcIssuer, oidcIssuer)
        put(.notify, notify)
        return o
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let r = try OptionReader(dbusOptions, allowed: CreateMytokenKey.allCases.map(\.rawValue))
        mytoken = try r.value(CreateMytokenKey.mytoken.rawValue)
        mytokenServer = try r.value(CreateMytokenKey.mytokenServer.rawValue)
        restrictions = try r.value(CreateMytokenKey.restrictions.rawValue)
        restrictionsFile = try r.value(CreateMytokenKey.restrictionsFile.rawValue)
        profile = try r.value(CreateMytokenKey.profile.rawValue)
        rotationTemplate = try r.value(CreateMytokenKey.rotationTemplate.rawValue)
        rotationFile = try r.value(CreateMytokenKey.rotationFile.rawValue)
        notBefore = try r.value(CreateMytokenKey.notBefore.rawValue)
        expiresAt = try r.value(CreateMytokenKey.expiresAt.rawValue)
        scopes = try r.value(CreateMytokenKey.scopes.rawValue)
        audience = try r.value(CreateMytokenKey.audience.rawValue)
        hosts = try r.value(CreateMytokenKey.hosts.rawValue)
        geoIPAllow = try r.value(CreateMytokenKey.geoIPAllow.rawValue)
        geoIPDisallow = try r.value(CreateMytokenKey.geoIPDisallow.rawValue)
        usagesAT = try r.value(CreateMytokenKey.usagesAT.rawValue)
        usagesOther = try r.value(CreateMytokenKey.usagesOther.rawValue)
        capabilities = try r.value(CreateMytokenKey.capabilities.rawValue)
        subtokenCapabilities = try r.value(CreateMytokenKey.subtokenCapabilities.rawValue)
        rotation = try r.value(CreateMytokenKey.rotation.rawValue)
        rotationLifetime = try r.value(CreateMytokenKey.rotationLifetime.rawValue)
        rotationAutoRevoke = try r.value(CreateMytokenKey.rotationAutoRevoke.rawValue)
        name = try r.value(CreateMytokenKey.name.rawValue)
        tokenType = try r.value(CreateMytokenKey.tokenType.rawValue)
        maxTokenLength = try r.value(CreateMytokenKey.maxTokenLength.rawValue)
        failOnWiderRestrictions = try r.value(CreateMytokenKey.failOnWiderRestrictions.rawValue)
        oidcIssuer = try r.value(CreateMytokenKey.oidcIssuer.rawValue)
        notify = try r.value(CreateMytokenKey.notify.rawValue)
    }
}

/// `GetTokenWithMytoken`'s options.
public struct MytokenTokenOptions: Sendable, Equatable {
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

    public var dbusOptions: [String: Variant] {
        var o: [String: Variant] = [:]
        if let mytokenServer { o[MytokenTokenOption.mytokenServer.rawValue] = Variant(mytokenServer) }
        if let scopes { o[MytokenTokenOption.scopes.rawValue] = Variant(scopes) }
        if let audience { o[MytokenTokenOption.audience.rawValue] = Variant(audience) }
        if let oidcIssuer { o[MytokenTokenOption.oidcIssuer.rawValue] = Variant(oidcIssuer) }
        if let comment { o[MytokenTokenOption.comment.rawValue] = Variant(comment) }
        return o
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let r = try OptionReader(dbusOptions, allowed: MytokenTokenOption.allCases.map(\.rawValue))
        mytokenServer = try r.value(MytokenTokenOption.mytokenServer.rawValue)
        scopes = try r.value(MytokenTokenOption.scopes.rawValue)
        audience = try r.value(MytokenTokenOption.audience.rawValue)
        oidcIssuer = try r.value(MytokenTokenOption.oidcIssuer.rawValue)
        comment = try r.value(MytokenTokenOption.comment.rawValue)
    }
}

/// `ExchangeTransferCode`'s and `RevokeMytoken`'s options (`recursive` only for the latter).
public struct MytokenServerOptions: Sendable, Equatable {
    public var mytokenServer: String?
    public var recursive: Bool?

    public init(mytokenServer: String? = nil, recursive: Bool? = nil) {
        self.mytokenServer = mytokenServer
        self.recursive = recursive
    }

    public var dbusOptions: [String: Variant] {
        var o: [String: Variant] = [:]
        if let mytokenServer { o[MytokenServerOption.mytokenServer.rawValue] = Variant(mytokenServer) }
        if let recursive { o[MytokenServerOption.recursive.rawValue] = Variant(recursive) }
        return o
    }

    public init(dbusOptions: [String: Variant], allowRecursive: Bool) throws(ArgumentError) {
        let allowed = allowRecursive ? MytokenServerOption.allCases : [.mytokenServer]
        let r = try OptionReader(dbusOptions, allowed: allowed.map(\.rawValue))
        mytokenServer = try r.value(MytokenServerOption.mytokenServer.rawValue)
        recursive = try r.value(MytokenServerOption.recursive.rawValue)
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

    public var info: [String: Variant] {
        var info: [String: Variant] = [
            MytokenInfoKey.tokenType.rawValue: Variant(tokenType),
            MytokenInfoKey.capabilities.rawValue: Variant(capabilities),
            MytokenInfoKey.mytokenServer.rawValue: Variant(mytokenServer),
        ]
        if let expiresAt { info[MytokenInfoKey.expiresAt.rawValue] = Variant(expiresAt) }
        if let restrictions { info[MytokenInfoKey.restrictions.rawValue] = Variant(restrictions) }
        if let rotatedMytoken { info[MytokenInfoKey.rotatedMytoken.rawValue] = Variant(rotatedMytoken) }
        return info
    }

    public var body: [DBusValue] { [.string(token), info.dbusValue] }

    public init(body: [DBusValue]) throws(DBusError) {
        let (token, info) = try body.decode(String.self, [String: Variant].self)
        self.token = token
        tokenType = try info.value(MytokenInfoKey.tokenType.rawValue) ?? MytokenTokenTypeName.jwt.rawValue
        expiresAt = try info.value(MytokenInfoKey.expiresAt.rawValue)
        restrictions = try info.value(MytokenInfoKey.restrictions.rawValue)
        capabilities = try info.value(MytokenInfoKey.capabilities.rawValue) ?? []
        mytokenServer = try info.value(MytokenInfoKey.mytokenServer.rawValue) ?? ""
        rotatedMytoken = try info.value(MytokenInfoKey.rotatedMytoken.rawValue)
    }

    public var description: String { "MytokenReply(<redacted>, \(tokenType))" }
}

/// `ListMytokenTemplates`'s options.
public struct MytokenTemplatesRequest: Sendable, Equatable {
    public var mytokenServer: String?
    public var kind: String
    public var group: String?

    public init(mytokenServer: String?, kind: String, group: String?) {
        self.mytokenServer = mytokenServer
        self.kind = kind
        self.group = group
    }

    public var dbusOptions: [String: Variant] {
        var o: [String: Variant] = [MytokenTemplatesOption.kind.rawValue: Variant(kind)]
        if let mytokenServer { o[MytokenTemplatesOption.mytokenServer.rawValue] = Variant(mytokenServer) }
        if let group { o[MytokenTemplatesOption.group.rawValue] = Variant(group) }
        return o
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let r = try OptionReader(dbusOptions, allowed: MytokenTemplatesOption.allCases.map(\.rawValue))
        mytokenServer = try r.value(MytokenTemplatesOption.mytokenServer.rawValue)
        kind = try r.value(MytokenTemplatesOption.kind.rawValue) ?? MytokenTemplatesKindName.profiles.rawValue
        group = try r.value(MytokenTemplatesOption.group.rawValue)
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
public struct MytokenInfoRequest: Sendable, Equatable, CustomStringConvertible {
    public var mytoken: String?
    public var mytokenServer: String?

    public init(mytoken: String? = nil, mytokenServer: String? = nil) {
        self.mytoken = mytoken
        self.mytokenServer = mytokenServer
    }

    public var dbusOptions: [String: Variant] {
        var o: [String: Variant] = [:]
        if let mytoken { o[MytokenInfoOption.mytoken.rawValue] = Variant(mytoken) }
        if let mytokenServer { o[MytokenInfoOption.mytokenServer.rawValue] = Variant(mytokenServer) }
        return o
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let r = try OptionReader(dbusOptions, allowed: MytokenInfoOption.allCases.map(\.rawValue))
        mytoken = try r.value(MytokenInfoOption.mytoken.rawValue)
        mytokenServer = try r.value(MytokenInfoOption.mytokenServer.rawValue)
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

    public var body: [DBusValue] {
        var info: [String: Variant] = [MytokenInfoKey.mytokenServer.rawValue: Variant(mytokenServer)]
        if let rotatedMytoken { info[MytokenInfoKey.rotatedMytoken.rawValue] = Variant(rotatedMytoken) }
        return [.string(json), rows.dbusValue, info.dbusValue]
    }

    public init(body: [DBusValue]) throws(DBusError) {
        let info: [String: Variant]
        (json, rows, info) = try body.decode(String.self, [[String: String]].self, [String: Variant].self)
        mytokenServer = try info.value(MytokenInfoKey.mytokenServer.rawValue) ?? ""
        rotatedMytoken = try info.value(MytokenInfoKey.rotatedMytoken.rawValue)
    }

    public var description: String { "MytokenInfoReply(\(rows.count) rows)" }
}
