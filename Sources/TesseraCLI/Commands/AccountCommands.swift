import ArgumentParser

struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Add, list, show and remove accounts.",
        subcommands: [Add.self, List.self, Show.self, Remove.self, Import.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add an account: an issuer and the OAuth client to use there.",
            discussion: """
                Without --client-id, the service registers a client dynamically if the issuer \
                supports it (RFC 7591). A client secret is read from standard input (or a no-echo \
                prompt) with --client-secret-stdin and stored in the keyring, never in a file. \
                Then log in with `tessera login NAME`.

                Examples:
                  tessera account add wlcg --issuer https://wlcg.cloud.cnaf.infn.it/ \\
                      --client-id 1234-abcd -s openid -s offline_access -s storage.read:/
                  tessera account add egi --issuer https://aai.egi.eu/auth/realms/egi
                """)

        @Argument(help: ArgumentHelp("A short name for the account (used by every other command).",
                                     valueName: "name"))
        var name: String

        @Option(help: ArgumentHelp("The issuer URL (OpenID Connect discovery must work there).", valueName: "url"))
        var issuer: String

        @Option(name: .customLong("client-id"), help: ArgumentHelp("A registered client id.", valueName: "id"))
        var clientID: String?

        @Flag(name: .customLong("client-secret-stdin"),
              help: "Read the client secret from standard input (a confidential client).")
        var clientSecretFromStdin = false

        @Option(name: [.customShort("s"), .customLong("scope")],
                help: ArgumentHelp("A default scope (repeatable).", valueName: "scope"))
        var scopeArguments: [String] = []

        @Option(name: .customLong("aud"), help: ArgumentHelp("A default audience (repeatable).", valueName: "audience"))
        var audiences: [String] = []

        @Option(name: .customLong("audience-style"),
                help: ArgumentHelp("How the audience is sent: 'resource' (RFC 8707) or 'audience' (legacy).",
                                   valueName: "style"))
        var audienceStyle: String?

        var scopes: [String] { scopeArguments.flatMap { $0.split(separator: " ").map(String.init) } }

        mutating func validate() throws {
            try validateAccountName(name)
            guard let scheme = issuer.split(separator: ":", maxSplits: 1).first.map({ $0.lowercased() }),
                  scheme == "https" || scheme == "http", issuer.contains("://"),
                  issuer.split(separator: "/").count >= 2 else {
                throw ValidationError("--issuer '\(issuer)' is not an http(s) URL, e.g. https://iam.example.org/")
            }
            if let audienceStyle, audienceStyle != "resource" && audienceStyle != "audience" {
                throw ValidationError("--audience-style must be 'resource' or 'audience', not '\(audienceStyle)'")
            }
            if clientID?.isEmpty == true { throw ValidationError("--client-id is empty") }
            if clientSecretFromStdin && clientID == nil {
                throw ValidationError("--client-secret-stdin needs --client-id (a registered client)")
            }
        }

        func run() async throws {
            var secret: SecretText?
            if clientSecretFromStdin {
                let prompt = SecretPrompt()
                defer { prompt.close() }
                secret = try prompt.readSecret(prompt: "Client secret for \(clientID ?? name): ")
                if secret?.isEmpty == true { throw CLIError.usage("the client secret is empty") }
            }
            let agent = try await AgentClient.connect()
            try await agent.addAccount(NewAccount(
                name: name, issuer: issuer, clientID: clientID, clientSecret: secret,
                scopes: scopes, audience: audiences, audienceStyle: audienceStyle))
            StandardStream.output.line("Added account \(name) (\(issuer)). Log in with: tessera login \(shellWord(name))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the accounts.",
            discussion: "Example:\n  tessera account list --json")

        @Flag(help: "Print the accounts as a JSON array.")
        var json = false

        func run() async throws {
            let accounts = try await AgentClient.connect().listAccounts()
            if json {
                StandardStream.output.line(JSONValue.array(accounts.map(\.json)).rendered())
                return
            }
            if accounts.isEmpty {
                StandardStream.output.line("No accounts. Add one with: tessera account add NAME --issuer URL")
                return
            }
            let rows = accounts.map { account in
                [account.name, account.text("issuer"), account.loginState, account.text("scopes")]
            }
            StandardStream.output.put(renderTable(header: ["NAME", "ISSUER", "LOGIN", "SCOPES"], rows: rows))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show one account's settings and login state (never a token).",
            discussion: "Example:\n  tessera account show wlcg")

        @Argument(help: ArgumentHelp("The account.", valueName: "name"))
        var name: String

        @Flag(help: "Print the account as a JSON object.")
        var json = false

        mutating func validate() throws { try validateAccountName(name) }

        func run() async throws {
            let accounts = try await AgentClient.connect().listAccounts()
            guard let account = accounts.first(where: { $0.name == name }) else {
                throw CLIError.usage("no account named \(name); see `tessera account list`")
            }
            if json {
                StandardStream.output.line(account.json.rendered())
                return
            }
            var rows = [["name", account.name], ["login", account.loginState]]
            rows += account.fields.map { key, _ in [key, account.text(key)] }
            StandardStream.output.put(rows.map { "\($0[0] + ":")\(String(repeating: " ", count: max(1, 22 - $0[0].count)))\($0[1])" }
                .joined(separator: "\n") + "\n")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Remove an account, revoking its login at the provider first.",
            discussion: "Example:\n  tessera account remove wlcg")

        @Argument(help: ArgumentHelp("The account.", valueName: "name"))
        var name: String

        @Flag(name: .customLong("keep-at-provider"),
              help: "Do not revoke the refresh token at the provider (only forget it here).")
        var keepAtProvider = false

        mutating func validate() throws { try validateAccountName(name) }

        func run() async throws {
            try await AgentClient.connect().removeAccount(name: name, keepAtProvider: keepAtProvider)
            StandardStream.output.line("Removed account \(name).")
        }
    }
}

func validateAccountName(_ name: String) throws {
    if name.isEmpty { throw ValidationError("the account name is empty") }
    if name.utf8.count > 256 { throw ValidationError("the account name is longer than 256 bytes") }
    if name.contains(where: { $0.isWhitespace || $0.isNewline }) {
        throw ValidationError("the account name '\(name)' has white space; use e.g. 'wlcg-prod'")
    }
}
