import DBus
import Foundation
import OIDC
import TesseraAPI
import TesseraCore

/// ListProviders, SetAccount, RenameAccount and GetIdToken: arguments checked here, work in `Agent`.
extension AgentObject {
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
        edit.clientID = try message.clientID.map { id throws(AgentError) in try Validate.text(id, field: AccountSetting.clientID.rawValue) }
        if let secret = message.clientSecret {
            _ = try Validate.text(secret, field: AccountSetting.clientSecret.rawValue)
            edit.clientSecret = SecretString(secret)
        }
        edit.scopes = try message.scopes.map { s throws(AgentError) in try Validate.words(s, field: AccountSetting.scopes.rawValue) }
        edit.audience = try message.audience.map { a throws(AgentError) in try Validate.words(a, field: AccountSetting.audience.rawValue) }
        edit.audienceStyle = try message.audienceStyle.map { style throws(AgentError) in try Self.audienceStyle(style) }
        try await agent.setAccount(name: name, edit: edit)
        return []
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

    func getIdToken(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try IdTokenOptions(dbusOptions: options) }
        let token = try await agent.idToken(account: account, minValid: options.minValid ?? GetTokenOption.defaultMinValid,
                                            force: options.force ?? false)
        return [.string(token.value), .int64(token.expiresAt.map { Int64($0.timeIntervalSince1970.rounded(.down)) } ?? 0)]
    }
}
