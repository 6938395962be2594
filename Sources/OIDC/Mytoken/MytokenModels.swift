import FoundationEssentials
import Secrets

/// What a mytoken server publishes at `/.well-known/mytoken-configuration` (API v0).
public struct MytokenConfiguration: Sendable, Equatable, Decodable {
    public struct Provider: Sendable, Equatable, Decodable {
        public var issuer: String
        public var name: String?
        public var scopesSupported: [String]?

        enum CodingKeys: String, CodingKey {
            case issuer, name, scopesSupported = "scopes_supported"
        }
    }

    public var issuer: String
    public var accessTokenEndpoint: URL
    public var mytokenEndpoint: URL
    public var tokeninfoEndpoint: URL?
    public var revocationEndpoint: URL?
    public var tokenTransferEndpoint: URL?
    /// Where the server lists its template groups, profiles and templates.
    public var profilesEndpoint: URL?
    public var tokeninfoActionsSupported: [String]
    public var providersSupported: [Provider]
    public var accessTokenEndpointGrantTypesSupported: [String]
    public var mytokenEndpointGrantTypesSupported: [String]
    public var mytokenEndpointOIDCFlowsSupported: [String]
    public var responseTypesSupported: [String]
    public var restrictionClaimsSupported: [String]
    public var version: String?

    enum CodingKeys: String, CodingKey {
        case issuer, version
        case accessTokenEndpoint = "access_token_endpoint"
        case mytokenEndpoint = "mytoken_endpoint"
        case tokeninfoEndpoint = "tokeninfo_endpoint"
        case revocationEndpoint = "revocation_endpoint"
        case tokenTransferEndpoint = "token_transfer_endpoint"
        case profilesEndpoint = "profiles_endpoint"
        case tokeninfoActionsSupported = "tokeninfo_endpoint_actions_supported"
        case providersSupported = "providers_supported"
        case accessTokenEndpointGrantTypesSupported = "access_token_endpoint_grant_types_supported"
        case mytokenEndpointGrantTypesSupported = "mytoken_endpoint_grant_types_supported"
        case mytokenEndpointOIDCFlowsSupported = "mytoken_endpoint_oidc_flows_supported"
        case responseTypesSupported = "response_types_supported"
        case restrictionClaimsSupported = "restriction_claims_supported"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        issuer = try c.decode(String.self, forKey: .issuer)
        accessTokenEndpoint = try c.decode(URL.self, forKey: .accessTokenEndpoint)
        mytokenEndpoint = try c.decode(URL.self, forKey: .mytokenEndpoint)
        // Absent features are published as absent (or, by some versions, empty) endpoints.
        func optionalURL(_ key: CodingKeys) throws -> URL? {
            guard let text = try c.decodeIfPresent(String.self, forKey: key), !text.isEmpty else { return nil }
            return URL(string: text)
        }
        tokeninfoEndpoint = try optionalURL(.tokeninfoEndpoint)
        revocationEndpoint = try optionalURL(.revocationEndpoint)
        tokenTransferEndpoint = try optionalURL(.tokenTransferEndpoint)
        profilesEndpoint = try optionalURL(.profilesEndpoint)
        tokeninfoActionsSupported = try c.decodeIfPresent([String].self, forKey: .tokeninfoActionsSupported) ?? []
        providersSupported = try c.decodeIfPresent([Provider].self, forKey: .providersSupported) ?? []
        accessTokenEndpointGrantTypesSupported =
            try c.decodeIfPresent([String].self, forKey: .accessTokenEndpointGrantTypesSupported) ?? ["mytoken"]
        mytokenEndpointGrantTypesSupported =
            try c.decodeIfPresent([String].self, forKey: .mytokenEndpointGrantTypesSupported) ?? []
        mytokenEndpointOIDCFlowsSupported =
            try c.decodeIfPresent([String].self, forKey: .mytokenEndpointOIDCFlowsSupported) ?? []
        responseTypesSupported = try c.decodeIfPresent([String].self, forKey: .responseTypesSupported) ?? ["token"]
        restrictionClaimsSupported = try c.decodeIfPresent([String].self, forKey: .restrictionClaimsSupported) ?? []
        version = try c.decodeIfPresent(String.self, forKey: .version)
    }
}

/// The form in which the server hands out a new mytoken (`response_type` / `mytoken_type`).
public enum MytokenResponseType: String, Sendable, CaseIterable {
    /// The full JWT.
    case token
    /// A short opaque handle the server maps to the JWT.
    case shortToken = "short_token"
    /// A short-lived, single-use code that another device exchanges for the token.
    case transferCode = "transfer_code"

    /// The mytoken client's `--token-type` spelling (`jwt` | `short` | `transfer`).
    public init?(option: String) {
        switch option {
        case "jwt", "token": self = .token
        case "short", "short_token": self = .shortToken
        case "transfer", "transfer_code": self = .transferCode
        default: return nil
        }
    }
}

/// When the server replaces a mytoken on use (API v0 `rotation`).
public struct MytokenRotation: Sendable, Equatable, Codable {
    /// Rotate whenever an access token is obtained.
    public var onAccessToken: Bool
    /// Rotate on every other use (sub-mytokens, transfer codes, tokeninfo).
    public var onOther: Bool
    /// Seconds each rotated token stays valid (nil: unlimited).
    public var lifetime: UInt64?
    /// Revoke the token and its sub-tokens when an already rotated-away token is presented.
    public var autoRevoke: Bool
    /// Names of the server's rotation templates merged in (the fields here win).
    public var include: [String]

