import DBus
import TesseraAPI
import TesseraCore

extension AgentObject {
    func getSettings() async -> [DBusValue] {
        let settings = await compatibility?.settings
            ?? ServiceSettingsMessage(oidcAgentSocket: "", oidcAgentSocketActive: "", oidcAgentSocketProblem: "")
        return [settings.dbusOptions.dbusValue]
    }

    func setSettings(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let options: [String: Variant]
        do { (options) = try call.arguments.decode([String: Variant].self) } catch {
            throw .invalidArgument(field: "arguments", reason: error.description)
        }
        let message: ServiceSettingsMessage
        do { message = try ServiceSettingsMessage(settingsToSet: options) } catch { throw error.agentError }
        if let socket = message.oidcAgentSocket {
            guard let compatibility else {
                throw .notPermitted("this tesserad was built without the oidc-agent socket")
            }
            try await compatibility.set(socket)
            logger.info("oidc-agent-socket set to \"\(socket)\"")
        }
        return []
    }
}
