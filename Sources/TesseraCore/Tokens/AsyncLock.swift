import Synchronization

/// A first-come-first-served lock for async code: at most one holder runs `body` at a time.
///
/// The agent takes one per account around every use of its login secret, because two refreshes
/// with the same token at a rotating provider would make the second one `invalid_grant` (and
/// with reuse protection revoke the whole token family). Different accounts never wait on each
/// other. A waiter whose task is cancelled leaves the queue at once (`Cancelled`) instead of
/// waiting for its turn.
actor AsyncLock {
    private var held = false
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
    private var nextWaiter: UInt64 = 0

    func run<T: Sendable>(_ body: @Sendable () async throws(AgentError) -> T) async throws(AgentError) -> T {
        guard await acquire() else {
            throw .cancelled("the request was cancelled while it waited for another use of the account's login")
        }
        defer { release() }
        return try await body()
    }

    /// True once the lock is ours; false when the task was cancelled while waiting.
    private func acquire() async -> Bool {
        guard held else { held = true; return true }
        nextWaiter += 1
        let id = nextWaiter
        return await withTaskCancellationHandler {
            // Runs on this actor before it can be re-entered, so `abandon` (which hops here) always
            // finds the waiter registered, or the task already cancelled.
            await withCheckedContinuation { continuation in
                if Task.isCancelled { return continuation.resume(returning: false) }
                waiters.append((id, continuation))
            }
        } onCancel: {
            Task { await self.abandon(id) }
        }
    }

    private func abandon(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(returning: false)
    }

    private func release() {
        if waiters.isEmpty { held = false } else { waiters.removeFirst().continuation.resume(returning: true) }
    }
}

/// One `AsyncLock` per account, made on first use and dropped when nobody holds or waits for it,
/// so a removed (or merely quiet) account leaves nothing behind.
final class AccountLocks: Sendable {
    private struct Entry {
        let lock = AsyncLock()
        var users = 0
    }
    private let entries = Mutex<[String: Entry]>([:])

    func run<T: Sendable>(_ account: String, _ body: @Sendable () async throws(AgentError) -> T) async throws(AgentError) -> T {
        let lock = entries.withLock { entries in
            var entry = entries[account] ?? Entry()
            entry.users += 1
            entries[account] = entry
            return entry.lock
        }
        defer {
            entries.withLock { entries in
                guard var entry = entries[account] else { return }
                entry.users -= 1
                entries[account] = entry.users > 0 ? entry : nil
            }
        }
        return try await lock.run(body)
    }

    /// How many accounts have a lock (held or waited for).
    var count: Int { entries.withLock { $0.count } }
}