    public init(onAccessToken: Bool = false, onOther: Bool = false, lifetime: UInt64? = nil, autoRevoke: Bool = false,
                include: [String] = []) {
        self.onAccessToken = onAccessToken
        self.onOther = onOther
        self.lifetime = lifetime
        self.autoRevoke = autoRevoke
        self.include = include
    }

    /// True when it asks for anything: a trigger, or templates that may hold one.
    public var isEffective: Bool { onAccessToken || onOther || !include.isEmpty }

    enum CodingKeys: String, CodingKey {
        case onAccessToken = "on_AT", onOther = "on_other", lifetime, autoRevoke = "auto_revoke", include
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        onAccessToken = try c.decodeIfPresent(Bool.self, forKey: .onAccessToken) ?? false
        onOther = try c.decodeIfPresent(Bool.self, forKey: .onOther) ?? false
        lifetime = try c.decodeIfPresent(UInt64.self, forKey: .lifetime)
        autoRevoke = try c.decodeIfPresent(Bool.self, forKey: .autoRevoke) ?? false
        if let one = try? c.decodeIfPresent(String.self, forKey: .include) {
            include = [one]
        } else {
            include = try c.decodeIfPresent([String].self, forKey: .include) ?? []
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if onAccessToken { try c.encode(true, forKey: .onAccessToken) }
        if onOther { try c.encode(true, forKey: .onOther) }
        if let lifetime, lifetime > 0 { try c.encode(lifetime, forKey: .lifetime) }
        if autoRevoke { try c.encode(true, forKey: .autoRevoke) }
        if include.count == 1 { try c.encode(include[0], forKey: .include) }
        if include.count > 1 { try c.encode(include, forKey: .include) }
    }
}

/// The properties asked for when a mytoken is created, by login or from another mytoken.
public struct MytokenRequest: Sendable, Equatable {
    /// Clauses of the new token; empty means none asked (a sub-mytoken then keeps its parent's).
    public var restrictions: [MytokenRestriction]
    /// Restrictions as sent when given as JSON or template names (`MytokenTemplateInput`); when
    /// set, `restrictions` is not used.
    public var restrictionsJSON: MytokenJSON?
    /// `--profile`: a JSON profile's fields as the request's base and server profiles to include.
    public var profile: MytokenProfile
    /// Capabilities asked for (`@name` names a server capability template); nil lets the server
    /// choose (the parent's for a sub-mytoken, `AT` + `tokeninfo` for a login).
    public var capabilities: [String]?
    /// Capabilities the new token may pass on to its own sub-tokens.
    public var subtokenCapabilities: [String]?
    public var rotation: MytokenRotation?
    /// A name to find the token by in the server's lists.
    public var name: String?
    public var responseType: MytokenResponseType
    /// Longest JWT acceptable; the server answers with a short token when the JWT is longer.
    public var maxTokenLength: Int?
    /// Fail with a 400 instead of dropping restriction clauses that are wider than the parent's.
    public var failOnWiderRestrictions: Bool
    /// Shown by the server in its lists of tokens and events.
    public var applicationName: String?

    public init(
        restrictions: [MytokenRestriction] = [], capabilities: [String]? = nil, subtokenCapabilities: [String]? = nil,
        rotation: MytokenRotation? = nil, name: String? = nil, responseType: MytokenResponseType = .token,
        maxTokenLength: Int? = nil, failOnWiderRestrictions: Bool = false, applicationName: String? = nil,
        restrictionsJSON: MytokenJSON? = nil, profile: MytokenProfile = MytokenProfile()
    ) {
        self.restrictions = restrictions
        self.restrictionsJSON = restrictionsJSON
        self.profile = profile
        self.capabilities = capabilities
        self.subtokenCapabilities = subtokenCapabilities
        self.rotation = rotation
        self.name = name
        self.responseType = responseType
        self.maxTokenLength = maxTokenLength
        self.failOnWiderRestrictions = failOnWiderRestrictions
        self.applicationName = applicationName
    }
}

/// A mytoken (or a short token, or a transfer code for one) the server handed out.
public struct IssuedMytoken: Sendable, Equatable {
    /// The JWT, the short token, or the transfer code, as `type` says.
    public var token: Secret
    public var type: MytokenResponseType
    /// Seconds until the token (or the transfer code) expires; nil when it does not.
    public var expiresIn: Int?
    public var restrictions: [MytokenRestriction]
    public var capabilities: [String]
    public var subtokenCapabilities: [String]
    public var rotation: MytokenRotation?
    /// When the presented mytoken was rotated by this call: its replacement. Persist it before
    /// anything else — the presented token no longer works.
    public var rotatedMytoken: Secret?
}

/// An access token obtained with a mytoken.
public struct MytokenAccessToken: Sendable, Equatable {
    public var accessToken: Secret
    public var tokenType: String
    /// Seconds from issue; nil when the server did not say.
    public var expiresIn: Int?
    public var scopes: [String]
    public var audiences: [String]
    /// When the mytoken was rotated by this call: its replacement. Persist it before handing out
    /// the access token — the presented mytoken no longer works.
    public var rotatedMytoken: Secret?
}

/// A transfer code for an existing mytoken.
public struct MytokenTransferCode: Sendable, Equatable {
    public var code: Secret
    public var expiresIn: Int?
}

/// A started login through the server's OIDC flow: show `consentURI`, then poll.
public struct MytokenLogin: Sendable, Equatable {
    public var consentURI: URL
    public var pollingCode: Secret
    /// Seconds the polling code stays valid.
    public var expiresIn: Int
    /// Seconds to wait between polls.
    public var interval: Int
}

/// One poll of a login.
public enum MytokenPollResult: Sendable, Equatable {
    case pending
    case issued(IssuedMytoken)
}
