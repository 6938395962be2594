import TesseraAPI

/// `tessera login --browser`: the service opens the provider's page in the browser and listens on
/// loopback; this waits for the flow object's end like a device login, Ctrl-C cancelling it.
struct BrowserLoginSession {
    let agent: AgentClient
    let account: String
    let console: StandardStream
    /// Seconds the service waits for the browser (it is also this command's limit).
    let timeout: UInt32

    func run() async throws(CLIError) {
        let interrupts = InterruptWatcher()
        // Subscribe before starting: a browser that already has a session may finish in milliseconds.
        let watch = try await agent.watchDeviceFlows()
        let options = BrowserLoginOptions(timeout: min(timeout, 3600))
        let body = try await agent.call(AgentMethod.startBrowserLogin.rawValue,
                                        [.string(account), options.dbusOptions.dbusValue], account: account)
        guard let reply = try? BrowserLoginReply(body: body), !reply.authorizationURI.isEmpty else {
            throw .runtime("tesserad answered StartBrowserLogin with an unexpected reply; update tessera and tesserad together")
        }
        console.put("""
            Opening the login page for \(account) in your browser.
            If no browser opens, visit:
              \(reply.authorizationURI)

            """)
        let wait = LoginWait(agent: agent, account: account, console: console)
        let outcome = await wait.outcome(of: reply.flow.rawValue, watch: watch, interrupts: interrupts, limit: nil)
        try await wait.report(outcome, flow: reply.flow.rawValue)
    }
}
