import FoundationEssentials
import Secrets

/// How the client proves who it is at the token, revocation and device endpoints.
public enum ClientAuthentication: Sendable, Equatable {
    /// A public client: `client_id` in the body, no secret.
    case none
    /// RFC 6749 §2.3.1 HTTP Basic (the default for confidential clients).
    case clientSecretBasic(Secret)
    /// RFC 6749 §2.3.1 `client_id` and `client_secret` in the form body.
    case clientSecretPost(Secret)
}

public struct ClientCredentials: Sendable, Equatable {
    public var clientID: String
    public var authentication: ClientAuthentication

    public init(clientID: String, authentication: ClientAuthentication = .none) {
        self.clientID = clientID
        self.authentication = authentication
    }

    public static func publicClient(_ clientID: String) -> ClientCredentials {
        ClientCredentials(clientID: clientID)
    }

    var secret: Secret? {
        switch authentication {
        case .none: nil
        case .clientSecretBasic(let secret), .clientSecretPost(let secret): secret
        }
    }
}

/// How a requested audience goes on the wire; providers differ, so it is set per account.
public enum AudienceStyle: String, Sendable, Equatable, CaseIterable {
    /// RFC 8707: one `resource` parameter per audience (absolute URIs).
    case resource
    /// The pre-RFC `audience` parameter, space-separated (INDIGO IAM, mytoken, Keycloak-style).
    case audience
    /// By value: an absolute URI without query or fragment goes as RFC 8707 `resource`, anything
    /// else (`example.audience`) as `audience`. INDIGO IAM reads both but refuses a `resource`
    /// that is not such a URI ("Not a valid URI"); RFC 8707 providers need `resource` for URIs.
    case auto

    /// The parameters `audience` goes out as: `resource` once per value, `audience` once with the
    /// values space-separated (as IAM and Keycloak read it).
    public func parameters(for audience: [String]) -> [(name: String, value: String)] {
        let (resources, audiences): ([String], [String])
        switch self {
        case .resource: (resources, audiences) = (audience, [])
        case .audience: (resources, audiences) = ([], audience)
        case .auto:
            resources = audience.filter(Self.isResourceURI)
            audiences = audience.filter { !Self.isResourceURI($0) }
        }
        var parameters = resources.map { (name: "resource", value: $0) }
        if !audiences.isEmpty { parameters.append((name: "audience", value: audiences.joined(separator: " "))) }
        return parameters
    }

    /// RFC 8707 §2: "an absolute URI … MUST NOT include a fragment component"; IAM also refuses a
    /// query. A scheme (RFC 3986 §3.1) and something after it, nothing that needs escaping.
    public static func isResourceURI(_ value: String) -> Bool {
        guard let colon = value.firstIndex(of: ":"), colon != value.startIndex,
              value[value.index(after: colon)...].isEmpty == false,
              !value.contains("?"), !value.contains("#"),
              value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F })
        else { return false }
        let scheme = value[..<colon]
        return scheme.first!.isLetter && scheme.allSatisfy { $0.isLetter || $0.isNumber || "+-.".contains($0) }
            && URLComponents(string: value)?.scheme != nil
    }
}

/// RFC 7009 `token_type_hint`.
public enum TokenTypeHint: String, Sendable {
    case refreshToken = "refresh_token"
    case accessToken = "access_token"
}

/// A successful token endpoint answer (RFC 6749 §5.1).
///
/// `refreshToken` is the refresh token the provider returned: on a refresh it is the rotated
/// one (the previous one is dead at providers that rotate), so persist it *before* using
/// `accessToken`. Nil means the provider returned none (or an empty one) and the previous one
/// stays valid.
public struct TokenResponse: Sendable, CustomStringConvertible {
    /// Used when the provider omits `expires_in` and the access token carries no readable `exp`:
    /// short on purpose, so a wrong guess costs one early refresh rather than a dead token.
    public static let defaultLifetime: Duration = .seconds(300)
    /// The longest lifetime believed, whatever the provider says: keeps `expiresAt` a date every
    /// consumer can turn into Unix seconds (a provider once answered `expires_in`
    /// 9223372036000000000, which trapped the service).
    public static let maximumLifetime: Duration = .seconds(366 * 86_400)

    public enum LifetimeSource: Sendable, Equatable {
        /// `expires_in` of the response (always preferred).
        case expiresIn
        /// No `expires_in`: the `exp` claim of a JWT access token.
        case jwtExpiry
        /// Neither: `defaultLifetime`.
        case defaulted
    }

