import ArgumentParser
import TesseraAPI

/// `tessera mytoken import`: a mytoken the user already has, stored as an account.
extension MytokenCommand {
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Store a mytoken you already have as an account (kept in the keyring).",
            discussion: """
                Examples:
                  tessera mytoken import kit --mytoken-file ~/.mytoken
                  tessera mytoken import kit --mytoken-prompt --mytoken-server https://mytoken.data.kit.edu
                """)

        @Argument(help: ArgumentHelp("A short name for the account.", valueName: "name"))
        var name: String

        @OptionGroup var input: MytokenInput

        @Option(name: .customLong("oidc-issuer"),
                help: ArgumentHelp("The OpenID provider behind the token (default: the server's only one).", valueName: "url"))
        var oidcIssuer: String?

        @Flag(help: "Replace an existing account of that name.")
        var replace = false

        func validate() throws { try validateAccountName(name) }

        func run() async throws {
            let (mytoken, _) = try input.read()
            let agent = try await AgentClient.connect()
            try await agent.addMytokenAccount(name: name, settings: AccountSettingsMessage(
                kind: AccountKindName.mytoken.rawValue, mytokenServer: input.server, oidcIssuer: oidcIssuer,
                mytoken: mytoken.reveal(), replace: replace ? true : nil))
            StandardStream.output.line("Imported the mytoken as \(name); get tokens with `tessera token \(shellWord(name))`.")
        }
    }
}
