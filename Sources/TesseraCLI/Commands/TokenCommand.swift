import ArgumentParser

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print an access token for an account (or for an issuer's first account).",
        discussion: """
            The token is valid for at least --min-valid seconds (default 60) unless the provider \
            issues shorter-lived tokens; --json and --env tell the real expiry. Tokens with other \
            scopes or audiences than the account's defaults are obtained and cached separately.

            --bearer-file writes the token to the WLCG bearer token discovery path \
            ($XDG_RUNTIME_DIR/bt_u$UID, else /tmp/bt_u$UID) or to PATH, mode 0600, replacing the \
            file atomically, and prints the path. Written as a separate word, PATH must contain a \
            '/' (e.g. ./token); --bearer-file=PATH always takes PATH.

            Examples:
              curl -H "Authorization: Bearer $(tessera token wlcg)" https://example.org/
              eval "$(tessera token wlcg --env)"
              tessera token https://wlcg.cloud.cnaf.infn.it/ -s storage.read:/ --aud https://dcache.example.org
              tessera token wlcg --bearer-file && gfal-ls davs://example.org/path

            oidc-token's flags work too: -f (--force), -c (--env), -o/-i/-e (token, issuer, expiry: \
            one prints its value, several print export lines), -a (all three, one per line), \
            --name, --bearer/--auth-header.
            """)

    @Argument(help: ArgumentHelp("The account name, or an issuer URL (its first account).", valueName: "account"))
    var account: String

    @Option(name: [.customShort("s"), .customLong("scope")],
            help: ArgumentHelp("Request this scope (repeatable; a quoted space-separated list works too).",
                               valueName: "scope"))
    var scopeArguments: [String] = []

    @Option(name: .customLong("aud"),
            help: ArgumentHelp("Request this audience (repeatable).", valueName: "audience"))
    var audiences: [String] = []

    @Option(name: [.customShort("t"), .customLong("min-valid")],
            help: ArgumentHelp("The token must stay valid this many seconds (default 60; 0 to 4294967295). "
                               + "Above the provider's lifetime: a fresh token, like oidc-token.", valueName: "seconds"),
            transform: { text throws(ValidationError) in
                guard let seconds = UInt32(text) else { throw ValidationError("give whole seconds from 0 to \(UInt32.max)") }
                return seconds
            })
    var minValid: UInt32?

    @Flag(name: [.customShort("f"), .long, .customLong("force-new")],
          help: "Get a new token even if a cached one is still valid.")
    var force = false

    @Flag(help: "Print token, expires_at, token_type, scopes, audience and issuer as JSON.")
    var json = false

    @Flag(name: [.customShort("c"), .long],
          help: "Print shell export lines (OIDC_AT, OIDC_ISS, OIDC_EXP) like `oidc-token -c`.")
    var env = false

    @Flag(name: [.customShort("o"), .customLong("token")],
          help: "Print the token (with -i/-e: as OIDC_AT export lines), like oidc-token.")
    var printToken = false

    @Flag(name: [.customShort("i"), .customLong("issuer")],
          help: "Print the issuer (with -o/-e: as OIDC_ISS export lines), like oidc-token.")
    var printIssuer = false

    @Flag(name: [.customShort("e"), .customLong("expires-at")],
          help: "Print the expiry in Unix seconds (with -o/-i: as OIDC_EXP export lines), like oidc-token.")
    var printExpiresAt = false

    /// oidc-token's optional names, `-oNAME`/`--token=NAME` (argp's optional arguments), become
    /// these hidden options in `normalizeVariableNames`: ArgumentParser has no optional values.
    @Option(name: .customLong("token-variable"), help: .hidden)
    var tokenVariable: String?

    @Option(name: .customLong("issuer-variable"), help: .hidden)
    var issuerVariable: String?

    @Option(name: .customLong("expires-at-variable"), help: .hidden)
    var expiresAtVariable: String?

    /// The export names given with -oNAME, -iNAME, -eNAME.
    var variableNames: [TokenField: String] {
        var names: [TokenField: String] = [:]
        names[.token] = tokenVariable
        names[.issuer] = issuerVariable
        names[.expiresAt] = expiresAtVariable
        return names
    }

    @Flag(name: [.customShort("a"), .customLong("all")], help: "Print token, issuer and expiry, one per line.")
    var all = false

    @Flag(name: [.customLong("bearer"), .customLong("auth-header")],
          help: "Print an HTTP header line: Authorization: Bearer <token>.")
    var authorizationHeader = false

    @Option(name: .customLong("name"),
            help: ArgumentHelp("How this program calls itself, shown in a login notification.", valueName: "name"))
    var applicationName: String?

    @Option(name: .customLong("bearer-file"),
            help: ArgumentHelp("Write the token to the WLCG bearer token file (default path, or PATH).",
                               valueName: "path"))
    var bearerFilePath: String?

    /// Set by `normalizeBearerFileArgument` for a bare `--bearer-file`.
    @Flag(name: .customLong("bearer-file-default"), help: .hidden)
    var bearerFileAtDefaultPath = false

    var bearerFile: String? {
        bearerFilePath ?? (bearerFileAtDefaultPath ? BearerTokenFile.defaultPath() : nil)
    }

    @Flag(name: .customLong("id-token"),
          help: "Print the ID token of the latest login or refresh instead (a refresh with openid when none is held).")
    var idToken = false

    @Flag(help: "When a login is needed, run it here (device flow) and then print the token.")
    var interactive = false

    @Flag(name: .customLong("no-qr"), help: "With --interactive: do not draw the QR code.")
    var noQR = false

    @Option(help: ArgumentHelp("With --interactive: give up the login after this many seconds.",
                               valueName: "seconds"))
    var timeout: UInt32 = 600

    /// `-s "openid profile"` is how oidc-token users write several scopes; both forms mean the same.
    var scopes: [String] { scopeArguments.flatMap { $0.split(separator: " ").map(String.init) } }

    var fields: Set<TokenField> {
        Set([printToken ? TokenField.token : nil, printIssuer ? .issuer : nil, printExpiresAt ? .expiresAt : nil].compactMap { $0 })
    }

    var format: TokenFormat {
        if json { return .json }
        let names = variableNames
        // -c with names: every value, the named ones under their names (as oidc-token prints them).
        if env { return names.isEmpty ? .env : .exports(Set(TokenField.allCases), names: names) }
        if all { return .all }
        if authorizationHeader { return .authorizationHeader }
        if fields.isEmpty { return .plain }
        return names.isEmpty ? .fields(fields) : .exports(fields, names: names)
    }

    mutating func validate() throws {
        if account.isEmpty { throw ValidationError("the account name is empty; see `tessera account list`") }
        if bearerFilePath?.isEmpty == true { throw ValidationError("--bearer-file= needs a path") }
        if bearerFilePath != nil && bearerFileAtDefaultPath {
            throw ValidationError("give --bearer-file once")
        }
        // -c goes with -o/-i/-e: they name its variables (oidc-token -c -oMY_AT).
        if [json, env || !fields.isEmpty, bearerFile != nil, all, authorizationHeader].filter({ $0 }).count > 1 {
            throw ValidationError("choose one output: --json, -c/--env, --bearer-file, -a/--all, --bearer, or -o/-i/-e")
        }
        for (flag, name) in [("-o/--token", tokenVariable), ("-i/--issuer", issuerVariable), ("-e/--expires-at", expiresAtVariable)] {
            // The output is meant for `eval`: a name that is no shell variable name could run code.
            if let name, !Self.isShellVariableName(name) {
                throw ValidationError("\(flag) takes a shell variable name (letters, digits, '_'; not a digit first), not '\(name)'")
            }
        }
        if let applicationName, applicationName.isEmpty || applicationName.utf8.count > 80
            || applicationName.contains(where: { $0.isNewline }) {
            throw ValidationError("--name must be one line of 1 to 80 bytes")
        }
        if let bad = audiences.first(where: { $0.isEmpty || $0.contains(" ") }) {
            throw ValidationError("audience '\(bad)' is empty or has a space; repeat --aud for several")
        }
        if scopeArguments.contains(where: { $0.split(separator: " ").isEmpty }) {
            throw ValidationError("an empty --scope was given")
        }
        if timeout == 0 { throw ValidationError("--timeout must be at least 1 second") }
        if idToken && (env || bearerFile != nil || !scopeArguments.isEmpty || !audiences.isEmpty || interactive || all
            || authorizationHeader || !fields.isEmpty) {
            throw ValidationError("--id-token goes with --json, --force and -t only")
        }
        if noQR && !interactive { throw ValidationError("--no-qr only applies with --interactive") }
    }

    func run() async throws {
        let agent = try await AgentClient.connect()
        if idToken {
            let (token, expiresAt) = try await agent.idToken(account: account, minValid: minValid, force: force)
            if json {
                StandardStream.output.line(JSONValue.object([("id_token", .string(token.reveal())),
                                                             ("expires_at", .integer(expiresAt))]).rendered())
            } else {
                StandardStream.output.line(token.reveal())
            }
            return
        }
        let request = TokenQuery(account: account, scopes: scopes, audience: audiences,
                                   minValid: minValid, force: force, application: applicationName)
        let issued: IssuedToken
        do {
            issued = try await agent.token(request)
        } catch .loginRequired(let account, let detail) where interactive {
            _ = detail
            // The code goes to stderr so stdout still holds nothing but the token.
            let login = DeviceLoginSession(agent: agent, account: account, console: .error,
                                    drawQR: !noQR, timeout: timeout)
            try await login.run()
            issued = try await agent.token(request)
        }
        if let bearerFile {
            try BearerTokenFile.write(issued.token, to: bearerFile)
            StandardStream.output.line(bearerFile)
        } else {
            StandardStream.output.put(format.render(issued))
        }
    }

    static func isShellVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 128,
              first == UInt8(ascii: "_") || (first | 0x20 >= UInt8(ascii: "a") && first | 0x20 <= UInt8(ascii: "z")) else { return false }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z"))
        }
    }

    /// oidc-token's `-o`, `-i` and `-e` take an optional variable name the argp way: attached to
    /// the short option (`-oMY_AT`, so `-oie` names the token's variable "ie", as oidc-token reads
    /// it) or after `=` on the long one (`--token=MY_AT`). Each becomes the flag plus a hidden
    /// `--token-variable=MY_AT`, for `tessera token` only and only before `--`.
    static func normalizeVariableNames(_ arguments: [String]) -> [String] {
        guard arguments.first == "token" else { return arguments }
        let options: [(short: String, long: String, hidden: String)] = [
            ("-o", "--token=", "--token-variable="), ("-i", "--issuer=", "--issuer-variable="),
            ("-e", "--expires-at=", "--expires-at-variable="),
        ]
        var result: [String] = []
        var afterTerminator = false
        for word in arguments {
            if word == "--" { afterTerminator = true }
            guard !afterTerminator,
                  let option = options.first(where: { (word.hasPrefix($0.short) && word.count > 2) || word.hasPrefix($0.long) })
            else {
                result.append(word)
                continue
            }
            let name = word.hasPrefix(option.long) ? String(word.dropFirst(option.long.count)) : String(word.dropFirst(2))
            result += [option.short, option.hidden + name]
        }
        return result
    }

    /// `--bearer-file` may stand alone (default path) or take a PATH. ArgumentParser options need a
    /// value, so the bare form becomes the hidden `--bearer-file-default` flag before parsing; the
    /// next word is taken as PATH only when it looks like one, so `--bearer-file NAME` keeps NAME
    /// as the account.
    static func normalizeBearerFileArgument(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        var afterTerminator = false
        while index < arguments.count {
            let word = arguments[index]
            if word == "--" { afterTerminator = true }
            if !afterTerminator && word == "--bearer-file" {
                if index + 1 < arguments.count, arguments[index + 1].contains("/") {
                    result.append("--bearer-file=" + arguments[index + 1])
                    index += 2
                    continue
                }
                result.append("--bearer-file-default")
            } else {
                result.append(word)
            }
            index += 1
        }
        return result
    }
}
