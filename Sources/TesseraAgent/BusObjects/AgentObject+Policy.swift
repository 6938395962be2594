import DBus
import TesseraAPI
import TesseraCore

/// `GetPolicy`, `SetPolicy`, `SetApplicationPolicy`, `ForgetApplication`: the consent store's
/// methods, arguments checked here (each field named), the store is `Agent`'s.
extension AgentObject {
    func getPolicy(_ call: MethodCall) throws(AgentError) -> [DBusValue] {
        let account = try Self.decode(call) { () throws(DBusError) in try call.arguments.decode(String.self) }
        let policy = try agent.policy(account: account)
        return PolicyReply(defaultDecision: policy.defaultDecision.rawValue,
                           rules: policy.sortedRules.map { (application: $0.application.key, decision: $0.decision.rawValue) }).body
    }

    func setPolicy(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, text) = try Self.decode(call) { () throws(DBusError) in try call.arguments.decode(String.self, String.self) }
        try Self.mayChangeConsent(caller)
        try await agent.setDefaultDecision(account: account, try Self.decision(text, field: "default"))
        return []
    }

    func setApplicationPolicy(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, key, text) = try Self.decode(call) { () throws(DBusError) in
            try call.arguments.decode(String.self, String.self, String.self)
        }
        try Self.mayChangeConsent(caller)
        let application = try Self.application(key)
        try await agent.setApplicationDecision(account: account, application: application, try Self.decision(text, field: "decision"))
        return []
    }

    func forgetApplication(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, key) = try Self.decode(call) { () throws(DBusError) in try call.arguments.decode(String.self, String.self) }
        try Self.mayChangeConsent(caller)
        try await agent.forgetApplication(account: account, application: try Self.application(key))
        return []
    }

    private static func decode<T>(_ call: MethodCall, _ body: () throws(DBusError) -> T) throws(AgentError) -> T {
        do { return try body() } catch { throw .invalidArgument(field: "arguments", reason: error.description) }
    }

    static func decision(_ text: String, field: String) throws(AgentError) -> ConsentDecision {
        guard let decision = ConsentDecision(rawValue: text) else {
            throw .invalidArgument(field: field, reason: "\"\(text.prefix(40))\" is not a decision; use one of \(ConsentDecision.choices)")
        }
        return decision
    }

    static func application(_ key: String) throws(AgentError) -> ApplicationID {
        guard let application = ApplicationID(key: key) else {
            throw .invalidArgument(field: "application",
                                   reason: "\"\(String(key.prefix(80)).filter { !$0.isNewline })\" is not an application key; "
                                       + "use exe:/absolute/path, flatpak:APP-ID or snap:NAME")
        }
        return application
    }

    /// A sandboxed program must not grant itself what the user's policy keeps from it: consent
    /// changes come only from outside a sandbox (the user's `tessera policy`, or any other
    /// unsandboxed program of the user, which could edit the account file anyway).
    static func mayChangeConsent(_ caller: VerifiedCaller) throws(AgentError) {
        switch caller.application {
        case .flatpak(let id)?: throw .notPermitted("the sandboxed application flatpak:\(id) may not change consent")
        case .snap(let name)?: throw .notPermitted("the sandboxed application snap:\(name) may not change consent")
        case .executable?, nil: return
        }
    }
}
