import ArgumentParser

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the service, the accounts, their login state and cached token expiry.",
        discussion: "Tokens themselves are never shown.\n\nExample:\n  tessera status")

    @Flag(help: "Print the status as a JSON object.")
    var json = false

    func run() async throws {
        let agent = try await AgentClient.connect()
        let service = try await agent.serviceInfo()
        let accounts = try await agent.listAccounts()
        if json {
            StandardStream.output.line(JSONValue.object([
                ("service", .object(service.fields)),
                ("accounts", .array(accounts.map(\.json))),
            ]).rendered())
            return
        }
        var text = "Service: tesserad \(service.version) on the session bus (\(service.uniqueName))\n"
        if accounts.isEmpty {
            text += "No accounts. Add one with: tessera account add NAME --issuer URL\n"
            StandardStream.output.put(text)
            return
        }
        text += "\n"
        let rows = accounts.map { account in
            [account.name, account.text("issuer"), account.loginState, account.tokenExpiryText]
        }
        text += renderTable(header: ["ACCOUNT", "ISSUER", "LOGIN", "CACHED TOKENS"], rows: rows)
        StandardStream.output.put(text)
    }
}
