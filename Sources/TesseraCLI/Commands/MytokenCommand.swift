import ArgumentParser
import TesseraAPI

/// `tessera mytoken …`: the mytoken client's commands, spoken to tesserad over D-Bus. Restriction
/// and time values go to the service as typed (it parses them), so this stays Foundation-free.
struct MytokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mytoken",
        abstract: "Use mytokens: accounts backed by a mytoken server, sub-mytokens, transfer codes.",
        discussion: """
            A mytoken account keeps its mytoken in the keyring; log in with `tessera login NAME` \
            (consent at the mytoken server) or store an existing mytoken with `tessera mytoken import`. \
            Commands that take an account also take a mytoken instead: --mytoken-file, --mytoken-env, \
            --mytoken-prompt or --mytoken; with neither, the WLCG bearer token discovery order \
            ($BEARER_TOKEN, $BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u$UID, /tmp/bt_u$UID) finds it.
            """,
        subcommands: [Add.self, Import.self, AccessToken.self, Create.self, Exchange.self, Revoke.self])

    // MARK: add

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

        func validate() throws { try validateAccountName(name) }

        func run() async throws {
            let agent = try await AgentClient.connect()
            try await agent.addMytokenAccount(name: name, settings: AccountSettingsMessage(
                scopes: scopes.isEmpty ? nil : splitWords(scopes), audience: audiences.isEmpty ? nil : audiences,
                kind: AccountKindName.mytoken.rawValue, mytokenServer: server, oidcIssuer: oidcIssuer))
            StandardStream.output.line("Added \(name); log in with `tessera login \(shellWord(name))`.")
        }
    }

    // MARK: import

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
                mytoken: mytoken.revealed(), replace: replace ? true : nil))
            StandardStream.output.line("Imported the mytoken as \(name); get tokens with `tessera token \(shellWord(name))`.")
        }
    }

    // MARK: at

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
                let issued = try await agent.token(TokenRequest(account: account, scopes: splitWords(scopes), audience: audiences,
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

    // MARK: create

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a sub-mytoken (or a short token, or a transfer code) from an account's or a passed mytoken.",
            discussion: """
                The restriction options build one clause; --restriction takes a JSON clause list (or \
                @FILE) instead. Time values: unix seconds, "2006-01-02 15:04" (local time), or relative \
                "+2w", "+3d12h30m", "+60" (units y w d h m s; a bare number is seconds).

                Examples:
                  tessera mytoken create kit --exp +7d -s storage.read:/ --aud https://se.example.org -o sub.mytoken
                  tessera mytoken create kit --usages-at 10 --capability AT --token-type transfer
                  tessera mytoken create kit --restriction @restrictions.json --rotation-on-at --rotation-auto-revoke
                """)

        @Argument(help: ArgumentHelp("The mytoken account to create it from (else a passed mytoken).", valueName: "account"))
        var account: String?

        @OptionGroup var input: MytokenInput

        @Option(help: ArgumentHelp("Not usable before this time.", valueName: "time")) var nbf: String?
        @Option(help: ArgumentHelp("Not usable after this time.", valueName: "time")) var exp: String?
        @Option(name: [.customShort("s"), .customLong("scope")], help: ArgumentHelp("Allowed scope (repeatable).", valueName: "scope"))
        var scopes: [String] = []
        @Option(name: .customLong("aud"), help: ArgumentHelp("Allowed audience (repeatable).", valueName: "audience"))
        var audiences: [String] = []
        @Option(name: .customLong("host"), help: ArgumentHelp("Allowed host, IP or CIDR range (repeatable).", valueName: "host"))
        var hosts: [String] = []
        @Option(name: .customLong("geo-ip-allow"), help: ArgumentHelp("Allowed country code (repeatable).", valueName: "code"))
        var geoIPAllow: [String] = []
        @Option(name: .customLong("geo-ip-disallow"), help: ArgumentHelp("Forbidden country code (repeatable).", valueName: "code"))
        var geoIPDisallow: [String] = []
        @Option(name: .customLong("usages-at"), help: ArgumentHelp("How many access tokens it may give.", valueName: "n"))
        var usagesAT: UInt64?
        @Option(name: .customLong("usages-other"), help: ArgumentHelp("How many other uses it allows.", valueName: "n"))
        var usagesOther: UInt64?
        @Option(help: ArgumentHelp("Restrictions as a JSON clause list, or @FILE.", valueName: "json|@file"))
        var restriction: String?

        @Option(name: .customLong("capability"), help: ArgumentHelp("A capability (repeatable; default: the parent's).", valueName: "cap"))
        var capabilities: [String] = []
        @Option(name: .customLong("subtoken-capability"), help: ArgumentHelp("A capability it may pass on (repeatable).", valueName: "cap"))
        var subtokenCapabilities: [String] = []
        @Flag(name: [.customLong("rotation-on-at"), .customLong("rotation-on-AT")], help: "Rotate on every access token.")
        var rotationOnAT = false
        @Flag(name: .customLong("rotation-on-other"), help: "Rotate on every other use.")
        var rotationOnOther = false
        @Option(name: .customLong("rotation-lifetime"), help: ArgumentHelp("Seconds a rotated token stays valid.", valueName: "seconds"))
        var rotationLifetime: UInt32?
        @Flag(name: .customLong("rotation-auto-revoke"), help: "Revoke the token family when a rotated-away token is replayed.")
        var rotationAutoRevoke = false
        @Option(help: ArgumentHelp("A name for the token in the server's lists.", valueName: "name"))
        var name: String?
        @Option(name: .customLong("token-type"), help: ArgumentHelp("jwt (default), short or transfer.", valueName: "type"))
        var tokenType: String?
        @Option(name: .customLong("max-token-len"), help: ArgumentHelp("Longest JWT acceptable (else a short token).", valueName: "n"))
        var maxTokenLength: UInt32?
        @Flag(name: .customLong("error-on-restrictions"), help: "Fail instead of dropping clauses wider than the parent's.")
        var failOnWiderRestrictions = false

        @Option(name: [.customShort("o"), .customLong("out")],
                help: ArgumentHelp("Write the token to FILE (mode 0600) instead of standard output.", valueName: "file"))
        var output: String?

        var hasClauseOptions: Bool {
            nbf != nil || exp != nil || !scopes.isEmpty || !audiences.isEmpty || !hosts.isEmpty || !geoIPAllow.isEmpty
                || !geoIPDisallow.isEmpty || usagesAT != nil || usagesOther != nil
        }

        func validate() throws {
            try validateAccountOrInput(account, input)
            if restriction != nil && hasClauseOptions {
                throw ValidationError("use either --restriction or the options --nbf, --exp, --scope, --aud, --host, "
                    + "--geo-ip-allow, --geo-ip-disallow, --usages-at, --usages-other, not both")
            }
            if let tokenType, MytokenTokenTypeName(rawValue: tokenType) == nil {
                throw ValidationError("--token-type must be jwt, short or transfer, not '\(tokenType)'")
            }
            if (rotationLifetime != nil || rotationAutoRevoke) && !rotationOnAT && !rotationOnOther {
                throw ValidationError("--rotation-lifetime and --rotation-auto-revoke need --rotation-on-at or --rotation-on-other")
            }
            if output?.isEmpty == true { throw ValidationError("-o needs a file name") }
        }

        func run() async throws {
            var request = CreateMytokenRequest()
            if let restriction {
                request.restrictions = restriction.hasPrefix("@") ? try MytokenFiles.read(String(restriction.dropFirst())) : restriction
            }
            request.notBefore = nbf
            request.expiresAt = exp
            if !scopes.isEmpty { request.scopes = splitWords(scopes) }
            if !audiences.isEmpty { request.audience = audiences }
            if !hosts.isEmpty { request.hosts = hosts }
            if !geoIPAllow.isEmpty { request.geoIPAllow = geoIPAllow }
            if !geoIPDisallow.isEmpty { request.geoIPDisallow = geoIPDisallow }
            request.usagesAT = usagesAT
            request.usagesOther = usagesOther
            if !capabilities.isEmpty { request.capabilities = capabilities }
            if !subtokenCapabilities.isEmpty { request.subtokenCapabilities = subtokenCapabilities }
            let triggers = (rotationOnAT ? ["AT"] : []) + (rotationOnOther ? ["other"] : [])
            if !triggers.isEmpty { request.rotation = triggers }
            request.rotationLifetime = rotationLifetime
            if rotationAutoRevoke { request.rotationAutoRevoke = true }
            request.name = name
            request.tokenType = tokenType
            request.maxTokenLength = maxTokenLength
            if failOnWiderRestrictions { request.failOnWiderRestrictions = true }

            var origin: MytokenOrigin?
            if account == nil {
                let (mytoken, from) = try input.read()
                request.mytoken = mytoken.revealed()
                request.mytokenServer = input.server
                origin = from
            }
            let agent = try await AgentClient.connect()
            let created = try await agent.createMytoken(account: account, request: request)
            if let rotated = created.rotated, let origin { MytokenInput.keep(rotated, origin: origin) }
            try MytokenFiles.deliver(created.token, to: output)
        }
    }

    // MARK: exchange

    struct Exchange: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exchange",
            abstract: "Exchange a transfer code for its mytoken: store it as an account, or print it.",
            discussion: """
                Examples:
                  tessera mytoken exchange --transfer-code TC --mytoken-server https://mytoken.data.kit.edu --store laptop
                  tessera mytoken exchange --transfer-code TC --mytoken-server https://mytoken.data.kit.edu -o my.mytoken
                """)

        @Option(name: .customLong("transfer-code"), help: ArgumentHelp("The transfer code (single use, short-lived).", valueName: "code"))
        var transferCode: String

        @Option(name: .customLong("mytoken-server"),
                help: ArgumentHelp("The mytoken server (default $MYTOKEN_SERVER).", valueName: "url"))
        var serverArgument: String?

        @Option(name: .customLong("store"), help: ArgumentHelp("Store the mytoken as this new account.", valueName: "account"))
        var store: String?

        @Option(name: .customLong("oidc-issuer"), help: ArgumentHelp("With --store: the OpenID provider behind it.", valueName: "url"))
        var oidcIssuer: String?

        @Option(name: [.customShort("o"), .customLong("out")], help: ArgumentHelp("Write the mytoken to FILE (mode 0600).", valueName: "file"))
        var output: String?

        var server: String? { serverArgument ?? Environment.value("MYTOKEN_SERVER") }

        func validate() throws {
            if transferCode.isEmpty { throw ValidationError("--transfer-code is empty") }
            if server == nil { throw ValidationError("name the server with --mytoken-server (or $MYTOKEN_SERVER)") }
            if let store { try validateAccountName(store) }
            if store != nil && output != nil { throw ValidationError("choose one of --store and -o") }
            if oidcIssuer != nil && store == nil { throw ValidationError("--oidc-issuer only applies with --store") }
        }

        func run() async throws {
            let agent = try await AgentClient.connect()
            guard let server else { return }
            if let store {
                try await agent.addMytokenAccount(name: store, settings: AccountSettingsMessage(
                    kind: AccountKindName.mytoken.rawValue, mytokenServer: server, oidcIssuer: oidcIssuer,
                    transferCode: transferCode))
                StandardStream.output.line("Stored the mytoken as \(store); get tokens with `tessera token \(shellWord(store))`.")
                return
            }
            let created = try await agent.exchange(transferCode: SecretText(transferCode), server: server)
            try MytokenFiles.deliver(created.token, to: output)
        }
    }

    // MARK: revoke

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

private func validateAccountOrInput(_ account: String?, _ input: MytokenInput) throws {
    if let account {
        if account.isEmpty { throw ValidationError("the account name is empty; see `tessera account list`") }
        if input.given { throw ValidationError("name an account or pass a mytoken, not both") }
    }
}

/// `-s "openid profile"` means two scopes, as in oidc-token and the mytoken client.
private func splitWords(_ values: [String]) -> [String] {
    values.flatMap { $0.split(separator: " ").map(String.init) }
}