    public var accessToken: Secret
    public var tokenType: String
    public var refreshToken: Secret?
    public var idToken: Secret?
    /// Granted scopes when the provider says (RFC 6749 §5.1: omitted means "as requested").
    public var scopes: [String]?
    /// Always within `0...maximumLifetime`.
    public var lifetime: Duration {
        didSet { lifetime = UntrustedSeconds.clamp(lifetime, atMost: Self.maximumLifetime) }
    }
    public var lifetimeSource: LifetimeSource
    public var receivedAt: Date

    public var expiresAt: Date { receivedAt.addingTimeInterval(CurlTransport.seconds(lifetime)) }

    public init(accessToken: Secret, tokenType: String = "Bearer", refreshToken: Secret? = nil,
                idToken: Secret? = nil, scopes: [String]? = nil, lifetime: Duration,
                lifetimeSource: LifetimeSource = .expiresIn, receivedAt: Date = Date()) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.refreshToken = refreshToken
        self.idToken = idToken
        self.scopes = scopes
        self.lifetime = UntrustedSeconds.clamp(lifetime, atMost: Self.maximumLifetime)
        self.lifetimeSource = lifetimeSource
        self.receivedAt = receivedAt
    }

    init(_ fields: JSONFields, receivedAt: Date) throws(OIDCError) {
        let accessToken = Secret(try fields.requiredString("access_token"))
        // The token ends up in an `Authorization` header: CR/LF or a space there would let the
        // provider (or whoever answered) inject headers. RFC 6750 §2.1 b64token only.
        guard Self.isB64Token(accessToken.reveal()) else {
            throw .malformedResponse("\(fields.context): the access_token has characters a bearer token cannot have "
                + "(RFC 6750 b64token: letters, digits, -._~+/ and trailing =)")
        }
        let tokenType = try fields.requiredString("token_type")
        guard tokenType.utf8.count <= 64, tokenType.unicodeScalars.allSatisfy(Self.isTokenTypeCharacter) else {
            throw .malformedResponse("\(fields.context): the token_type \"\(Sanitizer.clip(String(tokenType.unicodeScalars.filter(Self.isTokenTypeCharacter)), to: 40))\" has characters a token type cannot have")
        }
        let lifetime: Duration
        let source: LifetimeSource
        // The numbers are the provider's, so untrusted: a negative, non-numeric or non-finite
        // `expires_in` counts as absent (rejecting the whole answer would lose a rotated refresh
        // token), a huge one is clamped to `maximumLifetime`.
        if case .value(let expiresIn) = fields.seconds("expires_in"), expiresIn >= 0 {
            (lifetime, source) = (UntrustedSeconds.duration(expiresIn, atMost: Self.maximumLifetime), .expiresIn)
        } else if let expiry = JWT.expiry(of: accessToken), expiry > receivedAt {
            (lifetime, source) = (UntrustedSeconds.duration(expiry.timeIntervalSince(receivedAt), atMost: Self.maximumLifetime),
                                  .jwtExpiry)
        } else {
            (lifetime, source) = (Self.defaultLifetime, .defaulted)
        }
        self.init(
            accessToken: accessToken, tokenType: tokenType,
            refreshToken: try Self.nonBlank(fields.string("refresh_token")),
            idToken: try Self.nonBlank(fields.string("id_token")),
            scopes: try fields.string("scope").map { $0.split(separator: " ").map(String.init) },
            lifetime: lifetime, lifetimeSource: source, receivedAt: receivedAt)
    }

    /// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    static func isB64Token(_ token: String) -> Bool {
        let bytes = Array(token.utf8)
        let body = bytes.prefix { $0 != UInt8(ascii: "=") }
        guard !body.isEmpty, bytes[body.count...].allSatisfy({ $0 == UInt8(ascii: "=") }) else { return false }
        return body.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                true
            default:
                false
            }
        }
    }

    /// Token types are names (`Bearer`, `DPoP`, `N_A`): printable ASCII without spaces or separators.
    static func isTokenTypeCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCIIAlphanumeric || "-_.".unicodeScalars.contains(scalar)
    }

    /// An empty (or blank) token in an answer is no token: for `refresh_token` that means "keep the
    /// current one" (issue 12.7: storing "" wedged the account), never "store nothing".
    private static func nonBlank(_ value: String?) -> Secret? {
        guard let value, !value.allSatisfy(\.isWhitespace) else { return nil }
        return Secret(value)
    }

    public var description: String {
        "TokenResponse(type: \(tokenType), scopes: \(scopes?.joined(separator: " ") ?? "as requested"), "
            + "lifetime: \(lifetime), refresh token: \(refreshToken == nil ? "none" : "<redacted>"))"
    }
}

