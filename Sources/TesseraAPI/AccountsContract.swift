import DBus

// The account methods' arguments: `AddAccount`'s settings and `ListAccounts`' entries.

/// `AddAccount`'s settings as they travel (strings, unchecked beyond types; the service validates
/// values and names the field that is wrong).
public struct AccountSettingsMessage: OptionsMessage {
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
    public var replace: Bool?
    /// A known provider's short name (AddAccount only).
    public var provider: String?
    /// Write-only: a refresh token to import.
    public var refreshToken: String?
    /// kind=mytoken: `CreateMytokenRequest` keys for the account's logins.
    public var mytokenRequest: [String: Variant]?
    /// Write-only: `oidc-gen -p` output to import.
    public var oidcAgentConfig: String?

    public init(issuer: String? = nil, clientID: String? = nil, clientSecret: String? = nil, scopes: [String]? = nil,
                audience: [String]? = nil, audienceStyle: String? = nil, kind: String? = nil,
                mytokenServer: String? = nil, oidcIssuer: String? = nil, mytoken: String? = nil,
                transferCode: String? = nil, replace: Bool? = nil, provider: String? = nil, refreshToken: String? = nil,
                oidcAgentConfig: String? = nil) {
        self.oidcAgentConfig = oidcAgentConfig
        self.provider = provider
        self.refreshToken = refreshToken
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

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(AccountSetting.issuer, \.issuer),
            OptionField(AccountSetting.clientID, \.clientID),
            OptionField(AccountSetting.clientSecret, \.clientSecret),
            OptionField(AccountSetting.scopes, \.scopes),
            OptionField(AccountSetting.audience, \.audience),
            OptionField(AccountSetting.audienceStyle, \.audienceStyle),
            OptionField(AccountSetting.kind, \.kind),
            OptionField(AccountSetting.mytokenServer, \.mytokenServer),
            OptionField(AccountSetting.oidcIssuer, \.oidcIssuer),
            OptionField(AccountSetting.mytoken, \.mytoken),
            OptionField(AccountSetting.transferCode, \.transferCode),
            OptionField(AccountSetting.replace, \.replace),
            OptionField(AccountSetting.provider, \.provider),
            OptionField(AccountSetting.refreshToken, \.refreshToken),
            OptionField(AccountSetting.mytokenRequest, \.mytokenRequest),
            OptionField(AccountSetting.oidcAgentConfig, \.oidcAgentConfig),
        ]
    }

    /// AddAccount's keys, in the contract's order.
    public static var allowedKeys: [String] { AccountSetting.settable.map(\.rawValue) }

    /// `allowed`: `AccountSetting.settable` for AddAccount, `.editable` for SetAccount.
    public init(dbusOptions: [String: Variant], allowed: [AccountSetting]) throws(ArgumentError) {
        try self.init(dbusOptions: dbusOptions, allowed: allowed.map(\.rawValue))
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

    static var settingFields: [OptionField<Self>] {
        [
            OptionField(AccountSetting.issuer, \.issuer, default: ""),
            OptionField(AccountSetting.kind, \.kind, default: AccountKindName.oidc.rawValue),
            OptionField(AccountSetting.clientID, \.clientID),
            OptionField(AccountSetting.scopes, \.scopes, default: []),
            OptionField(AccountSetting.audience, \.audience, default: []),
            OptionField(AccountSetting.audienceStyle, \.audienceStyle, default: AudienceStyleName.resource.rawValue),
            OptionField(AccountSetting.mytokenServer, \.mytokenServer),
            OptionField(AccountSetting.loggedIn, \.loggedIn),
            OptionField(AccountSetting.hasClientSecret, \.hasClientSecret),
            OptionField(AccountSetting.tokenExpiresAt, \.tokenExpiresAt),
            OptionField(AccountSetting.registrationClientURI, \.registrationClientURI),
        ]
    }

    public var dbusValue: DBusValue { .structure([.string(name), Self.settingFields.options(of: self).dbusValue]) }

    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .structure(let fields) = dbusValue, fields.count == 2 else {
            throw .typeMismatch(expected: "(sa{sv})", actual: dbusValue.signature.rawValue, context: "account entry")
        }
        let (name, settings) = try fields.decode(String.self, [String: Variant].self)
        self.init(name: name, issuer: "", kind: "", clientID: nil, scopes: [], audience: [], audienceStyle: "",
                  mytokenServer: nil, loggedIn: nil, hasClientSecret: nil)
        try Self.settingFields.read(settings, into: &self)
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
