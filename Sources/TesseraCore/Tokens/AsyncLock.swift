/// A first-come-first-served lock for async code: at most one holder runs `body` at a time.
///
/// The agent takes one per account around every use of its refresh token, because two refreshes
/// with the same token at a rotating provider would make the second one `invalid_grant` (and
/// with reuse protection revoke the whole token family). Different accounts never wait on each
/// other.
actor AsyncLock {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable, Failure: Error>(_ body: @Sendable () async throws(Failure) -> T) async throws(Failure) -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        guard held else { held = true; return }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty { held = false } else { waiters.removeFirst().resume() }
    }
}
