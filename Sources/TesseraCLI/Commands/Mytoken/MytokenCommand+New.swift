import ArgumentParser
import QRCode
import TesseraAPI

/// `tessera mytoken new`: a fresh mytoken from a login at the server, printed and not kept.
extension MytokenCommand {
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

        @OptionGroup var serverOption: MytokenServerOption

        @OptionGroup var clause: MytokenScopeOptions

        @OptionGroup var options: NewMytokenOptions

        @Flag(name: .customLong("no-notify"), help: "Show the consent page only here, not in a notification.")
        var noNotify = false

        @OptionGroup var output: MytokenOutput

        func validate() throws {
            if provider?.isEmpty == true { throw ValidationError("-i needs a provider") }
        }

        func run() async throws {
            var request = try options.request(clause)
            request.mytokenServer = serverOption.server
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
            try MytokenFiles.deliver(created.token, to: output.path)
            if let output = output.path { console.line("Wrote the new mytoken to \(output).") }
        }
    }
}
