import OIDCAgentProtocol
import TesseraAPI
import TesseraCore

extension AgentObject {
    /// `AddAccount`'s `oidc-agent-config`: the fields of `oidc-gen -p` output become the settings
    /// the caller did not give itself (those win). The secrets in it go on as settings, i.e. to the
    /// keyring, and nowhere else.
    static func mergingOIDCAgentConfig(_ message: AccountSettingsMessage) throws(AgentError) -> AccountSettingsMessage {
        guard let text = message.oidcAgentConfig else { return message }
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
        return merged
    }
}
