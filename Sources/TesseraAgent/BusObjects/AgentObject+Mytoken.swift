import DBus
import Foundation
import OIDC
import TesseraAPI
import TesseraCore

extension Validate {
    /// Mytokens (JWTs run to a few KB), short tokens and codes: one printable ASCII word.
    static let maxSecretBytes = 16 * 1024

    static func secret(_ value: String, field: String) throws(AgentError) -> String {
        if value.isEmpty { throw .invalidArgument(field: field, reason: "must not be empty") }
        if value.utf8.count > maxSecretBytes {
            throw .invalidArgument(field: field, reason: "is longer than \(maxSecretBytes) bytes")
        }
        if value.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value >= 0x7F }) {
            throw .invalidArgument(field: field, reason: "must be one word of printable ASCII (no spaces or line breaks)")
        }
        return value
    }
}

/// The mytoken methods of `io.tessera.Agent1`: arguments checked here, work done by `Agent`.
extension AgentObject {
    func createMytoken(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (account, message) = try decodeOptions(call) { options throws(ArgumentError) in
            try CreateMytokenRequest(dbusOptions: options)
        }
        let passed = try message.mytoken.map { text throws(AgentError) in
            SecretString(try Validate.secret(text, field: CreateMytokenKey.mytoken.rawValue))
        }
        if passed != nil && !account.isEmpty {
            throw .invalidArgument(field: CreateMytokenKey.mytoken.rawValue, reason: "give an account or a mytoken, not both")
        }
        if passed == nil && message.mytokenServer != nil {
            throw .invalidArgument(field: CreateMytokenKey.mytokenServer.rawValue, reason: "applies only with mytoken")
        }
        let server = try message.mytokenServer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: CreateMytokenKey.mytokenServer.rawValue)
        }
        let request = try Self.mytokenRequest(message)
        let (issued, usedServer) = try await agent.createMytoken(account: account.isEmpty ? nil : account, passed: passed,
                                                                 server: server, request: request)
        return Self.reply(issued, server: usedServer).body
    }

    func getTokenWithMytoken(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (text, options) = try decodeOptions(call) { options throws(ArgumentError) in
            try MytokenTokenOptions(dbusOptions: options)
        }
        let mytoken = SecretString(try Validate.secret(text, field: "mytoken"))
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
                              issuer: oidcIssuer ?? Agent.claim("oidc_iss", of: mytoken) ?? "", account: "").info
        info[TokenInfoKey.account.rawValue] = nil
        info[MytokenInfoKey.mytokenServer.rawValue] = Variant(usedServer.absoluteString)
        if let rotated = token.rotatedMytoken {
            info[MytokenInfoKey.rotatedMytoken.rawValue] = Variant(rotated.reveal())
        }
        return [.string(token.accessToken.reveal()), .int64(expiresAt), info.dbusValue]
    }

    func exchangeTransferCode(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (text, options) = try decodeOptions(call) { options throws(ArgumentError) in
            try MytokenServerOptions(dbusOptions: options, allowRecursive: false)
        }
        let code = SecretString(try Validate.secret(text, field: "transfer_code"))
        guard let serverText = options.mytokenServer else {
            throw .invalidArgument(field: MytokenServerOption.mytokenServer.rawValue, reason: "is required (a transfer code does not name its server)")
        }
        let server = try Validate.serverURL(serverText, field: MytokenServerOption.mytokenServer.rawValue)
        return Self.reply(try await agent.exchange(transferCode: code, server: server), server: server).body
    }

    func revokeMytoken(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (text, options) = try decodeOptions(call) { options throws(ArgumentError) in
            try MytokenServerOptions(dbusOptions: options, allowRecursive: true)
        }
        let mytoken = SecretString(try Validate.secret(text, field: "mytoken"))
        let server = try options.mytokenServer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: MytokenServerOption.mytokenServer.rawValue)
        }
        try await agent.revoke(mytoken: mytoken, server: server, recursive: options.recursive ?? false)
        return []
    }

    // MARK: Translation

    static let maxCapabilities = 32

    /// The wire request as the OIDC module's request; restriction strings parsed here, in the
    /// service's local time zone (the user's session).
    static func mytokenRequest(_ message: CreateMytokenRequest) throws(AgentError) -> MytokenRequest {
        var request = MytokenRequest()
        var options = MytokenRestrictionOptions()
        options.notBefore = message.notBefore
        options.expiresAt = message.expiresAt
        options.scopes = message.scopes ?? []
        options.audiences = message.audience ?? []
        options.hosts = message.hosts ?? []
        options.geoIPAllow = message.geoIPAllow ?? []
        options.geoIPDisallow = message.geoIPDisallow ?? []
        options.usagesAT = try message.usagesAT.map { value throws(AgentError) in
            guard let count = Int64(exactly: value) else {
                throw .invalidArgument(field: CreateMytokenKey.usagesAT.rawValue, reason: "is too large")
            }
            return count
        }
        options.usagesOther = try message.usagesOther.map { value throws(AgentError) in
            guard let count = Int64(exactly: value) else {
                throw .invalidArgument(field: CreateMytokenKey.usagesOther.rawValue, reason: "is too large")
            }
            return count
        }
        if let text = message.restrictions, text.hasPrefix("@") {
            // Files are read by the caller: the service never opens a path a D-Bus peer names.
            throw .invalidArgument(field: CreateMytokenKey.restrictions.rawValue, reason: "must be JSON text, not @FILE")
        }
        if let text = message.restrictions, text.utf8.count > 64 * 1024 {
            throw .invalidArgument(field: CreateMytokenKey.restrictions.rawValue, reason: "is longer than 64 KB")
        }
        do {
            request.restrictions = try MytokenRestrictionInput.resolve(
                restriction: message.restrictions, options: options, times: MytokenTimeParser())
        } catch {
            throw .invalidArgument(field: restrictionField(message), reason: error.description)
        }
        request.capabilities = try message.capabilities.map { list throws(AgentError) in
            try capabilityList(list, field: CreateMytokenKey.capabilities.rawValue)
        }
        request.subtokenCapabilities = try message.subtokenCapabilities.map { list throws(AgentError) in
            try capabilityList(list, field: CreateMytokenKey.subtokenCapabilities.rawValue)
        }
        if message.rotation != nil || message.rotationLifetime != nil || message.rotationAutoRevoke != nil {
            var rotation = MytokenRotation()
            for trigger in message.rotation ?? [] {
                switch trigger {
                case "AT": rotation.onAccessToken = true
                case "other": rotation.onOther = true
                default:
                    throw .invalidArgument(field: CreateMytokenKey.rotation.rawValue,
                                           reason: "\"\(trigger.prefix(32))\" is not a rotation trigger (AT, other)")
                }
            }
            guard rotation.onAccessToken || rotation.onOther else {
                throw .invalidArgument(field: CreateMytokenKey.rotation.rawValue,
                                       reason: "name at least one trigger (AT, other) for rotation-lifetime or rotation-auto-revoke")
            }
            rotation.lifetime = message.rotationLifetime.map(UInt64.init)
            rotation.autoRevoke = message.rotationAutoRevoke ?? false
            request.rotation = rotation
        }
        request.name = try message.name.map { text throws(AgentError) in try Validate.text(text, field: CreateMytokenKey.name.rawValue) }
        if let type = message.tokenType {
            guard let name = MytokenTokenTypeName(rawValue: type) else {
                throw .invalidArgument(field: CreateMytokenKey.tokenType.rawValue,
                                       reason: "must be jwt, short or transfer, not \"\(type.prefix(32))\"")
            }
            request.responseType = switch name {
            case .jwt: .token
            case .short: .shortToken
            case .transfer: .transferCode
            }
        }
        if let length = message.maxTokenLength {
            guard length > 0 else { throw .invalidArgument(field: CreateMytokenKey.maxTokenLength.rawValue, reason: "must be positive") }
            request.maxTokenLength = Int(length)
        }
        request.failOnWiderRestrictions = message.failOnWiderRestrictions ?? false
        request.applicationName = "Tessera"
        return request
    }

    private static func restrictionField(_ message: CreateMytokenRequest) -> String {
        message.restrictions != nil ? CreateMytokenKey.restrictions.rawValue : "restriction options"
    }

    private static func capabilityList(_ list: [String], field: String) throws(AgentError) -> [String] {
        guard !list.isEmpty else { throw .invalidArgument(field: field, reason: "must not be empty (leave it out to inherit)") }
        guard list.count <= maxCapabilities else {
            throw .invalidArgument(field: field, reason: "has more than \(maxCapabilities) entries")
        }
        return try Validate.words(list, field: field)
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
}
