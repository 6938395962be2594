import ArgumentParser
import Secrets
import TesseraAPI

extension AccountCommand {
    struct SetSettings: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Change an account's scopes, audience, audience style, client or issuer.",
            discussion: """
                Only what you give changes. A new client id or issuer needs a new login (the old \\
                refresh token belongs to the old client and is deleted); scopes and audiences keep \\
                the login and drop the cached tokens — scopes wider than the login's need \\
                `tessera login NAME` again. `-s max` means every scope the provider supports.

                Examples:
                  tessera account set wlcg -s "openid offline_access storage.read:/"
                  tessera account set wlcg --aud https://dcache.example.org --audience-style resource
                  printf %s "$SECRET" | tessera account set mine --client-id 1234 --client-secret-stdin
                """)

        @Argument(help: ArgumentHelp("The account.", valueName: "name"))
        var name: String

        @Option(help: ArgumentHelp("A new issuer URL (needs a new login).", valueName: "url"))
        var issuer: String?

        @Option(name: .customLong("client-id"), help: ArgumentHelp("A new client id (needs a new login).", valueName: "id"))
        var clientID: String?

        @Flag(name: .customLong("client-secret-stdin"), help: "Read the client's secret from standard input.")
        var clientSecretFromStdin = false

        @Option(name: [.customShort("s"), .customLong("scope")],
                help: ArgumentHelp("The new default scopes (repeatable; replaces the list); 'max' for all.",
                                   valueName: "scope"))
        var scopeArguments: [String] = []

        @Option(name: .customLong("aud"), help: ArgumentHelp("The new default audiences (repeatable; replaces the list).",
                                                            valueName: "audience"))
        var audiences: [String] = []

        @Flag(name: .customLong("no-aud"), help: "Clear the default audiences.")
        var clearAudience = false

        @Option(name: .customLong("audience-style"),
                help: ArgumentHelp("How the audience is sent: 'resource' (RFC 8707) or 'audience' (legacy).", valueName: "style"))
        var audienceStyle: String?

        var scopes: [String] { scopeArguments.flatMap { $0.split(separator: " ").map(String.init) } }

        mutating func validate() throws {
            try validateAccountName(name)
            if let issuer { try validateIssuerArgument(issuer) }
            if let audienceStyle { try validateAudienceStyle(audienceStyle) }
            if clientID?.isEmpty == true { throw ValidationError("--client-id is empty") }
            if clearAudience && !audiences.isEmpty { throw ValidationError("give --aud or --no-aud, not both") }
            if scopes.contains(AccountSetting.maxScopes) && scopes.count > 1 {
                throw ValidationError("-s max stands alone: it means every scope the provider supports")
            }
            if issuer == nil && clientID == nil && !clientSecretFromStdin && scopeArguments.isEmpty && audiences.isEmpty
                && !clearAudience && audienceStyle == nil {
                throw ValidationError("nothing to change; give --scope, --aud, --no-aud, --audience-style, --client-id or --issuer")
            }
        }

        func run() async throws {
            var secret: Secret?
            if clientSecretFromStdin {
                let prompt = SecretPrompt()
                defer { prompt.close() }
                secret = try prompt.readRequiredSecret(prompt: "Client secret for \(clientID ?? name): ", what: "the client secret")
            }
            let settings = AccountSettingsMessage(
                issuer: issuer, clientID: clientID, clientSecret: secret?.reveal(),
                scopes: scopes.isEmpty ? nil : scopes, audience: clearAudience ? [] : audiences.isEmpty ? nil : audiences,
                audienceStyle: audienceStyle)
            try await AgentClient.connect().setAccount(name: name, settings: settings)
            if issuer != nil || clientID != nil {
                StandardStream.output.line("Changed account \(name). Log in again with: tessera login \(shellWord(name))")
            } else {
                StandardStream.output.line("Changed account \(name).")
            }
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rename",
            abstract: "Rename an account; its login, client secret and cached tokens follow.",
            discussion: "Example:\n  tessera account rename wlcg wlcg-prod")

        @Argument(help: ArgumentHelp("The account's name now.", valueName: "old"))
        var old: String

        @Argument(help: ArgumentHelp("Its new name.", valueName: "new"))
        var new: String

        mutating func validate() throws {
            try validateAccountName(old)
            try validateAccountName(new)
        }

        func run() async throws {
            try await AgentClient.connect().renameAccount(from: old, to: new)
            StandardStream.output.line("Renamed account \(old) to \(new).")
        }
    }
}
