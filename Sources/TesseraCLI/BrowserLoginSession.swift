import TesseraAPI

/// `tessera login --browser`: the service opens the provider's page in the browser and listens on
/// loopback; this waits for the flow object's end like a device login, Ctrl-C cancelling it.
struct BrowserLoginSession {
    let agent: AgentClient
    let account: String
    let console: StandardStream
    /// Seconds the service waits for the browser (it is also this command's limit).
    let timeout: UInt32

    private enum Outcome: Sendable {
        case finished(FlowOutcome)
        case interrupted
    }

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
        let stream = interrupts.interrupts
        let outcome = await withTaskGroup(of: Outcome.self) { group in
            group.addTask { .finished(await watch.outcome(of: reply.flow.rawValue)) }
            group.addTask {
                for await _ in stream { return .interrupted }
                return .finished(.failed(.interrupted))
            }
            let first = await group.next() ?? .interrupted
            group.cancelAll()
            return first
        }
        switch outcome {
        case .finished(.completed):
            console.line("Logged in to \(account).")
        case .finished(.failed(let error)):
            throw error
        case .interrupted:
            await agent.cancelDeviceFlow(reply.flow.rawValue)
            console.line("Login to \(account) cancelled.")
            throw .interrupted
        }
    }
}