/// A started RFC 8628 device authorization: show `userCode` and `verificationURI` (or a QR code
/// of `verificationURIComplete`), then hand it to `OIDCClient.pollDeviceToken(_:)`.
public struct DeviceAuthorization: Sendable, CustomStringConvertible {
    /// Bounds on what a provider may state (RFC 8628 suggests minutes): a device code that claims
    /// to live for ages, or an interval of hours, is held to these.
    public static let maximumLifetime: Duration = .seconds(86_400)
    public static let intervalRange: ClosedRange<Duration> = .seconds(1) ... .seconds(300)

    public var deviceCode: Secret
    public var userCode: String
    public var verificationURI: URL
    public var verificationURIComplete: URL?
    public var expiresAt: Date
    /// The polling interval the provider asked for (RFC 8628 default 5 s).
    public var interval: Duration
    /// What was requested, repeated on the token request.
    public var scopes: [String]
    public var audience: [String]

    public init(deviceCode: Secret, userCode: String, verificationURI: URL, verificationURIComplete: URL? = nil,
                expiresAt: Date, interval: Duration = .seconds(5), scopes: [String] = [], audience: [String] = []) {
        self.deviceCode = deviceCode
        self.userCode = userCode
        self.verificationURI = verificationURI
        self.verificationURIComplete = verificationURIComplete
        self.expiresAt = expiresAt
        self.interval = UntrustedSeconds.clamp(interval, to: Self.intervalRange)
        self.scopes = scopes
        self.audience = audience
    }

    public var description: String {
        "DeviceAuthorization(userCode: \(userCode), verificationURI: \(verificationURI), expiresAt: \(expiresAt))"
    }
}

/// The result of RFC 7591 dynamic client registration. Its description shows no secret.
public struct ClientRegistration: Sendable, CustomStringConvertible {
    public var credentials: ClientCredentials
    /// RFC 7592 management credentials, if the provider issued them.
    public var registrationAccessToken: Secret?
    public var registrationClientURI: URL?
    /// Nil or never: the secret does not expire.
    public var clientSecretExpiresAt: Date?
    /// As the provider granted them (nil: it did not say).
    public var grantTypes: [String]?
    public var redirectURIs: [String]?

    public init(credentials: ClientCredentials, registrationAccessToken: Secret? = nil,
                registrationClientURI: URL? = nil, clientSecretExpiresAt: Date? = nil, grantTypes: [String]? = nil,
                redirectURIs: [String]? = nil) {
        self.credentials = credentials
        self.registrationAccessToken = registrationAccessToken
        self.registrationClientURI = registrationClientURI
        self.clientSecretExpiresAt = clientSecretExpiresAt
        self.grantTypes = grantTypes
        self.redirectURIs = redirectURIs
    }

    /// What RFC 7592 needs to read or delete this client later: store it (the token in the keyring).
    public var management: ClientManagement? {
        guard let registrationAccessToken, !registrationAccessToken.isEmpty, let registrationClientURI else { return nil }
        return ClientManagement(accessToken: registrationAccessToken, clientURI: registrationClientURI)
    }

    /// Whether `login --browser` can work with this client (authorization code on a loopback redirect).
    public var allowsAuthorizationCode: Bool { grantTypes?.contains("authorization_code") == true }

    public var description: String {
        "ClientRegistration(client: \(credentials.clientID), grants: \(grantTypes?.joined(separator: " ") ?? "unknown"), "
            + "management: \(management.map { "\($0.clientURI.absoluteString) with <redacted>" } ?? "none"))"
    }
}

/// RFC 7592 client management: the registration access token (a bearer secret, redacted when
/// printed) and the client configuration endpoint it is good for.
public struct ClientManagement: Sendable, Equatable, CustomStringConvertible {
    public var accessToken: Secret
    public var clientURI: URL

    public init(accessToken: Secret, clientURI: URL) {
        self.accessToken = accessToken
        self.clientURI = clientURI
    }

    public var description: String { "ClientManagement(\(clientURI.absoluteString), token: <redacted>)" }
}

public enum JWT {
    /// The payload of a JWT as JSON, unverified: nil unless the token is three dot-separated
    /// parts with a JSON object in the middle.
    public static func claims(of token: Secret) -> [String: JSONValue]? {
        let parts = token.reveal().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(parts[1]) else { return nil }
        return JSONValue.parseObject(data)
    }

    /// The `exp` claim of a JWT, unverified: used only to guess a lifetime the response omitted.
    static func expiry(of token: Secret) -> Date? {
        let parts = token.reveal().split(separator: ".")
        guard parts.count == 3 else { return nil }
        guard let data = Base64URL.decode(parts[1]), let exp = JSONValue.parse(data)?["exp"]?.numberValue, exp.isFinite
        else { return nil }
        return Date(timeIntervalSince1970: exp)
    }
}
