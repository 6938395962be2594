import ArgumentParser
import TesseraAPI

/// `tessera mytoken create`: a sub-mytoken, short token or transfer code.
extension MytokenCommand {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a sub-mytoken (or a short token, or a transfer code) from an account's or a passed mytoken.",
            discussion: """
                The restriction options build one clause; --restriction takes, as the mytoken client \
                does, JSON (a clause or a list), a file path starting with ./, ../, / or ~/, or the \
                server's restriction template names ("1d ip-this"; see `tessera mytoken profiles \
                restrictions`). Time values: unix seconds, "2006-01-02 15:04" (local time), or relative \
                "+2w", "+3d12h30m", "+60" (units y w d h m s; a bare number is seconds); relative times \
                inside JSON are sent as typed, for the server to compute.

                Examples:
                  tessera mytoken create kit --exp +7d -s storage.read:/ --aud https://se.example.org -o sub.mytoken
                  tessera mytoken create kit --usages-at 10 --capability AT --token-type transfer
                  tessera mytoken create kit --restriction ./restrictions.json --rotation-on-at --rotation-auto-revoke
                  tessera mytoken create kit --restriction "1d ip-this" --capability @default --rotation at-other-daily-auto-revoke
                  tessera mytoken create kit --profile agent
                """)

        @Argument(help: ArgumentHelp("The mytoken account to create it from (else a passed mytoken).", valueName: "account"))
        var account: String?

        @OptionGroup var input: MytokenInput

        @OptionGroup var clause: MytokenScopeOptions

        @OptionGroup var options: NewMytokenOptions

        @Flag(name: .customLong("error-on-restrictions"), help: "Fail instead of dropping clauses wider than the parent's.")
        var failOnWiderRestrictions = false

        @OptionGroup var output: MytokenOutput

        func validate() throws { try validateAccountOrInput(account, input) }

        func run() async throws {
            var request = try options.request(clause)
            if failOnWiderRestrictions { request.failOnWiderRestrictions = true }

            let passed = try input.passed(unless: account)
            request.mytoken = passed?.mytoken.reveal()
            request.mytokenServer = passed?.server
            let agent = try await AgentClient.connect()
            let created = try await agent.createMytoken(account: account, request: request)
            if let rotated = created.rotated, let origin = passed?.origin { MytokenInput.keep(rotated, origin: origin) }
            try MytokenFiles.deliver(created.token, to: output.path)
        }
    }
}
