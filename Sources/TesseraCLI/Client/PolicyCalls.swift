import DBus
import TesseraAPI

extension AgentClient {
    func policy(of account: String) async throws(CLIError) -> PolicyReply {
        let reply = try await call(AgentMethod.getPolicy.rawValue, [.string(account)], account: account)
        do { return try PolicyReply(body: reply) } catch { throw Self.unexpectedReply(AgentMethod.getPolicy.rawValue, reply) }
    }

    func setPolicy(of account: String, to decision: ConsentDecision) async throws(CLIError) {
        _ = try await call(AgentMethod.setPolicy.rawValue, [.string(account), .string(decision.rawValue)], account: account)
    }

    func setApplicationPolicy(of account: String, application: String, to decision: ConsentDecision) async throws(CLIError) {
        _ = try await call(AgentMethod.setApplicationPolicy.rawValue,
                           [.string(account), .string(application), .string(decision.rawValue)], account: account)
    }

    func forgetApplication(of account: String, application: String) async throws(CLIError) {
        _ = try await call(AgentMethod.forgetApplication.rawValue, [.string(account), .string(application)], account: account)
    }
}
