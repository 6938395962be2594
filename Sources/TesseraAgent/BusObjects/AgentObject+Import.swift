import OIDC
import OIDCAgentProtocol
import TesseraAPI
import TesseraCore

extension AgentObject {
    /// `AddAccount`'s `oidc-agent-config`: the fields of `oidc-gen -p` output become the settings
    /// the caller did not give itself (those win). The secrets in it go on as settings, i.e. to the
    /// keyring, and nowhere else.
    static func mergingOIDCAgentConfig(_ message: AccountSettingsMessage) throws(AgentError)
        -> (AccountSettingsMessage, OIDCAgentAccountConfiguration?)
    {
        guard let text = message.oidcAgentConfig else { return (message, nil) }
        let configuration: OIDCAgentAccountConfiguration
        do { configuration = try OIDCAgentAccountConfiguration(json: text) } catch {
            throw .invalidArgument(field: AccountSetting.oidcAgentConfig.rawValue, reason: error.message)
        }
        var merged = message
        merged.issuer = message.issuer ?? configuration.issuer
        merged.clientID = message.clientID ?? configuration.clientID
        merged.clientSecret = message.clientSecret ?? configuration.clientSecret?.reveal()
        merged.refreshToken = message.refreshToken ?? configuration.refreshToken?.reveal()
        if message.scopes == nil && !configuration.scopes.isEmpty { merged.scopes = configuration.scopes }
        if message.audience == nil && !configuration.audience.isEmpty { merged.audience = configuration.audience }
        merged.oidcAgentConfig = nil
        return (merged, configuration)
    }

    /// What an import carries beyond the settings: the client's redirect URIs and the management
    /// of a client oidc-gen registered, both only for the configuration's own client.
    static func importedClient(_ configuration: OIDCAgentAccountConfiguration, into settings: inout AccountSettings)
        throws(AgentError)
    {
        guard settings.clientID == configuration.clientID else { return }
        let field = AccountSetting.oidcAgentConfig.rawValue
        if !configuration.redirectURIs.isEmpty {
            guard configuration.redirectURIs.count <= 32 else {
                throw .invalidArgument(field: field, reason: "'redirect_uris' lists more than 32 URIs")
            }
            settings.redirectURIs = try Validate.words(configuration.redirectURIs, field: field)
        }
        if let token = configuration.registrationAccessToken, let uri = configuration.registrationClientURI {
            let clientURI = try Validate.endpointURL(uri, field: field)
            settings.management = ClientManagement(accessToken: token, clientURI: clientURI)
        }
    }
}
