import DBus
import Foundation
import OIDC
import TesseraAPI
import TesseraCore

/// `AddAccount`, `RemoveAccount`, `ListAccounts`: every setting checked here, with the field named.
extension AgentObject {
    func addAccount(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (name, message) = try decodeOptions(call) { options throws(ArgumentError) in try AccountSettingsMessage(dbusOptions: options) }
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
            guard issuer != nil else { throw .invalidArgument(field: AccountSetting.issuer.rawValue, reason: "is required") }
        }
        if let issuer, let oidcIssuer, issuer != oidcIssuer {
            throw .invalidArgument(field: AccountSetting.oidcIssuer.rawValue, reason: "differs from issuer (give one of them)")
        }
        var settings = AccountSettings(issuer: issuer ?? oidcIssuer)
        settings.kind = kind
        if let mytoken = message.mytoken {
            settings.mytoken = SecretString(try Validate.secret(mytoken, field: AccountSetting.mytoken.rawValue))
        }
        if let code = message.transferCode {
            settings.transferCode = SecretString(try Validate.secret(code, field: AccountSetting.transferCode.rawValue))
        }
        if let style = message.audienceStyle {
            guard let value = AudienceStyle(rawValue: style) else {
                throw .invalidArgument(field: AccountSetting.audienceStyle.rawValue, reason: "must be resource, audience or auto, not \"\(style.prefix(64))\"")
            }
            settings.audienceStyle = value
        }
        settings.clientID = try message.clientID.map { id throws(AgentError) in try Validate.text(id, field: AccountSetting.clientID.rawValue) }
        if let secret = message.clientSecret {
            _ = try Validate.text(secret, field: AccountSetting.clientSecret.rawValue)
            settings.clientSecret = SecretString(secret)
        }
        settings.scopes = try message.scopes.map { s throws(AgentError) in try Validate.words(s, field: AccountSetting.scopes.rawValue) }
        settings.audience = try message.audience.map { a throws(AgentError) in try Validate.words(a, field: AccountSetting.audience.rawValue) }
        settings.mytokenServer = try message.mytokenServer.map { url throws(AgentError) in
            try Validate.serverURL(url, field: AccountSetting.mytokenServer.rawValue)
        }
        settings.replace = message.replace ?? false
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
                               tokenExpiresAt: status.tokenExpiries.map { Int64($0.timeIntervalSince1970.rounded(.down)) })
        })
    }
}
