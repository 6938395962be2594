import ArgumentParser
import Secrets
import TesseraAPI

struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Add, list, show, change, rename and remove accounts.",
        subcommands: [Add.self, List.self, Show.self, SetSettings.self, Rename.self, Remove.self, Import.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add an account: a provider (or an issuer) and the OAuth client to use there.",
            discussion: """
                --provider SHORT takes a known provider (`tessera provider list`): its issuer, its \
                public client if one is published, and the audience parameter it understands. \
                On a terminal with neither --provider nor --issuer, a numbered list of the known \
                providers is offered, then the scopes are asked for. `-s max` (or `max` at the \
                prompt) means every scope the provider supports.

                Without a client id (yours, or a provider's public one), the service registers a \
                client dynamically if the issuer supports it (RFC 7591); the client is deleted \
                again with the account where the provider allows it (RFC 7592). A client secret \
                (--client-secret-stdin) or a refresh token to import (--refresh-token-stdin) is read \
                from standard input (or a no-echo prompt) and stored in the keyring, never in a \
                file. Then log in with `tessera login NAME` (not needed after an import).

                Examples:
                  tessera account add wlcg --provider wlcg -s max
                  tessera account add cms --provider cms -s "openid offline_access wlcg.groups"
                  tessera account add mine --issuer https://iam.example.org/ --client-id 1234-abcd \\
                      -s openid -s offline_access --audience-style audience
                  printf %s "$RT" | tessera account add old --provider egi --refresh-token-stdin
                """)

        @Argument(help: ArgumentHelp("A short name for the account (used by every other command).",
                                     valueName: "name"))
        var name: String

        @Option(help: ArgumentHelp("A known provider's short name (see `tessera provider list`).", valueName: "short"))
        var provider: String?

        @Option(help: ArgumentHelp("The issuer URL (OpenID Connect discovery must work there).", valueName: "url"))
        var issuer: String?

        @Option(name: .customLong("client-id"), help: ArgumentHelp("A registered client id.", valueName: "id"))
        var clientID: String?

        @Flag(name: .customLong("client-secret-stdin"),
              help: "Read the client secret from standard input (a confidential client).")
        var clientSecretFromStdin = false

        @Flag(name: .customLong("refresh-token-stdin"),
              help: "Read a refresh token to import from standard input; it is tested by refreshing it.")
        var refreshTokenFromStdin = false

        @Option(name: [.customShort("s"), .customLong("scope")],
                help: ArgumentHelp("A default scope (repeatable); 'max' for every scope the provider supports.",
                                   valueName: "scope"))
        var scopeArguments: [String] = []

        @Option(name: .customLong("aud"), help: ArgumentHelp("A default audience (repeatable).", valueName: "audience"))
        var audiences: [String] = []

        @Option(name: .customLong("audience-style"),
                help: ArgumentHelp("How the audience is sent: 'resource' (RFC 8707), 'audience' (legacy), or 'auto' "
                                   + "(a URI as resource, anything else as audience); default: the provider's, else auto.",
                                   valueName: "style"))
        var audienceStyle: String?

        var scopes: [String] { scopeArguments.flatMap { $0.split(separator: " ").map(String.init) } }

        mutating func validate() throws {
            try validateAccountName(name)
            if let issuer { try validateIssuerArgument(issuer) }
            if provider?.isEmpty == true { throw ValidationError("--provider is empty; see `tessera provider list`") }
            if let audienceStyle { try validateAudienceStyle(audienceStyle) }
            if clientID?.isEmpty == true { throw ValidationError("--client-id is empty") }
            if clientSecretFromStdin && clientID == nil {
                throw ValidationError("--client-secret-stdin needs --client-id (a registered client)")
            }
            if clientSecretFromStdin && refreshTokenFromStdin {
                throw ValidationError("standard input holds one secret: give --client-secret-stdin or --refresh-token-stdin")
            }
            if scopes.contains(AccountSetting.maxScopes) && scopes.count > 1 {
                throw ValidationError("-s max stands alone: it means every scope the provider supports")
            }
        }

        func run() async throws {
            let agent = try await AgentClient.connect()
            var provider = self.provider, issuer = self.issuer, scopes = self.scopes
            let prompt = SecretPrompt()
            defer { prompt.close() }
            if provider == nil && issuer == nil {
                guard prompt.isInteractive else {
                    throw CLIError.usage("give --provider SHORT (see `tessera provider list`) or --issuer URL")
                }
                (provider, issuer) = try await chooseProvider(agent: agent, prompt: prompt)
            }
            if scopes.isEmpty && prompt.isInteractive && self.provider == nil && self.issuer == nil {
                let answer = try prompt.readLine(
                    prompt: "Scopes, separated by spaces ('max' for every scope the provider supports) [openid offline_access]: ")
                scopes = answer.split(separator: " ").map(String.init)
                if scopes.contains(AccountSetting.maxScopes) && scopes.count > 1 {
                    throw CLIError.usage("'max' stands alone: it means every scope the provider supports")
                }
            }
            let secret = clientSecretFromStdin
                ? try prompt.readRequiredSecret(prompt: "Client secret for \(clientID ?? name): ", what: "the client secret") : nil
            let refreshToken = refreshTokenFromStdin
                ? try prompt.readRequiredSecret(prompt: "Refresh token for \(name): ", what: "the refresh token") : nil
            let settings = AccountSettingsMessage(
                issuer: issuer, clientID: clientID, clientSecret: secret?.reveal(),
                scopes: scopes.isEmpty ? nil : scopes, audience: audiences.isEmpty ? nil : audiences,
                audienceStyle: audienceStyle, provider: provider, refreshToken: refreshToken?.reveal())
            try await agent.addAccount(name: name, settings: settings)
            let added = try? await agent.listAccounts().first { $0.name == name }
            let where_ = added.map { $0.text("issuer") } ?? issuer ?? provider ?? ""
            if refreshToken != nil {
                StandardStream.output.line("Added account \(name) (\(where_)) with the imported refresh token; it works.")
            } else {
                StandardStream.output.line("Added account \(name) (\(where_)). Log in with: tessera login \(shellWord(name))")
            }
        }

        /// The numbered chooser oidc-gen users know: the known providers, then "type an issuer".
        private func chooseProvider(agent: AgentClient, prompt: SecretPrompt) async throws(CLIError) -> (String?, String?) {
            let providers = try await agent.listProviders()
            var menu = "Known providers:\n"
            let width = String(providers.count + 1).count
            for (index, provider) in providers.enumerated() {
                let number = String(index + 1)
                menu += "  \(String(repeating: " ", count: width - number.count))\(number)) \(provider.shortName): "
                    + "\(provider.displayName) (\(provider.issuer))\n"
            }
            menu += "  \(providers.count + 1)) type an issuer URL\n"
            StandardStream.output.put(menu)
            while true {
                let answer = try prompt.readLine(prompt: "Provider [1-\(providers.count + 1)]: ")
                    .trimmingSpaces
                if let number = Int(answer), (1...providers.count).contains(number) {
                    return (providers[number - 1].shortName, nil)
                }
                if let known = providers.first(where: { $0.shortName == answer }) { return (known.shortName, nil) }
                if Int(answer) == providers.count + 1 || answer.contains("://") {
                    var url = answer
                    if !answer.contains("://") { url = try prompt.readLine(prompt: "Issuer URL: ").trimmingSpaces }
                    do { try validateIssuerArgument(url) } catch {
                        StandardStream.output.line("\(error)")
                        continue
                    }
                    return (nil, url)
                }
                if answer.isEmpty { throw CLIError.usage("no provider chosen") }
                StandardStream.output.line("'\(answer)' is neither a number from the list nor a short name; try again.")
            }
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
                [account.name, account.text(.issuer), account.loginState, account.text(.scopes)]
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

func validateIssuerArgument(_ issuer: String) throws(ValidationError) {
    guard let scheme = issuer.split(separator: ":", maxSplits: 1).first.map({ $0.lowercased() }),
          scheme == "https" || scheme == "http", issuer.contains("://"),
          issuer.split(separator: "/").count >= 2 else {
        throw ValidationError("--issuer '\(issuer)' is not an http(s) URL, e.g. https://iam.example.org/")
    }
}

func validateAudienceStyle(_ style: String) throws(ValidationError) {
    if AudienceStyleName(rawValue: style) == nil {
        throw ValidationError("--audience-style must be 'resource', 'audience' or 'auto', not '\(style)'")
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
