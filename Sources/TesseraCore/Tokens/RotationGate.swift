import Synchronization

/// Refresh-token (and mytoken) uses in flight: from the request that may make the provider
/// rotate to the moment the answer's new token is in the keyring. A provider that rotates has
/// already killed the token we hold, so a process that exits inside that window loses the login.
/// A clean stop (SIGTERM, `--replace`) therefore closes the gate — no new use starts — and waits,
/// bounded, for the uses in flight (issue 12, item 6). SIGKILL cannot be waited for; the window is
/// kept short instead (the new token is stored before anything else) and logged per refresh.
final class RotationGate: Sendable {
    private struct State {
        var inFlight = 0
        var closed = false
    }

    private let state = Mutex(State())

    /// False once the gate is closed: the caller must not start a use.
    func enter() -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            state.inFlight += 1
            return true
        }
    }

    func leave() { state.withLock { $0.inFlight -= 1 } }

    var inFlight: Int { state.withLock { $0.inFlight } }

    /// Closes the gate and waits until no use is in flight or `timeout` has passed; returns how
    /// many were still in flight (0 when all finished). Polls: a stop happens once per process.
    func closeAndDrain(timeout: Duration) async -> Int {
        state.withLock { $0.closed = true }
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = inFlight
            if left == 0 || ContinuousClock.now >= deadline { return left }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
