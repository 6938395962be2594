import DBus

// `StartBrowserLogin(s account, a{sv} options) → (o flow, a{sv} info)`: the authorization code
// flow with PKCE on a loopback redirect (RFC 6749 §4.1, RFC 7636, RFC 8252 §7.3). The service
// binds 127.0.0.1 on a free port, opens `authorization-uri` in the user's browser (OpenURI portal,
// else xdg-open) and returns at once. The flow object is an `io.tessera.DeviceFlow1` like a device
// flow's (Cancel, State, Completed, Failed): clients wait for either kind the same way.

/// `StartBrowserLogin`'s options, for both sides.
public struct BrowserLoginOptions: Sendable, Equatable {
    public var scopes: [String]?
    public var timeout: UInt32?
    public var open: Bool?

    public init(scopes: [String]? = nil, timeout: UInt32? = nil, open: Bool? = nil) {
        self.scopes = scopes
        self.timeout = timeout
        self.open = open
    }

    public var dbusOptions: [String: Variant] {
        var options: [String: Variant] = [:]
        if let scopes { options[BrowserLoginOption.scopes.rawValue] = Variant(scopes) }
        if let timeout { options[BrowserLoginOption.timeout.rawValue] = Variant(timeout) }
        if let open { options[BrowserLoginOption.open.rawValue] = Variant(open) }
        return options
    }

    public init(dbusOptions: [String: Variant]) throws(ArgumentError) {
        let reader = try OptionReader(dbusOptions, allowed: BrowserLoginOption.allCases.map(\.rawValue))
        scopes = try reader.value(BrowserLoginOption.scopes.rawValue)
        timeout = try reader.value(BrowserLoginOption.timeout.rawValue)
        open = try reader.value(BrowserLoginOption.open.rawValue)
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

    public var body: [DBusValue] {
        let info: [String: Variant] = [
            BrowserLoginInfoKey.authorizationURI.rawValue: Variant(authorizationURI),
            BrowserLoginInfoKey.redirectURI.rawValue: Variant(redirectURI),
            BrowserLoginInfoKey.expiresAt.rawValue: Variant(expiresAt),
        ]
        return [.objectPath(flow), info.dbusValue]
    }

    public init(body: [DBusValue]) throws(DBusError) {
        let (flow, info) = try body.decode(ObjectPath.self, [String: Variant].self)
        self.flow = flow
        authorizationURI = try info.value(BrowserLoginInfoKey.authorizationURI.rawValue) ?? ""
        redirectURI = try info.value(BrowserLoginInfoKey.redirectURI.rawValue) ?? ""
        expiresAt = try info.value(BrowserLoginInfoKey.expiresAt.rawValue) ?? 0
    }
}
