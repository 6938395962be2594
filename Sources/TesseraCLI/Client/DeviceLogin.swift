import QRCode

/// The device flow as a terminal user sees it: the URI and the code (and a QR code when drawing is
/// wanted and the console is a terminal), a spinner with the elapsed time, and Ctrl-C cancelling the
/// flow at the service. The service shows the same code in a desktop notification.
struct DeviceLogin {
    let agent: AgentClient
    let account: String
    /// stdout for `tessera login`; stderr for `tessera token --interactive`, whose stdout is the token.
    let console: StandardStream
    let drawQR: Bool
    /// Seconds to wait before giving up (the flow's own expiry usually comes first).
    let timeout: UInt32

    func run() async throws(CLIError) {
        let interrupts = InterruptWatcher()
        // Subscribe before starting: a flow approved within milliseconds must not be missed.
        let watch = try await agent.watchDeviceFlows()
        let flow = try await agent.startDeviceFlow(account: account)
        printInstructions(flow)

        let started = Clock.monotonicMilliseconds()
        let spinner = console.isTerminal ? Task { await spin(since: started) } : nil
        let wait = LoginWait(agent: agent, account: account, console: console)
        let outcome = await wait.outcome(of: flow.path, watch: watch, interrupts: interrupts, limit: timeout)
        spinner?.cancel()
        _ = await spinner?.value
        if console.isTerminal { console.put("\r\u{1B}[K") }

        try await wait.report(outcome, flow: flow.path)
    }

    private func printInstructions(_ flow: DeviceFlowStart) {
        var text = flow.userCode.isEmpty
            ? "To log in to \(account), open \(flow.verificationURI)\nand give your consent at the mytoken server.\n"
            : "To log in to \(account), open \(flow.verificationURI)\nand enter the code: \(flow.userCode)\n"
        if let complete = flow.verificationURIComplete, drawQR, console.isTerminal,
           let symbol = try? QRCode(complete, correction: .low) {
            text += "\nOr scan this QR code (it opens \(complete)):\n" + symbol.terminalRendering() + "\n"
        }
        if flow.expiresAt > 0 {
            text += "The code expires at \(Clock.localTimestamp(flow.expiresAt)).\n"
        }
        console.put(text)
    }

    private func spin(since started: Int64) async {
        let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        var frame = 0
        while !Task.isCancelled {
            let elapsed = (Clock.monotonicMilliseconds() - started) / 1000
            console.put("\r\(frames[frame % frames.count]) Waiting for approval… \(Clock.duration(elapsed)) (Ctrl-C cancels)\u{1B}[K")
            frame += 1
            try? await Task.sleep(for: .milliseconds(120))
        }
    }
}
