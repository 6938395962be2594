import DBus

// `StartBrowserLogin(s account, a{sv} options) → (o flow, a{sv} info)`: the authorization code
// flow with PKCE on a loopback redirect (RFC 6749 §4.1, RFC 7636, RFC 8252 §7.3). The service
// binds 127.0.0.1 on a free port, opens `authorization-uri` in the user's browser (OpenURI portal,
// else xdg-open) and returns at once. The flow object is an `io.tessera.DeviceFlow1` like a device
// flow's (Cancel, State, Completed, Failed): clients wait for either kind the same way.

/// `StartBrowserLogin`'s options, for both sides.
public struct BrowserLoginOptions: OptionsMessage {
    public var scopes: [String]?
    public var timeout: UInt32?
    public var open: Bool?

    public init(scopes: [String]? = nil, timeout: UInt32? = nil, open: Bool? = nil) {
        self.scopes = scopes
        self.timeout = timeout
        self.open = open
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(BrowserLoginOption.scopes, \.scopes),
            OptionField(BrowserLoginOption.timeout, \.timeout),
            OptionField(BrowserLoginOption.open, \.open),
        ]
    }
}

/// `StartBrowserLogin`'s reply.
public struct BrowserLoginReply: Sendable, Equatable {
    public var flow: ObjectPath
    public var authorizationURI: String
    public var redirectURI: String
    /// Unix seconds.
    public var expiresAt: Int64

    public init(flow: ObjectPath, authorizationURI: String, redirectURI: String, expiresAt: Int64) {
        self.flow = flow
        self.authorizationURI = authorizationURI
        self.redirectURI = redirectURI
        self.expiresAt = expiresAt
    }

    static var infoFields: [OptionField<Self>] {
        [
            OptionField(BrowserLoginInfoKey.authorizationURI, \.authorizationURI, default: ""),
            OptionField(BrowserLoginInfoKey.redirectURI, \.redirectURI, default: ""),
            OptionField(BrowserLoginInfoKey.expiresAt, \.expiresAt, default: 0),
        ]
    }

    public var body: [DBusValue] { [.objectPath(flow), Self.infoFields.options(of: self).dbusValue] }

    public init(body: [DBusValue]) throws(DBusError) {
        let (flow, info) = try body.decode(ObjectPath.self, [String: Variant].self)
        self.init(flow: flow, authorizationURI: "", redirectURI: "", expiresAt: 0)
        try Self.infoFields.read(info, into: &self)
    }
}
