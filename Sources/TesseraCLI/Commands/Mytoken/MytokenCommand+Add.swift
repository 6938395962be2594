import ArgumentParser
import TesseraAPI

/// `tessera mytoken add`: a mytoken account, logged in later.
extension MytokenCommand {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a mytoken account (then log in with `tessera login NAME`).",
            discussion: """
                Examples:
                  tessera mytoken add helmholtz --mytoken-server https://mytoken.data.kit.edu
                  tessera mytoken add egi --mytoken-server https://mytoken.data.kit.edu --oidc-issuer https://aai.egi.eu/auth/realms/egi
                """)

        @Argument(help: ArgumentHelp("A short name for the account.", valueName: "name"))
        var name: String

        @Option(name: .customLong("mytoken-server"), help: ArgumentHelp("The mytoken server URL.", valueName: "url"))
        var server: String

        @Option(name: .customLong("oidc-issuer"),
                help: ArgumentHelp("The OpenID provider to log in at (default: the server's only one).", valueName: "url"))
        var oidcIssuer: String?

        @Option(name: [.customShort("s"), .customLong("scope")], help: ArgumentHelp("A default scope (repeatable).", valueName: "scope"))
        var scopes: [String] = []

        @Option(name: .customLong("aud"), help: ArgumentHelp("A default audience (repeatable).", valueName: "audience"))
        var audiences: [String] = []

        @OptionGroup(title: "What the account's logins ask the mytoken server for (as for `tessera mytoken create`; -s and --aud above are the account's defaults)")
        var login: NewMytokenOptions

        func validate() throws { try validateAccountName(name) }

        func run() async throws {
            var settings = AccountSettingsMessage(
                scopes: scopes.isEmpty ? nil : splitWords(scopes), audience: audiences.isEmpty ? nil : audiences,
                kind: AccountKindName.mytoken.rawValue, mytokenServer: server, oidcIssuer: oidcIssuer)
            if !login.isEmpty { settings.mytokenRequest = try login.request().dbusOptions }
            let agent = try await AgentClient.connect()
            try await agent.addMytokenAccount(name: name, settings: settings)
            StandardStream.output.line("Added \(name); log in with `tessera login \(shellWord(name))`.")
        }
    }
}
