import DBus
import TesseraAPI

extension AgentClient {
    func settings() async throws(CLIError) -> ServiceSettingsMessage {
        let reply = try await call(AgentMethod.getSettings.rawValue, [], account: nil)
        guard reply.count == 1, let options = try? reply.decode([String: Variant].self) else {
            throw Self.unexpectedReply(AgentMethod.getSettings.rawValue, reply)
        }
        return ServiceSettingsMessage(settings: options)
    }

    func setOIDCAgentSocket(_ value: String) async throws(CLIError) {
        let message = ServiceSettingsMessage(oidcAgentSocket: value)
        _ = try await call(AgentMethod.setSettings.rawValue, [message.dbusOptions.dbusValue], account: nil)
    }
}
