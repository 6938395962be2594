import FoundationEssentials
import OIDC
import TesseraNames

extension KnownProvider {
    /// The account's audience style this provider asks for.
    var audienceStyle: AudienceStyle {
        switch audienceParameter {
        case .audience: .audience
        case .resource: .resource
        case .auto: .auto
        }
    }
}

extension Agent {
    /// The known providers (built in, then the user's file). Problems in the user's file are
    /// logged once per change of the file and kept for the `ProviderProblems` property.
    public func listProviders() -> [KnownProvider] {
        let (providers, problems, changed) = providerCatalog.load()
        if changed {
            for problem in problems { logger.error("providers file problem: \(problem.description)") }
        }
        return providers
    }

    /// What is wrong in the providers files, as "file: field: reason" lines.
    public var providerProblems: [String] { providerCatalog.load().problems.map(\.description) }

    /// A provider by short name; an unknown one is an error that lists the known ones.
    func knownProvider(_ shortName: String) throws(AgentError) -> KnownProvider {
        let providers = listProviders()
        if let provider = providers.first(where: { $0.shortName == shortName }) { return provider }
        throw .invalidArgument(field: AccountSetting.provider.rawValue,
                               reason: "\"\(shortName.prefix(64))\" is not a known provider (known: "
                                   + providers.map(\.shortName).joined(separator: ", ") + "); or give issuer")
    }

    /// What `max` stands for: with the provider's public client, the scopes published for it
    /// (it may ask for no others); else the provider's `scopes_supported`; else the entry's list.
    /// None of them → an error, and nothing has been added.
    func maxScopes(issuer: URL, provider: KnownProvider?, usingPublicClient: Bool) async throws(AgentError) -> [String] {
        if usingPublicClient, let provider, !provider.scopes.isEmpty { return provider.scopes }
        let metadata: ProviderMetadata
        do { metadata = try await OIDCClient.discover(issuer: issuer, transport: transport) } catch {
            throw AgentError(error, account: issuer.absoluteString)
        }
        if let supported = metadata.scopesSupported, !supported.isEmpty {
            return try Validate.words(supported, field: "scopes_supported")
        }
        if let provider, !provider.scopes.isEmpty { return provider.scopes }
        throw .invalidArgument(field: AccountSetting.scopes.rawValue,
                               reason: "'\(AccountSetting.maxScopes)' needs the scopes the provider supports, but "
                                   + "\(issuer.absoluteString) publishes none (no scopes_supported in its discovery document); "
                                   + "name the scopes instead")
    }

    /// AddAccount's settings for an OpenID account with a known provider's defaults (issuer,
    /// public client, audience parameter) and `max` scopes filled in.
    func withProviderDefaults(_ settings: AccountSettings, existing: Account?) async throws(AgentError) -> AccountSettings {
        var settings = settings
        let provider = try settings.provider.map { name throws(AgentError) in try knownProvider(name) }
        if let provider, let issuer = settings.issuer, IssuerKey(issuer) != IssuerKey(provider.issuer) {
            throw .invalidArgument(field: AccountSetting.issuer.rawValue,
                                   reason: "differs from provider \(provider.shortName)'s issuer \(provider.issuer.absoluteString) (give one of them)")
        }
        guard let issuer = settings.issuer ?? provider?.issuer else {
            throw .invalidArgument(field: AccountSetting.issuer.rawValue, reason: "is required (or give provider)")
        }
        settings.issuer = issuer
        // A published public client is used as is; a client id of the caller's wins over it.
        let clientID = settings.clientID ?? (settings.clientSecret == nil ? provider?.publicClientID : nil)
        settings.clientID = clientID
        var scopes = settings.scopes ?? existing?.scopes ?? ["openid", "offline_access"]
        if scopes == [AccountSetting.maxScopes] {
            scopes = try await maxScopes(issuer: issuer, provider: provider,
                                         usingPublicClient: clientID != nil && clientID == provider?.publicClientID)
        } else if scopes.contains(AccountSetting.maxScopes) {
            throw .invalidArgument(field: AccountSetting.scopes.rawValue, reason: "'\(AccountSetting.maxScopes)' stands alone (every scope the provider supports)")
        }
        settings.scopes = scopes
        settings.audienceStyle = settings.audienceStyle ?? provider?.audienceStyle ?? existing?.audienceStyle
        return settings
    }
}
