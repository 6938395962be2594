import DBus
import FoundationEssentials
import OIDC
import TesseraAPI
import TesseraCore

/// The mytoken methods that ask the server about itself or a token: ListMytokenTemplates, MytokenInfo.
extension AgentObject {
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
}
