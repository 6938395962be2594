import DBus
import FoundationEssentials
import OIDC
import Secrets
import TesseraAPI
import TesseraCore

/// The mytoken methods of `io.tessera.Agent1` that use or make a mytoken (CreateMytoken,
/// GetTokenWithMytoken, ExchangeTransferCode, RevokeMytoken): arguments checked here, work done by
/// `Agent`. Asking the server (templates, tokeninfo) is in `AgentObject+MytokenInfo.swift`, a new
/// mytoken by login in `AgentObject+NewMytoken.swift`, the request options in
/// `AgentObject+MytokenRequest.swift`.
extension AgentObject {
    func createMytoken(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, message) = try decodeOptions(call) { options throws(ArgumentError) in
            try CreateMytokenRequest(dbusOptions: options)
        }
        let (passed, server) = try Self.passedMytoken(account: account, mytoken: message.mytoken,
                                                      server: message.mytokenServer,
                                                      mytokenField: CreateMytokenKey.mytoken.rawValue,
                                                      serverField: CreateMytokenKey.mytokenServer.rawValue)
        for (given, key) in [(message.oidcIssuer != nil, CreateMytokenKey.oidcIssuer), (message.notify != nil, .notify)] where given {
            throw .invalidArgument(field: key.rawValue, reason: "applies only to StartMytokenLogin")
        }
        let request = try Self.mytokenRequest(message)
        // A sub-mytoken of an account's mytoken is that account's token; one made from a mytoken
        // the caller passed is the caller's own.
        if !account.isEmpty { try await consent.check(caller, account: account, item: .mytoken, hint: nil) }
        let (issued, usedServer) = try await agent.createMytoken(account: account.isEmpty ? nil : account, passed: passed,
                                                                 server: server, request: request)
        return Self.reply(issued, server: usedServer).body
    }

    func getTokenWithMytoken(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (text, options) = try decodeOptions(call) { options throws(ArgumentError) in
            try MytokenTokenOptions(dbusOptions: options)
        }
        let mytoken = Secret(try Validate.secret(text, field: "mytoken"))
        let server = try options.mytokenServer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: MytokenTokenOption.mytokenServer.rawValue)
        }
        let scopes = try Validate.words(options.scopes ?? [], field: MytokenTokenOption.scopes.rawValue)
        let audience = try Validate.words(options.audience ?? [], field: MytokenTokenOption.audience.rawValue)
        let oidcIssuer = try options.oidcIssuer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: MytokenTokenOption.oidcIssuer.rawValue).absoluteString
        }
        let comment = try options.comment.map { text throws(AgentError) in
            try Validate.text(text, field: MytokenTokenOption.comment.rawValue)
        }
        let (token, usedServer) = try await agent.accessToken(withMytoken: mytoken, server: server, scopes: scopes,
                                                              audience: audience, oidcIssuer: oidcIssuer, comment: comment)
        let expiresAt = Int64(Date().timeIntervalSince1970.rounded(.down)) + Int64(token.expiresIn ?? 0)
        var info = TokenReply(token: "", expiresAt: expiresAt, tokenType: token.tokenType,
                              scopes: token.scopes.isEmpty ? scopes : token.scopes,
                              audience: token.audiences.isEmpty ? audience : token.audiences,
                              issuer: oidcIssuer ?? Mytokens.claim("oidc_iss", of: mytoken) ?? "", account: "").info
        info[TokenInfoKey.account.rawValue] = nil
        info[MytokenInfoKey.mytokenServer.rawValue] = Variant(usedServer.absoluteString)
        if let rotated = token.rotatedMytoken {
            info[MytokenInfoKey.rotatedMytoken.rawValue] = Variant(rotated.reveal())
        }
        return [.string(token.accessToken.reveal()), .int64(expiresAt), info.dbusValue]
    }

    func exchangeTransferCode(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (code, server, _) = try secretAndServer(call, field: "transfer_code", allowRecursive: false)
        let (issued, usedServer) = try await agent.exchange(transferCode: code, server: server)
        return Self.reply(issued, server: usedServer).body
    }

    func revokeMytoken(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (mytoken, server, options) = try secretAndServer(call, field: "mytoken", allowRecursive: true)
        try await agent.revoke(mytoken: mytoken, server: server, recursive: options.recursive ?? false)
        return []
    }

    /// The `(s secret, a{sv} options)` of ExchangeTransferCode and RevokeMytoken, checked.
    private func secretAndServer(_ call: MethodCall, field: String, allowRecursive: Bool) throws(AgentError)
        -> (Secret, URL?, MytokenServerOptions)
    {
        let (text, options) = try decodeOptions(call) { options throws(ArgumentError) in
            try MytokenServerOptions(dbusOptions: options, allowRecursive: allowRecursive)
        }
        let secret = Secret(try Validate.secret(text, field: field))
        let server = try options.mytokenServer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: MytokenServerOption.mytokenServer.rawValue)
        }
        return (secret, server, options)
    }

    static func reply(_ issued: IssuedMytoken, server: URL) -> MytokenReply {
        let type: MytokenTokenTypeName = switch issued.type {
        case .token: .jwt
        case .shortToken: .short
        case .transferCode: .transfer
        }
        let restrictions = issued.restrictions.isEmpty ? nil
            : "[" + issued.restrictions.map { $0.jsonString() }.joined(separator: ",") + "]"
        return MytokenReply(
            token: issued.token.reveal(), tokenType: type.rawValue,
            expiresAt: issued.expiresIn.map { Int64(Date().timeIntervalSince1970.rounded(.down)) + Int64($0) },
            restrictions: restrictions, capabilities: issued.capabilities, mytokenServer: server.absoluteString,
            rotatedMytoken: issued.rotatedMytoken?.reveal())
    }

    /// The rule for calls that act on a stored account or on a mytoken passed in: one or the
    /// other, and a server only with a passed mytoken (an account knows its own).
    static func passedMytoken(account: String, mytoken: String?, server: String?, mytokenField: String,
                              serverField: String) throws(AgentError) -> (mytoken: Secret?, server: URL?) {
        let passed = try mytoken.map { text throws(AgentError) in Secret(try Validate.secret(text, field: mytokenField)) }
        if passed != nil && !account.isEmpty {
            throw .invalidArgument(field: mytokenField, reason: "give an account or a mytoken, not both")
        }
        if passed == nil && server != nil { throw .invalidArgument(field: serverField, reason: "applies only with mytoken") }
        let url = try server.map { text throws(AgentError) in try Validate.serverURL(text, field: serverField) }
        return (passed, url)
    }
}
