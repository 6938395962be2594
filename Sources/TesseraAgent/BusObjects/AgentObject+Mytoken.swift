import DBus
import FoundationEssentials
import OIDC
import TesseraAPI
import TesseraCore

/// The mytoken methods of `io.tessera.Agent1`: arguments checked here, work done by `Agent`.
extension AgentObject {
    func createMytoken(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
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
                              issuer: oidcIssuer ?? Mytokens.claim("oidc_iss", of: mytoken) ?? "", account: "").info
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
        let server = try options.mytokenServer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: MytokenServerOption.mytokenServer.rawValue)
        }
        let (issued, usedServer) = try await agent.exchange(transferCode: code, server: server)
        return Self.reply(issued, server: usedServer).body
    }

    func listMytokenTemplates(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let options: [String: Variant]
        do { options = try call.arguments.decode([String: Variant].self) } catch {
            throw .invalidArgument(field: "options", reason: "must be a{sv}")
        }
        let request: MytokenTemplatesRequest
        do { request = try MytokenTemplatesRequest(dbusOptions: options) } catch { throw error.agentError }
        let server = try request.mytokenServer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: MytokenTemplatesOption.mytokenServer.rawValue)
        }
        guard let kindName = MytokenTemplatesKindName(rawValue: request.kind) else {
            throw .invalidArgument(field: MytokenTemplatesOption.kind.rawValue, reason: "must be one of "
                + MytokenTemplatesKindName.allCases.map(\.rawValue).joined(separator: ", ") + ", not \"\(request.kind.prefix(32))\"")
        }
        let group = try request.group.map { text throws(AgentError) in
            try Validate.text(text, field: MytokenTemplatesOption.group.rawValue)
        }
        let (json, entries) = try await agent.mytokenTemplates(
            server: server, kind: kindName == .groups ? nil : MytokenTemplateKind(rawValue: kindName.rawValue), group: group)
        return MytokenTemplatesReply(json: json, entries: entries).body
    }

    func mytokenInfo(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let account: String, actionText: String, options: [String: Variant]
        do { (account, actionText, options) = try call.arguments.decode(String.self, String.self, [String: Variant].self) } catch {
            throw .invalidArgument(field: "arguments", reason: "must be (s account, s action, a{sv} options)")
        }
        let request: MytokenInfoRequest
        do { request = try MytokenInfoRequest(dbusOptions: options) } catch { throw error.agentError }
        guard let actionName = MytokenInfoActionName(rawValue: actionText) else {
            throw .invalidArgument(field: "action", reason: "must be one of "
                + MytokenInfoActionName.allCases.map(\.rawValue).joined(separator: ", ") + ", not \"\(actionText.prefix(32))\"")
        }
        let (passed, server) = try Self.passedMytoken(account: account, mytoken: request.mytoken,
                                                      server: request.mytokenServer,
                                                      mytokenField: MytokenInfoOption.mytoken.rawValue,
                                                      serverField: MytokenInfoOption.mytokenServer.rawValue)
        let action: MytokenTokeninfoAction = switch actionName {
        case .introspect: .introspect
        case .history: .eventHistory
        case .subtokens: .subtokens
        case .list: .listMytokens
        }
        let (info, usedServer) = try await agent.mytokenInfo(action, account: account.isEmpty ? nil : account, passed: passed,
                                                             server: server)
        return MytokenInfoReply(json: info.json.text, rows: Self.rows(info), mytokenServer: usedServer.absoluteString,
                                rotatedMytoken: info.rotatedMytoken?.reveal()).body
    }

    /// Table rows of a tokeninfo answer (string values; the CLI has no JSON parser).
    static func rows(_ info: MytokenTokeninfo) -> [[String: String]] {
        switch info.action {
        case .eventHistory:
            return info.events.map {
                ["event": $0.event, "time": String($0.time), "ip": $0.ip, "user-agent": $0.userAgent, "comment": $0.comment]
            }
        case .subtokens, .listMytokens:
            return info.entries.map {
                ["depth": String($0.depth), "name": $0.name, "created": String($0.created),
                 "expires-at": $0.expiresAt.map { String($0) } ?? "", "ip": $0.ip, "mom-id": $0.momID]
            }
        case .introspect:
            var rows: [[String: String]] = []
            func add(_ field: String, _ value: MytokenJSON?) {
                guard let value, value != .null else { return }
                rows.append(["field": field, "value": value.stringValue ?? value.text])
            }
            let token = info.json["token"]
            add("valid", info.json["valid"])
            add("token_type", info.json["token_type"])
            add("name", token?["name"])
            add("oidc_iss", token?["oidc_iss"])
            add("oidc_sub", token?["oidc_sub"])
            add("iat", token?["iat"])
            add("exp", token?["exp"])
            add("capabilities", token?["capabilities"].map { .string(($0.arrayValue ?? []).compactMap(\.stringValue).joined(separator: " ")) })
            add("subtoken_capabilities", token?["subtoken_capabilities"])
            add("rotation", token?["rotation"])
            for (index, clause) in (token?["restrictions"]?.arrayValue ?? []).enumerated() {
                add("restriction \(index + 1)", clause)
            }
            add("mom_id", info.json["mom_id"])
            return rows
        }
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

    // MARK: A new mytoken, stored nowhere

    func startMytokenLogin(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let options: [String: Variant]
        do { options = try call.arguments.decode([String: Variant].self) } catch {
            throw .invalidArgument(field: "request", reason: "must be a{sv}")
        }
        let message: CreateMytokenRequest
        do { message = try CreateMytokenRequest(dbusOptions: options) } catch { throw error.agentError }
        for (given, key) in [(message.mytoken != nil, CreateMytokenKey.mytoken),
                             (message.failOnWiderRestrictions != nil, .failOnWiderRestrictions)] where given {
            throw .invalidArgument(field: key.rawValue, reason: "does not apply to a login (there is no parent mytoken)")
        }
        var server: URL
        if let text = message.mytokenServer {
            server = try Validate.serverURL(text, field: CreateMytokenKey.mytokenServer.rawValue)
        } else {
            server = try agent.defaultMytokenServer(field: CreateMytokenKey.mytokenServer.rawValue, why: "no server was named")
        }
        let provider = try message.oidcIssuer.map { text throws(AgentError) in
            try Validate.text(text, field: CreateMytokenKey.oidcIssuer.rawValue)
        }
        var request = try Self.mytokenRequest(message)
        if request.capabilities == nil && request.profile.isEmpty {
            // The client's default for a new mytoken; the server's own default lacks create_mytoken.
            request.capabilities = Agent.loginCapabilities
        }
        let flow = try await agent.startNewMytoken(server: server, provider: provider, request: request,
                                                   notify: message.notify ?? true,
                                                   requestedBy: Self.requester(caller, application: nil))
        newMytokenLogins.withLock { $0[flow.number] = (flow, caller.uniqueName, server) }
        Task { [self] in
            // Forget the login a while after it ends, taken or not.
            _ = await flow.finished(within: .seconds(max(1, Int(flow.expiresAt.timeIntervalSinceNow) + 5)))
            try? await Task.sleep(for: .seconds(120))
            _ = newMytokenLogins.withLock { $0.removeValue(forKey: flow.number) }
        }
        return DeviceFlowReply(flow: AgentContract.flowPath(flow.number), userCode: "",
                               verificationURI: flow.verificationURI.absoluteString,
                               verificationURIComplete: flow.verificationURIComplete?.absoluteString,
                               expiresAt: Int64(flow.expiresAt.timeIntervalSince1970.rounded(.down)),
                               interval: UInt32(clamping: flow.interval.components.seconds)).body
    }

    func finishMytokenLogin(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let path: ObjectPath
        do { path = try call.arguments.decode(ObjectPath.self) } catch {
            throw .invalidArgument(field: "flow", reason: "must be an object path")
        }
        let prefix = AgentBus.flowPathPrefix + "/"
        guard path.rawValue.hasPrefix(prefix), let number = Int(path.rawValue.dropFirst(prefix.count)),
              let entry = newMytokenLogins.withLock({ $0[number] }), entry.owner == caller.uniqueName
        else {
            // The same answer for another caller's login as for none: nothing to learn by probing.
            throw .invalidArgument(field: "flow", reason: "\(path.rawValue) is not a login for a new mytoken that this connection started")
        }
        let wait = Duration.seconds(max(1, Int(entry.flow.expiresAt.timeIntervalSinceNow) + 10))
        guard let outcome = await entry.flow.finished(within: wait) else {
            throw .timeout("the login for a new mytoken did not end in time")
        }
        if case .failure(let error) = outcome { throw error }
        guard let issued = entry.flow.takeDelivered() else {
            throw .invalidArgument(field: "flow", reason: "the new mytoken of \(path.rawValue) was already taken")
        }
        _ = newMytokenLogins.withLock { $0.removeValue(forKey: number) }
        return Self.reply(issued, server: entry.server).body
    }

    /// A mytoken account's login request (AddAccount `mytoken-request`) as the JSON fields to keep.
    static func loginRequest(_ raw: [String: Variant], kind: AccountKind) throws(AgentError) -> [String: MytokenJSON]? {
        let field = AccountSetting.mytokenRequest.rawValue
        guard kind == .mytoken else { throw .invalidArgument(field: field, reason: "applies only to kind=mytoken") }
        let message: CreateMytokenRequest
        do { message = try CreateMytokenRequest(dbusOptions: raw) } catch {
            throw .invalidArgument(field: "\(field).\(error.field)", reason: error.reason)
        }
        let notForLogins: [(Bool, CreateMytokenKey)] = [
            (message.mytoken != nil, .mytoken), (message.mytokenServer != nil, .mytokenServer),
            (message.tokenType != nil, .tokenType), (message.maxTokenLength != nil, .maxTokenLength),
            (message.failOnWiderRestrictions != nil, .failOnWiderRestrictions), (message.oidcIssuer != nil, .oidcIssuer),
            (message.notify != nil, .notify),
        ]
        for (given, key) in notForLogins where given {
            throw .invalidArgument(field: "\(field).\(key.rawValue)", reason: "does not apply to an account's login")
        }
        var request = try mytokenRequest(message, keepRelativeTimes: true)
        request.applicationName = nil
        var fields: [String: MytokenJSON]
        do { fields = try MytokenClient.fields(of: request) } catch {
            throw .invalidArgument(field: field, reason: error.description)
        }
        fields["response_type"] = nil
        return fields.isEmpty ? nil : fields
    }

    // MARK: Translation

    static let maxCapabilities = 32

    /// The wire request as the OIDC module's request; restriction strings parsed here, in the
    /// service's local time zone (the user's session).
    /// `keepRelativeTimes`: the single-clause options' relative times (`--exp +7d`) go to the
    /// server as typed, for a request kept and sent later (an account's login request).
    static func mytokenRequest(_ message: CreateMytokenRequest, keepRelativeTimes: Bool = false) throws(AgentError) -> MytokenRequest {
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
        for (key, text) in [(CreateMytokenKey.restrictions, message.restrictions), (.profile, message.profile),
                            (.rotationTemplate, message.rotationTemplate)] {
            if let text, text.utf8.count > 64 * 1024 {
                throw .invalidArgument(field: key.rawValue, reason: "is longer than 64 KB")
            }
        }
        if message.restrictionsFile != nil && message.restrictions == nil {
            throw .invalidArgument(field: CreateMytokenKey.restrictionsFile.rawValue, reason: "applies only with restrictions")
        }
        if message.rotationFile != nil && message.rotationTemplate == nil {
            throw .invalidArgument(field: CreateMytokenKey.rotationFile.rawValue, reason: "applies only with rotation-template")
        }
        // Files are read by the caller (the service never opens a path a D-Bus peer names); the
        // file names only label errors.
        let times = MytokenTimeParser()
        let restrictionsFile = try message.restrictionsFile.map { path throws(AgentError) in
            try Validate.text(path, field: CreateMytokenKey.restrictionsFile.rawValue)
        }
        do throws(MytokenError) {
            if let text = message.restrictions {
                guard options.isEmpty else {
                    throw MytokenError.invalidRestriction(
                        "use either --restriction or the options --nbf, --exp, --scope, --aud, --host, --geo-ip-allow, "
                        + "--geo-ip-disallow, --usages-at, --usages-other, not both")
                }
                request.restrictionsJSON = try MytokenTemplateInput.restrictions(text, times: times, source: restrictionsFile)
            } else {
                request.restrictions = try MytokenRestrictionInput.resolve(restriction: nil, options: options, times: times)
                if keepRelativeTimes, let clause = request.restrictions.first,
                   case .object(var wire) = MytokenJSON.parse(Data(clause.jsonString().utf8)) ?? .null {
                    for (key, text) in [("nbf", options.notBefore), ("exp", options.expiresAt)] {
                        if let text, text.hasPrefix("+") { wire[key] = .string(text) }
                    }
                    request.restrictionsJSON = .array([.object(wire)])
                }
            }
        } catch {
            throw .invalidArgument(field: restrictionField(message), reason: error.description)
        }
        if let profile = message.profile {
            do { request.profile = try MytokenTemplateInput.profile(profile, times: times) } catch {
                throw .invalidArgument(field: CreateMytokenKey.profile.rawValue, reason: error.description)
            }
        }
        request.capabilities = try message.capabilities.map { list throws(AgentError) in
            try capabilityList(list, field: CreateMytokenKey.capabilities.rawValue)
        }
        request.subtokenCapabilities = try message.subtokenCapabilities.map { list throws(AgentError) in
            try capabilityList(list, field: CreateMytokenKey.subtokenCapabilities.rawValue)
        }
        if let template = message.rotationTemplate {
            // The client's precedence: the flags are added to the template's (on_AT/on_other/
            // auto_revoke OR'ed, a lifetime given replaces the template's).
            let rotationFile = try message.rotationFile.map { path throws(AgentError) in
                try Validate.text(path, field: CreateMytokenKey.rotationFile.rawValue)
            }
            var rotation: MytokenRotation
            do { rotation = try MytokenTemplateInput.rotation(template, source: rotationFile) } catch {
                throw .invalidArgument(field: CreateMytokenKey.rotationTemplate.rawValue, reason: error.description)
            }
            for trigger in message.rotation ?? [] {
                switch trigger {
                case "AT": rotation.onAccessToken = true
                case "other": rotation.onOther = true
                default:
                    throw .invalidArgument(field: CreateMytokenKey.rotation.rawValue,
                                           reason: "\"\(trigger.prefix(32))\" is not a rotation trigger (AT, other)")
                }
            }
            if let lifetime = message.rotationLifetime { rotation.lifetime = UInt64(lifetime) }
            if message.rotationAutoRevoke == true { rotation.autoRevoke = true }
            request.rotation = rotation
        } else if message.rotation != nil || message.rotationLifetime != nil || message.rotationAutoRevoke != nil {
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
            guard let name = MytokenTokenTypeName(spelling: type) else {
                throw .invalidArgument(field: CreateMytokenKey.tokenType.rawValue,
                                       reason: "must be \(MytokenTokenTypeName.spellings), not \"\(type.prefix(32))\"")
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
        // Each entry as the client takes --capability: names (`@name` a template) or a JSON array.
        do { return try MytokenTemplateInput.capabilities(list) } catch {
            throw .invalidArgument(field: field, reason: error.description)
        }
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
                              serverField: String) throws(AgentError) -> (mytoken: SecretString?, server: URL?) {
        let passed = try mytoken.map { text throws(AgentError) in SecretString(try Validate.secret(text, field: mytokenField)) }
        if passed != nil && !account.isEmpty {
            throw .invalidArgument(field: mytokenField, reason: "give an account or a mytoken, not both")
        }
        if passed == nil && server != nil { throw .invalidArgument(field: serverField, reason: "applies only with mytoken") }
        let url = try server.map { text throws(AgentError) in try Validate.serverURL(text, field: serverField) }
        return (passed, url)
    }
}
