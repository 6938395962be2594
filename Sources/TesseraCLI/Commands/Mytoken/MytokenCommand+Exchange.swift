import ArgumentParser
import Secrets
import TesseraAPI

/// `tessera mytoken exchange`: a transfer code for its mytoken.
extension MytokenCommand {
    struct Exchange: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exchange",
            abstract: "Exchange a transfer code for its mytoken: store it as an account, or print it.",
            discussion: """
                The code is read from a no-echo prompt (or standard input) unless given; \
                --transfer-code puts it on the command line, where other users can read it. The server \
                is --mytoken-server, else $MYTOKEN_SERVER or $MYTOKEN_URL, else the server of your \
                mytoken accounts.

                Examples:
                  tessera mytoken exchange --store laptop
                  echo "$TC" | tessera mytoken exchange --transfer-code-stdin -o my.mytoken
                  tessera mytoken exchange --transfer-code TC --mytoken-server https://mytoken.data.kit.edu
                """)

        @Option(name: [.customLong("transfer-code"), .customLong("TC")],
                help: ArgumentHelp("The transfer code (unsafe: other users can read the command line).", valueName: "code"))
        var transferCode: String?

        @Flag(name: .customLong("transfer-code-stdin"), help: "Read the transfer code from standard input.")
        var transferCodeStdin = false

        @OptionGroup var serverOption: MytokenServerOption

        @Option(name: .customLong("store"), help: ArgumentHelp("Store the mytoken as this new account.", valueName: "account"))
        var store: String?

        @Option(name: .customLong("oidc-issuer"), help: ArgumentHelp("With --store: the OpenID provider behind it.", valueName: "url"))
        var oidcIssuer: String?

        @OptionGroup var output: MytokenOutput

        var server: String? { serverOption.server }

        func validate() throws {
            if transferCode?.isEmpty == true { throw ValidationError("--transfer-code is empty") }
            if transferCode != nil && transferCodeStdin { throw ValidationError("choose one of --transfer-code and --transfer-code-stdin") }
            if let store { try validateAccountName(store) }
            if store != nil && output.path != nil { throw ValidationError("choose one of --store and -o") }
            if oidcIssuer != nil && store == nil { throw ValidationError("--oidc-issuer only applies with --store") }
        }

        /// The code from argv (warned), standard input, or a no-echo prompt.
        func code() throws(CLIError) -> Secret {
            let text: String
            if let transferCode {
                StandardStream.error.line("""
                    tessera: warning: --transfer-code puts the code on the command line, where other users can \
                    read it; prefer the prompt or --transfer-code-stdin
                    """)
                text = transferCode
            } else {
                let prompt = SecretPrompt()
                defer { prompt.close() }
                if transferCodeStdin && prompt.isInteractive {
                    throw .usage("--transfer-code-stdin reads standard input, which is a terminal; pipe the code in")
                }
                text = try prompt.readSecret(prompt: "Transfer code: ").reveal()
            }
            let code = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            guard code.count == 1 else { throw .usage(code.isEmpty ? "no transfer code was given" : "the transfer code is one word") }
            return Secret(String(code[0]))
        }

        func run() async throws {
            let code = try code()
            let agent = try await AgentClient.connect()
            if let store {
                try await agent.addMytokenAccount(name: store, settings: AccountSettingsMessage(
                    kind: AccountKindName.mytoken.rawValue, mytokenServer: server, oidcIssuer: oidcIssuer,
                    transferCode: code.reveal()))
                StandardStream.output.line("Stored the mytoken as \(store); get tokens with `tessera token \(shellWord(store))`.")
                return
            }
            let created = try await agent.exchange(transferCode: code, server: server)
            try MytokenFiles.deliver(created.token, to: output.path)
        }
    }
}
