import ArgumentParser
import QRCode
import Glibc
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
        subcommands: [Add.self, Import.self, New.self, AccessToken.self, Create.self, Exchange.self, Revoke.self, Profiles.self,
                      Info.self])

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

    // MARK: new

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new",
            abstract: "Get a new mytoken by logging in at the mytoken server, and print it (nothing is stored).",
            discussion: """
                The mytoken client's `mytoken MT --oidc`: the consent page is shown in a notification \
                (with a QR code; its default action opens it) and here; after your consent the mytoken \
                is printed, or written to -o FILE (mode 0600). Tessera keeps no copy: to keep one in \
                the keyring use `tessera mytoken add` and `tessera login`. The server is \
                --mytoken-server, $MYTOKEN_SERVER or $MYTOKEN_URL, else your mytoken accounts'; the \
                provider is -i (an issuer URL, or a provider's name as the server lists it), else \
                $MYTOKEN_PROVIDER, else the server's only provider. Capabilities default to AT, \
                create_mytoken and tokeninfo.

                Examples:
                  tessera mytoken new -i https://aai.egi.eu/auth/realms/egi --restriction 1w --capability AT -o job.mytoken
                  tessera mytoken new --mytoken-server https://mytoken.data.kit.edu --profile agent
                """)

        @Option(name: [.customShort("i"), .customLong("provider"), .customLong("oidc-issuer"), .customLong("issuer")],
                help: ArgumentHelp("The OpenID provider: an issuer URL or the server's name for it.", valueName: "provider"))
        var provider: String?

        @Option(name: .customLong("mytoken-server"),
                help: ArgumentHelp("The mytoken server (default $MYTOKEN_SERVER or $MYTOKEN_URL, else your mytoken accounts').",
                                   valueName: "url"))
        var serverArgument: String?

        @OptionGroup var clause: MytokenScopeOptions

        @OptionGroup var options: NewMytokenOptions

        @Flag(name: .customLong("no-notify"), help: "Show the consent page only here, not in a notification.")
        var noNotify = false

        @Option(name: [.customShort("o"), .customLong("out")],
                help: ArgumentHelp("Write the mytoken to FILE (mode 0600) instead of standard output.", valueName: "file"))
        var output: String?

        func validate() throws {
            if output?.isEmpty == true { throw ValidationError("-o needs a file name") }
            if provider?.isEmpty == true { throw ValidationError("-i needs a provider") }
        }

        func run() async throws {
            var request = try options.request(clause)
            request.mytokenServer = serverArgument ?? defaultMytokenServer()
            request.oidcIssuer = provider ?? Environment.value("MYTOKEN_PROVIDER")
            if noNotify { request.notify = false }
            let agent = try await AgentClient.connect()
            let interrupts = InterruptWatcher()
            // Subscribe before starting: a login approved within milliseconds must not be missed.
            let watch = try await agent.watchDeviceFlows()
            let flow = try await agent.startMytokenLogin(request)
            // stdout is the mytoken's; everything for the person goes to stderr.
            let console = StandardStream.error
            var text = "To create the mytoken, open \(flow.verificationURI)\nand give your consent at the mytoken server.\n"
            if console.isTerminal, let symbol = try? QRCode(flow.verificationURI, correction: .low) {
                text += "\nOr scan this QR code:\n" + symbol.terminalRendering() + "\n"
            }
            console.put(text)
            let wait = LoginWait(agent: agent, account: "a new mytoken", console: console)
            let outcome = await wait.outcome(of: flow.path, watch: watch, interrupts: interrupts, limit: nil)
            if case .finished(.completed) = outcome {} else { try await wait.report(outcome, flow: flow.path) }
            let created = try await agent.finishMytokenLogin(flow.path)
            try MytokenFiles.deliver(created.token, to: output)
            if let output { console.line("Wrote the new mytoken to \(output).") }
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

        @Option(name: [.customShort("o"), .customLong("out")],
                help: ArgumentHelp("Write the token to FILE (mode 0600) instead of standard output.", valueName: "file"))
        var output: String?

        func validate() throws {
            try validateAccountOrInput(account, input)
            if output?.isEmpty == true { throw ValidationError("-o needs a file name") }
        }

        func run() async throws {
            var request = try options.request(clause)
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

        @Option(name: .customLong("mytoken-server"),
                help: ArgumentHelp("The mytoken server (default $MYTOKEN_SERVER or $MYTOKEN_URL, else your mytoken accounts').",
                                   valueName: "url"))
        var serverArgument: String?

        @Option(name: .customLong("store"), help: ArgumentHelp("Store the mytoken as this new account.", valueName: "account"))
        var store: String?

        @Option(name: .customLong("oidc-issuer"), help: ArgumentHelp("With --store: the OpenID provider behind it.", valueName: "url"))
        var oidcIssuer: String?

        @Option(name: [.customShort("o"), .customLong("out")], help: ArgumentHelp("Write the mytoken to FILE (mode 0600).", valueName: "file"))
        var output: String?

        var server: String? { serverArgument ?? defaultMytokenServer() }

        func validate() throws {
            if transferCode?.isEmpty == true { throw ValidationError("--transfer-code is empty") }
            if transferCode != nil && transferCodeStdin { throw ValidationError("choose one of --transfer-code and --transfer-code-stdin") }
            if let store { try validateAccountName(store) }
            if store != nil && output != nil { throw ValidationError("choose one of --store and -o") }
            if oidcIssuer != nil && store == nil { throw ValidationError("--oidc-issuer only applies with --store") }
        }

        /// The code from argv (warned), standard input, or a no-echo prompt.
        func code() throws(CLIError) -> SecretText {
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
                text = try prompt.readSecret(prompt: "Transfer code: ").revealed()
            }
            let code = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            guard code.count == 1 else { throw .usage(code.isEmpty ? "no transfer code was given" : "the transfer code is one word") }
            return SecretText(String(code[0]))
        }

        func run() async throws {
            let code = try code()
            let agent = try await AgentClient.connect()
            if let store {
                try await agent.addMytokenAccount(name: store, settings: AccountSettingsMessage(
                    kind: AccountKindName.mytoken.rawValue, mytokenServer: server, oidcIssuer: oidcIssuer,
                    transferCode: code.revealed()))
                StandardStream.output.line("Stored the mytoken as \(store); get tokens with `tessera token \(shellWord(store))`.")
                return
            }
            let created = try await agent.exchange(transferCode: code, server: server)
            try MytokenFiles.deliver(created.token, to: output)
        }
    }

    // MARK: profiles

    struct Profiles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "profiles",
            abstract: "List the mytoken server's profiles and its capability, restriction and rotation templates.",
            discussion: """
                Names listed here can be given to --profile, --restriction, --capability (as @NAME) and \
                --rotation; a group's templates as GROUP/NAME.

                Examples:
                  tessera mytoken profiles
                  tessera mytoken profiles restrictions --json
                  tessera mytoken profiles groups
                  tessera mytoken profiles rotation --group kit
                """)

        @Argument(help: ArgumentHelp("groups, list (profiles), capabilities, restrictions or rotation.", valueName: "what"))
        var what: String = "list"

        @Option(name: [.customLong("group"), .customLong("groups")],
                help: ArgumentHelp("The template group (default: the server's default group).", valueName: "group"))
        var group: String?

        @Option(name: .customLong("mytoken-server"),
                help: ArgumentHelp("The mytoken server (default $MYTOKEN_SERVER or $MYTOKEN_URL, else your mytoken accounts').",
                                   valueName: "url"))
        var serverArgument: String?

        @Flag(help: "Print the server's answer as JSON.")
        var json = false

        var kind: MytokenTemplatesKindName? {
            what == "list" ? .profiles : MytokenTemplatesKindName(rawValue: what)
        }

        func validate() throws {
            guard let kind else {
                throw ValidationError("'\(what)' is not one of groups, list, capabilities, restrictions, rotation")
            }
            if kind == .groups && group != nil { throw ValidationError("--group does not apply to groups") }
            if group?.isEmpty == true { throw ValidationError("--group is empty") }
        }

        func run() async throws {
            guard let kind else { return }
            let agent = try await AgentClient.connect()
            let reply = try await agent.templates(MytokenTemplatesRequest(
                mytokenServer: serverArgument ?? defaultMytokenServer(), kind: kind.rawValue, group: group))
            if json {
                StandardStream.output.line(reply.json)
                return
            }
            let names = reply.entries.keys.sorted()
            if names.isEmpty {
                StandardStream.error.line("tessera: the server lists no \(kind == .groups ? "template groups" : kind.rawValue)"
                    + (group.map { " in the group \($0)" } ?? ""))
                return
            }
            if kind == .groups {
                for name in names { StandardStream.output.line(name) }
                return
            }
            StandardStream.output.put(table(["NAME", "CONTENT"], names.map { [$0, reply.entries[$0] ?? ""] }))
        }
    }

    // MARK: info

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "info",
            abstract: "Ask the mytoken server about a mytoken: introspect, history, subtokens, list.",
            discussion: """
                introspect: the token's properties and usage counts (capability tokeninfo:introspect); \
                history: its events (tokeninfo:history); subtokens: the tree of mytokens created from it \
                (tokeninfo:subtokens); list: all your mytokens (manage_mytokens:list). A token that \
                rotates is stored again (an account) or written back (a file).

                Examples:
                  tessera mytoken info introspect kit
                  tessera mytoken info history --mytoken-file job.mytoken --json
                  tessera mytoken info subtokens kit
                """)

        @Argument(help: ArgumentHelp("introspect, history, subtokens (or tree, token-tree) or list (or list-mytokens).",
                                     valueName: "action"))
        var action: String

        /// The action, also by the mytoken client's names and aliases.
        var actionName: MytokenInfoActionName? {
            switch action {
            case "tree", "token-tree": .subtokens
            case "list-mytokens": .list
            default: MytokenInfoActionName(rawValue: action)
            }
        }

        @Argument(help: ArgumentHelp("The mytoken account (else a passed mytoken).", valueName: "account"))
        var account: String?

        @OptionGroup var input: MytokenInput

        @Flag(help: "Print the server's answer as JSON.")
        var json = false

        func validate() throws {
            guard actionName != nil else {
                throw ValidationError("'\(action)' is not one of introspect, history, subtokens, list")
            }
            try validateAccountOrInput(account, input)
        }

        func run() async throws {
            guard let actionName else { return }
            var request = MytokenInfoRequest()
            var origin: MytokenOrigin?
            if account == nil {
                let (mytoken, from) = try input.read()
                request.mytoken = mytoken.revealed()
                request.mytokenServer = input.server
                origin = from
            }
            let agent = try await AgentClient.connect()
            let reply = try await agent.info(account: account, action: actionName, request: request)
            if let rotated = reply.rotatedMytoken, let origin { MytokenInput.keep(SecretText(rotated), origin: origin) }
            if json {
                StandardStream.output.line(reply.json)
                return
            }
            switch actionName {
            case .introspect:
                StandardStream.output.put(table(["FIELD", "VALUE"], reply.rows.map { [$0["field"] ?? "", $0["value"] ?? ""] }))
            case .history:
                StandardStream.output.put(table(["TIME", "EVENT", "IP", "COMMENT"], reply.rows.map {
                    [localTime($0["time"]), $0["event"] ?? "", $0["ip"] ?? "", $0["comment"] ?? ""]
                }))
            case .subtokens, .list:
                StandardStream.output.put(table(["NAME", "CREATED", "EXPIRES", "IP", "MOM-ID"], reply.rows.map {
                    let depth = Int($0["depth"] ?? "0") ?? 0
                    let name = ($0["name"] ?? "").isEmpty ? "(unnamed)" : $0["name"]!
                    return [String(repeating: "  ", count: depth) + name, localTime($0["created"]),
                            ($0["expires-at"] ?? "").isEmpty ? "never" : localTime($0["expires-at"]), $0["ip"] ?? "",
                            $0["mom-id"] ?? ""]
                }))
            }
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



/// Columns padded to their widest cell; the last column is not padded.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    var widths = [Int](repeating: 0, count: header.count)
    for row in all { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
    var out = ""
    for row in all {
        var line = ""
        for (index, cell) in row.enumerated() {
            line += index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
        }
        out += line + "\n"
    }
    return out
}

/// Unix seconds as local "YYYY-MM-DD HH:MM:SS" (the CLI has no Foundation).
func localTime(_ seconds: String?) -> String {
    guard let seconds, var value = time_t(seconds) else { return seconds ?? "" }
    var parts = tm()
    guard localtime_r(&value, &parts) != nil else { return seconds }
    var buffer = [CChar](repeating: 0, count: 32)
    let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S", &parts)
    return count > 0 ? String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self) : seconds
}
