import DBus
import FoundationEssentials
import OIDC
import Secrets
import TesseraAPI
import TesseraCore

/// The account methods — `AddAccount`, `RemoveAccount`, `ListAccounts`, `SetAccount`, `RenameAccount`,
/// `ListProviders` — every setting checked here, with the field named; the work is `Agent`'s.
extension AgentObject {
    func addAccount(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (name, given) = try decodeOptions(call) { options throws(ArgumentError) in try AccountSettingsMessage(dbusOptions: options) }
        let (message, imported) = try Self.mergingOIDCAgentConfig(given)
        var kind = AccountKind.oidc
        if let text = message.kind {
            guard let value = AccountKind(rawValue: text) else {
                throw .invalidArgument(field: AccountSetting.kind.rawValue, reason: "must be oidc or mytoken, not \"\(text.prefix(64))\"")
            }
            kind = value
        }
        let issuer = try message.issuer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: AccountSetting.issuer.rawValue)
        }
        let oidcIssuer = try message.oidcIssuer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: AccountSetting.oidcIssuer.rawValue)
        }
        if kind == .oidc {
            for (given, field) in [(message.oidcIssuer, AccountSetting.oidcIssuer), (message.mytokenServer, .mytokenServer),
                                   (message.mytoken, .mytoken), (message.transferCode, .transferCode)] where given != nil {
                throw .invalidArgument(field: field.rawValue, reason: "applies only to kind=mytoken")
            }
            guard issuer != nil || message.provider != nil else {
                throw .invalidArgument(field: AccountSetting.issuer.rawValue, reason: "is required (or give provider)")
            }
        } else if given.oidcAgentConfig != nil {
            throw .invalidArgument(field: AccountSetting.oidcAgentConfig.rawValue, reason: "applies only to kind=oidc (a mytoken account takes mytoken)")
        }
        if let issuer, let oidcIssuer, issuer != oidcIssuer {
            throw .invalidArgument(field: AccountSetting.oidcIssuer.rawValue, reason: "differs from issuer (give one of them)")
        }
        if let provider = message.provider {
            guard kind == .oidc else {
                throw .invalidArgument(field: AccountSetting.provider.rawValue, reason: "applies only to kind=oidc")
            }
            _ = try Validate.text(provider, field: AccountSetting.provider.rawValue)
        }
        var settings = AccountSettings(issuer: issuer ?? oidcIssuer)
        settings.kind = kind
        settings.provider = message.provider
        if let refreshToken = message.refreshToken {
            guard kind == .oidc else {
                throw .invalidArgument(field: AccountSetting.refreshToken.rawValue, reason: "applies only to kind=oidc (a mytoken account takes mytoken)")
            }
            settings.refreshToken = Secret(try Validate.secret(refreshToken, field: AccountSetting.refreshToken.rawValue))
        }
        if let mytoken = message.mytoken {
            settings.mytoken = Secret(try Validate.secret(mytoken, field: AccountSetting.mytoken.rawValue))
        }
        if let code = message.transferCode {
            settings.transferCode = Secret(try Validate.secret(code, field: AccountSetting.transferCode.rawValue))
        }
        if let raw = message.mytokenRequest {
            settings.mytokenRequest = try Self.loginRequest(raw, kind: kind)
        }
        let common = try Self.commonSettings(message)
        if let style = common.audienceStyle { settings.audienceStyle = style }
        (settings.clientID, settings.clientSecret) = (common.clientID, common.clientSecret)
        (settings.scopes, settings.audience) = (common.scopes, common.audience)
        settings.mytokenServer = try message.mytokenServer.map { url throws(AgentError) in
            try Validate.serverURL(url, field: AccountSetting.mytokenServer.rawValue)
        }
        settings.replace = message.replace ?? false
        if let imported { try Self.importedClient(imported, into: &settings) }
        try await agent.addAccount(name: name, settings: settings)
        return []
    }

    func removeAccount(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (name, options) = try decodeOptions(call) { options throws(ArgumentError) in try RemoveAccountOptions(dbusOptions: options) }
        try await agent.removeAccount(name: name, revoke: options.revoke ?? true)
        return []
    }

    func listAccounts() async -> [DBusValue] {
        AccountInfo.listBody(await agent.listAccounts().map { status in
            let account = status.account
            return AccountInfo(name: account.name, issuer: account.issuer.absoluteString, kind: account.kind.rawValue,
                               clientID: account.clientID, scopes: account.scopes, audience: account.audience,
                               audienceStyle: account.audienceStyle.rawValue,
                               mytokenServer: account.mytokenServer?.absoluteString,
                               loggedIn: status.loggedIn, hasClientSecret: status.hasClientSecret,
                               tokenExpiresAt: status.tokenExpiries.map { Int64($0.timeIntervalSince1970.rounded(.down)) },
                               registrationClientURI: account.registrationClientURI?.absoluteString)
        })
    }

    func listProviders() -> [DBusValue] {
        ProviderInfo.listBody(agent.listProviders().map { provider in
            ProviderInfo(shortName: provider.shortName, issuer: provider.issuer.absoluteString,
                         displayName: provider.displayName, registrationURI: provider.registrationURI?.absoluteString,
                         publicClientID: provider.publicClientID, scopes: provider.scopes,
                         audienceParameter: provider.audienceParameter.rawValue, notes: provider.notes,
                         source: provider.source)
        })
    }

    func providerProblems() -> DBusValue {
        .array(of: "s", agent.providerProblems.map { .string($0) })
    }

    func setAccount(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (name, message) = try decodeOptions(call) { options throws(ArgumentError) in
            try AccountSettingsMessage(dbusOptions: options, allowed: AccountSetting.editable)
        }
        var edit = AccountEdit()
        edit.issuer = try message.issuer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: AccountSetting.issuer.rawValue)
        }
        let common = try Self.commonSettings(message)
        (edit.clientID, edit.clientSecret) = (common.clientID, common.clientSecret)
        (edit.scopes, edit.audience, edit.audienceStyle) = (common.scopes, common.audience, common.audienceStyle)
        try await agent.setAccount(name: name, edit: edit)
        return []
    }

    /// The settings AddAccount and SetAccount share, checked one way for both.
    static func commonSettings(_ message: AccountSettingsMessage) throws(AgentError)
        -> (clientID: String?, clientSecret: Secret?, scopes: [String]?, audience: [String]?, audienceStyle: AudienceStyle?)
    {
        let clientID = try message.clientID.map { id throws(AgentError) in try Validate.text(id, field: AccountSetting.clientID.rawValue) }
        let clientSecret = try message.clientSecret.map { secret throws(AgentError) in
            Secret(try Validate.text(secret, field: AccountSetting.clientSecret.rawValue))
        }
        let scopes = try message.scopes.map { s throws(AgentError) in try Validate.words(s, field: AccountSetting.scopes.rawValue) }
        let audience = try message.audience.map { a throws(AgentError) in try Validate.words(a, field: AccountSetting.audience.rawValue) }
        let style = try message.audienceStyle.map { style throws(AgentError) in try Self.audienceStyle(style) }
        return (clientID, clientSecret, scopes, audience, style)
    }

    static func audienceStyle(_ text: String) throws(AgentError) -> AudienceStyle {
        guard let value = AudienceStyle(rawValue: text) else {
            throw .invalidArgument(field: AccountSetting.audienceStyle.rawValue,
                                   reason: "must be one of \(AudienceStyle.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text.prefix(64))\"")
        }
        return value
    }

    func renameAccount(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let old: String, new: String
        do { (old, new) = try call.arguments.decode(String.self, String.self) } catch {
            throw .invalidArgument(field: "arguments", reason: error.description)
        }
        try await agent.renameAccount(from: old, to: new)
        return []
    }
}
