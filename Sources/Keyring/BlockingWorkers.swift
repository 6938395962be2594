@preconcurrency import Dispatch
import Posix
import Synchronization

/// A few dedicated threads for libsecret's blocking `_sync` calls. They must not run on the
/// Swift cooperative pool (a prompt can block for minutes and would starve it) nor on a D-Bus
/// loop thread. Several threads, so one call stuck behind a prompt does not hold up the rest.
final class BlockingWorkers: Sendable {
    private final class Queue: Sendable {
        struct State {
            var jobs: [@Sendable () -> Void] = []
            var head = 0
            var stopping = false
        }
        let state = Mutex(State())
        let pending = DispatchSemaphore(value: 0)

        func push(_ job: @escaping @Sendable () -> Void) {
            state.withLock { $0.jobs.append(job) }
            pending.signal()
        }

        /// Blocks until a job is queued; nil once stopping and drained.
        func pop() -> (@Sendable () -> Void)? {
            pending.wait()
            return state.withLock { state in
                guard state.head < state.jobs.count else { return nil }
                let job = state.jobs[state.head]
                state.head += 1
                if state.head > 64 && state.head * 2 > state.jobs.count {
                    state.jobs.removeFirst(state.head)
                    state.head = 0
                }
                return job
            }
        }

        func stop(threads: Int) {
            state.withLock { $0.stopping = true }
            for _ in 0..<threads { pending.signal() }
        }
    }

    private let queue = Queue()
    private let threadCount: Int

    init(threads: Int, name: String) {
        threadCount = threads
        for index in 0..<threads {
            Posix.startThread(named: "\(name)-\(index)") { [queue] in
                while let job = queue.pop() { job() }
            }
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) { queue.push(job) }

    deinit { queue.stop(threads: threadCount) }

    /// Runs `work` on a worker and waits at most `timeout`. On timeout or task cancellation the
    /// caller gets its error at once; a call that has not started yet is skipped, one that is
    /// running finishes on its worker and its result is discarded.
    ///
    /// The running libsecret call is deliberately not cancelled: cancelling makes libsecret send
    /// `Prompt.Dismiss`, and gnome-keyring 42 was seen to crash on that while gcr's prompter was
    /// showing (every secret of the session gone until it restarts). A caller that left earlier
    /// is harmless to it. The unanswered prompt keeps one worker busy until someone answers it.
    func run<Value: Sendable>(
        timeout: Duration,
        _ work: @escaping @Sendable () throws(KeyringError) -> Value
    ) async throws(KeyringError) -> Value {
        let outcome = Outcome<Value>()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, KeyringError>, Never>) in
                outcome.install(continuation)
                submit {
                    guard !outcome.isDelivered else { return }
                    let result: Result<Value, KeyringError>
                    do throws(KeyringError) { result = .success(try work()) } catch { result = .failure(error) }
                    outcome.resolve(result)
                }
                // Cancelled when the call ends first, so no pending wake-up is left behind.
                let timer = Deadlines.shared.schedule(after: timeout) {
                    outcome.resolve(.failure(.timeout(timeout)))
                }
                outcome.onDelivered { Deadlines.shared.cancel(timer) }
            }
        } onCancel: {
            outcome.resolve(.failure(.cancelled))
        }
        return try result.get()
    }
}

/// One-shot deadlines for the keyring calls, kept by one thread of their own that sleeps until the
/// soonest (indefinitely when there is none) — not libdispatch timers, whose global queues start
/// dispatch's worker pool and its 1 Hz monitor, nor `Task.sleep`, whose timer outlives a cancelled
/// sleep and would wake an idle service.
final class Deadlines: Sendable {
    static let shared = Deadlines(name: "keyring-deadlines")

    struct Token: Sendable, Hashable { fileprivate let id: UInt64 }

    private struct Entry {
        let deadline: ContinuousClock.Instant
        let action: @Sendable () -> Void
    }

    private let entries = Mutex<(next: UInt64, pending: [UInt64: Entry])>((0, [:]))
    /// Signalled whenever the soonest deadline may have changed.
    private let changed = DispatchSemaphore(value: 0)

    private init(name: String) {
        Posix.startThread(named: name) { [self] in
            while true { waitAndFire() }
        }
    }

    func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> Token {
        let entry = Entry(deadline: .now + delay, action: action)
        let id = entries.withLock { entries in
            entries.next += 1
            entries.pending[entries.next] = entry
            return entries.next
        }
        changed.signal()
        return Token(id: id)
    }

    /// Forgets the deadline; the thread recomputes its sleep now rather than waking for it later.
    func cancel(_ token: Token) {
        if entries.withLock({ $0.pending.removeValue(forKey: token.id) }) != nil { changed.signal() }
    }

    private func waitAndFire() {
        let soonest = entries.withLock { $0.pending.values.map(\.deadline).min() }
        if let soonest {
            let remaining = ContinuousClock.now.duration(to: soonest)
            if remaining > .zero {
                _ = changed.wait(timeout: .now() + remaining.timeInterval)
            }
        } else {
            changed.wait()
        }
        let now = ContinuousClock.now
        let due = entries.withLock { entries -> [Entry] in
            let keys = entries.pending.filter { $0.value.deadline <= now }.map(\.key)
            return keys.compactMap { entries.pending.removeValue(forKey: $0) }
        }
        for entry in due { entry.action() }
    }
}

/// A result delivered once, by whichever of worker, timer or cancellation comes first.
private final class Outcome<Value: Sendable>: Sendable {
    private enum State {
        case waiting
        case installed(CheckedContinuation<Result<Value, KeyringError>, Never>)
        case resolvedEarly(Result<Value, KeyringError>)
        case done
    }
    private let state = Mutex(State.waiting)
    private let whenDelivered = Mutex<(@Sendable () -> Void)?>(nil)

    /// Runs `action` once the caller has its answer, at once if it already has.
    func onDelivered(_ action: @escaping @Sendable () -> Void) {
        whenDelivered.withLock { $0 = action }
        if isDelivered { runWhenDelivered() }
    }

    private func runWhenDelivered() {
        whenDelivered.withLock { action in
            defer { action = nil }
            return action
        }?()
    }

    func install(_ continuation: CheckedContinuation<Result<Value, KeyringError>, Never>) {
        let early: Result<Value, KeyringError>? = state.withLock { state in
            if case .resolvedEarly(let result) = state {
                state = .done
                return result
            }
            state = .installed(continuation)
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    /// True once the caller has its answer (from any path).
    var isDelivered: Bool {
        state.withLock { state in
            if case .done = state { return true }
            if case .resolvedEarly = state { return true }
            return false
        }
    }

    /// True when this call delivered the result, false when another path already had.
    @discardableResult
    func resolve(_ result: Result<Value, KeyringError>) -> Bool {
        let continuation: CheckedContinuation<Result<Value, KeyringError>, Never>?? = state.withLock { state in
            switch state {
            case .waiting:
                state = .resolvedEarly(result)
                return .some(nil)
            case .installed(let continuation):
                state = .done
                return .some(continuation)
            case .resolvedEarly, .done:
                return nil
            }
        }
        guard let continuation else { return false }
        continuation?.resume(returning: result)
        runWhenDelivered()
        return true
    }
}

extension Duration {
    var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
