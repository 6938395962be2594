import ArgumentParser
import TesseraAPI

/// `tessera mytoken at`: an access token from an account or a passed mytoken.
extension MytokenCommand {
    struct AccessToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "at",
            abstract: "Print an access token from a mytoken account or a passed mytoken.",
            discussion: """
                For an account this is `tessera token` (cached). A passed mytoken is exchanged every \
                time; when the server rotates it, the new mytoken is written back to its file, or \
                shown on stderr.

                Examples:
                  tessera mytoken at kit -s openid -s storage.read:/ --aud https://se.example.org
                  tessera mytoken at --mytoken-env MYTOKEN
                  BEARER_TOKEN_FILE=~/.mytoken tessera mytoken at
                """)

        @Argument(help: ArgumentHelp("The mytoken account (else a passed mytoken).", valueName: "account"))
        var account: String?

        @OptionGroup var input: MytokenInput

        @Option(name: [.customShort("s"), .customLong("scope")], help: ArgumentHelp("Request this scope (repeatable).", valueName: "scope"))
        var scopes: [String] = []

        @Option(name: .customLong("aud"), help: ArgumentHelp("Request this audience (repeatable).", valueName: "audience"))
        var audiences: [String] = []

        @Flag(help: "Print token, expires_at, token_type, scopes, audience and issuer as JSON.")
        var json = false

        @Flag(help: "Print shell export lines (OIDC_AT, OIDC_ISS, OIDC_EXP).")
        var env = false

        func validate() throws {
            try validateAccountOrInput(account, input)
            if json && env { throw ValidationError("choose one of --json and --env") }
        }

        func run() async throws {
            let agent = try await AgentClient.connect()
            let format: TokenFormat = json ? .json : env ? .env : .plain
            if let account {
                let issued = try await agent.token(TokenQuery(account: account, scopes: splitWords(scopes), audience: audiences,
                                                                minValid: nil, force: false))
                StandardStream.output.put(format.render(issued))
                return
            }
            let (mytoken, origin) = try input.read()
            let access = try await agent.token(mytoken: mytoken, server: input.server, scopes: splitWords(scopes), audience: audiences)
            if let rotated = access.rotated { MytokenInput.keep(rotated, origin: origin) }
            StandardStream.output.put(format.render(access.issued))
        }
    }
}
