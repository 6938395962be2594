/// The end of a login that the service runs as a flow object (`tessera login`, device or browser):
/// waits for the flow's own end, Ctrl-C or this command's time limit, whichever comes first, and
/// reports it. Shared so both logins cancel a flow they abandon and speak of the end alike.
struct LoginWait {
    let agent: AgentClient
    let account: String
    let console: StandardStream

    enum Outcome: Sendable {
        case finished(FlowOutcome)
        case interrupted
        case timedOut(seconds: UInt32)
    }

    /// Watches the flow at `path`; `limit` nil leaves the time limit to the service. `interrupts`
    /// must already exist when the flow starts, so an early Ctrl-C is not lost.
    func outcome(of path: String, watch: FlowWatch, interrupts: InterruptWatcher, limit: UInt32?) async -> Outcome {
        let stream = interrupts.interrupts
        return await withTaskGroup(of: Outcome.self) { group in
            group.addTask { .finished(await watch.outcome(of: path)) }
            group.addTask {
                for await _ in stream { return .interrupted }
                return .interrupted  // the stream never ends: only reached once cancelled, its answer unused
            }
            if let limit {
                group.addTask {
                    try? await Task.sleep(for: .seconds(Int(limit)))
                    return .timedOut(seconds: limit)
                }
            }
            let first = await group.next() ?? .interrupted
            group.cancelAll()
            return first
        }
    }

    /// Says how the login ended; a flow given up on (Ctrl-C, time limit) is cancelled at the
    /// service first, so it does not wait on in the background.
    func report(_ outcome: Outcome, flow path: String) async throws(CLIError) {
        switch outcome {
        case .finished(.completed):
            console.line("Logged in to \(account).")
        case .finished(.failed(let error)):
            throw error
        case .interrupted:
            await agent.cancelDeviceFlow(path)
            console.line("Login to \(account) cancelled.")
            throw .interrupted
        case .timedOut(let seconds):
            await agent.cancelDeviceFlow(path)
            throw .runtime("the login to \(account) was not approved within \(seconds) s; run `tessera login \(shellWord(account))` again")
        }
    }
}
