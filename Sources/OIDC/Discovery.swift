import FoundationEssentials

/// What the client needs from a provider's discovery document (OpenID Connect Discovery 1.0 or
/// RFC 8414 authorization server metadata).
public struct ProviderMetadata: Sendable, Equatable {
    public var issuer: URL
    public var tokenEndpoint: URL
    public var deviceAuthorizationEndpoint: URL?
    public var revocationEndpoint: URL?
    public var registrationEndpoint: URL?
    public var authorizationEndpoint: URL?
    public var userinfoEndpoint: URL?
    public var jwksURI: URL?
    public var scopesSupported: [String]?
    public var grantTypesSupported: [String]?
    public var tokenEndpointAuthMethodsSupported: [String]?
    /// Which document it came from.
    public var source: Source

    public enum Source: Sendable, Equatable {
        case openIDConfiguration
        case oauthAuthorizationServer  // RFC 8414
    }

    public init(issuer: URL, tokenEndpoint: URL, deviceAuthorizationEndpoint: URL? = nil,
                revocationEndpoint: URL? = nil, registrationEndpoint: URL? = nil,
                authorizationEndpoint: URL? = nil, userinfoEndpoint: URL? = nil, jwksURI: URL? = nil,
                scopesSupported: [String]? = nil, grantTypesSupported: [String]? = nil,
                tokenEndpointAuthMethodsSupported: [String]? = nil, source: Source = .openIDConfiguration) {
        self.issuer = issuer
        self.tokenEndpoint = tokenEndpoint
        self.deviceAuthorizationEndpoint = deviceAuthorizationEndpoint
        self.revocationEndpoint = revocationEndpoint
        self.registrationEndpoint = registrationEndpoint
        self.authorizationEndpoint = authorizationEndpoint
        self.userinfoEndpoint = userinfoEndpoint
        self.jwksURI = jwksURI
        self.scopesSupported = scopesSupported
        self.grantTypesSupported = grantTypesSupported
        self.tokenEndpointAuthMethodsSupported = tokenEndpointAuthMethodsSupported
        self.source = source
    }

    /// What `max` means for scopes (oidc-gen's word): every scope the provider publishes. An
    /// issuer that publishes none cannot be asked for "all" (an error that says so).
    public func maxScopes() throws(OIDCError) -> [String] {
        guard let scopes = scopesSupported?.filter({ !$0.isEmpty }), !scopes.isEmpty else {
            throw .unsupported("\"max\" scopes (its discovery document publishes no scopes_supported; name the scopes instead)")
        }
        return scopes
    }

    init(_ fields: JSONFields, source: Source) throws(OIDCError) {
        self.init(
            issuer: try fields.requiredURL("issuer"),
            tokenEndpoint: try fields.requiredURL("token_endpoint"),
            deviceAuthorizationEndpoint: try fields.url("device_authorization_endpoint"),
            revocationEndpoint: try fields.url("revocation_endpoint"),
            registrationEndpoint: try fields.url("registration_endpoint"),
            authorizationEndpoint: try fields.url("authorization_endpoint"),
            userinfoEndpoint: try fields.url("userinfo_endpoint"),
            jwksURI: try fields.url("jwks_uri"),
            scopesSupported: try fields.strings("scopes_supported"),
            grantTypesSupported: try fields.strings("grant_types_supported"),
            tokenEndpointAuthMethodsSupported: try fields.strings("token_endpoint_auth_methods_supported"),
            source: source)
    }
}

/// Discovery documents cached per issuer for the life of the process (or `lifetime`), shared
/// by every `OIDCClient` of that issuer. Concurrent first requests share one fetch; failures
/// are not cached.
public actor ProviderMetadataCache {
    public static let shared = ProviderMetadataCache()

    private struct Entry {
        var task: Task<ProviderMetadata, any Error>
        var fetchedAt: ContinuousClock.Instant?
    }

    private var entries: [IssuerKey: Entry] = [:]
    public let lifetime: Duration

    public init(lifetime: Duration = .seconds(3600)) { self.lifetime = lifetime }

    public func invalidate(issuer: URL) { entries[IssuerKey(issuer)] = nil }

    func metadata(for issuer: URL, fetch: @escaping @Sendable () async throws -> ProviderMetadata) async throws
        -> ProviderMetadata
    {
        let key = IssuerKey(issuer)
        if let entry = entries[key] {
            if let fetchedAt = entry.fetchedAt, fetchedAt + lifetime < .now {
                entries[key] = nil
            } else {
                return try await entry.task.value
            }
        }
        let task = Task { try await fetch() }
        entries[key] = Entry(task: task, fetchedAt: nil)
        do {
            let metadata = try await task.value
            entries[key]?.fetchedAt = .now
            return metadata
        } catch {
            entries[key] = nil
            throw error
        }
    }
}

enum Discovery {
    /// OpenID Connect Discovery §4: the issuer (without a trailing slash) + the well-known path.
    static func openIDConfigurationURL(_ issuer: URL) -> URL {
        var base = issuer.absoluteString
        if base.hasSuffix("/") { base.removeLast() }
        return URL(string: base + "/.well-known/openid-configuration")!
    }

    /// RFC 8414 §3: the well-known segment goes between the host and the issuer's path.
    static func authorizationServerURL(_ issuer: URL) -> URL? {
        guard var components = URLComponents(url: issuer, resolvingAgainstBaseURL: false) else { return nil }
        var path = components.path
        if path.hasSuffix("/") { path.removeLast() }
        components.path = "/.well-known/oauth-authorization-server" + path
        components.query = nil
        components.fragment = nil
        return components.url
    }
}
