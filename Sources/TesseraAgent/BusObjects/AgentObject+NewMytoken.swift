import DBus
import FoundationEssentials
import OIDC
import TesseraAPI
import TesseraCore

/// StartMytokenLogin / FinishMytokenLogin: a new mytoken by a login at the server, stored nowhere;
/// and an account's kept login request (AddAccount `mytoken-request`).
extension AgentObject {
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
}
