import ArgumentParser

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in to an account (OAuth 2.0 device flow).",
        discussion: """
            Prints the verification URI, the user code and a QR code (on a terminal), and waits \
            until you approve the login in a browser. The service shows the same code in a desktop \
            notification. Ctrl-C cancels the login.

            --browser uses the authorization code flow with PKCE instead: the service opens the \
            provider's login page in your browser and receives the answer on a loopback address \
            (http://127.0.0.1:<port>/callback), so the account's client must allow that redirect URI.

            --password uses the resource owner password grant instead: the user name and password \
            are read from the terminal (no echo) or from standard input (two lines), never from the \
            command line. That grant is deprecated (OAuth 2.0 Security BCP, RFC 9700; removed in \
            OAuth 2.1) because it hands your password to this program: use it only where the \
            provider offers nothing else.

            Examples:
              tessera login wlcg
              tessera login wlcg --browser
              printf '%s\\n%s\\n' alice "$PASSWORD" | tessera login legacy --password
            """)

    @Argument(help: ArgumentHelp("The account to log in to.", valueName: "account"))
    var account: String

    @Flag(name: .customLong("no-qr"), help: "Do not draw the QR code.")
    var noQR = false

    @Flag(help: "Use the deprecated password grant (reads user name and password from a prompt or stdin).")
    var password = false

    @Flag(help: "Log in through the browser (authorization code with PKCE on a loopback redirect).")
    var browser = false

    @Option(help: ArgumentHelp("With --password: the user name (else it is asked for).", valueName: "name"))
    var username: String?

    @Option(help: ArgumentHelp("Give up after this many seconds (default: when the code expires).",
                               valueName: "seconds"))
    var timeout: UInt32 = 1800

    mutating func validate() throws {
        if account.isEmpty { throw ValidationError("the account name is empty; see `tessera account list`") }
        if username != nil && !password { throw ValidationError("--username only applies with --password") }
        if password && noQR { throw ValidationError("--no-qr does not apply to --password (there is no code)") }
        if browser && password { throw ValidationError("--browser and --password are different logins; pick one") }
        if browser && noQR { throw ValidationError("--no-qr does not apply to --browser (there is no code)") }
        if timeout == 0 { throw ValidationError("--timeout must be at least 1 second") }
    }

    func run() async throws {
        let agent = try await AgentClient.connect()
        if password {
            try await passwordLogin(agent)
        } else if browser {
            try await BrowserLoginSession(agent: agent, account: account, console: .output, timeout: timeout).run()
        } else {
            try await DeviceLogin(agent: agent, account: account, console: .output,
                                  drawQR: !noQR, timeout: timeout).run()
        }
    }

    private func passwordLogin(_ agent: AgentClient) async throws(CLIError) {
        StandardStream.error.line("""
            tessera: warning: the password grant is deprecated (RFC 9700) and gives your password to \
            this program; prefer `tessera login \(shellWord(account))` (device flow) if the provider supports it
            """)
        let prompt = SecretPrompt()
        defer { prompt.close() }
        var user = username ?? ""
        if username == nil { user = try prompt.readLine(prompt: "User name for \(account): ") }
        let secret = try prompt.readSecret(prompt: "Password for \(user): ")
        if user.isEmpty { throw .usage("the user name is empty") }
        try await agent.passwordLogin(account: account, username: user, password: secret)
        StandardStream.output.line("Logged in to \(account).")
    }
}
