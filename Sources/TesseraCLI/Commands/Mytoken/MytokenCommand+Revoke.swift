import ArgumentParser
import TesseraAPI

/// `tessera mytoken revoke`: an account's or a passed mytoken.
extension MytokenCommand {
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Revoke an account's mytoken (and forget it) or a passed mytoken at its server.",
            discussion: """
                Examples:
                  tessera mytoken revoke kit --recursive
                  tessera mytoken revoke --mytoken-file sub.mytoken
                """)

        @Argument(help: ArgumentHelp("The mytoken account (else a passed mytoken).", valueName: "account"))
        var account: String?

        @OptionGroup var input: MytokenInput

        @Flag(help: "Also revoke every mytoken created from it.")
        var recursive = false

        func validate() throws { try validateAccountOrInput(account, input) }

        func run() async throws {
            let agent = try await AgentClient.connect()
            if let account {
                let atServer = try await agent.revoke(account: account, recursive: recursive)
                StandardStream.output.line(atServer ? "Revoked the mytoken of \(account)."
                    : "Removed the mytoken of \(account) locally; the server could not confirm the revocation.")
                return
            }
            let (mytoken, _) = try input.read()
            try await agent.revoke(mytoken: mytoken, server: input.server, recursive: recursive)
            StandardStream.output.line("Revoked the mytoken.")
        }
    }
}
