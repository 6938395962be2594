import Testing

/// One suite at a time owns the desktop session's shared singletons: the bus name
/// `io.tessera.Agent1` (a second tesserad cannot claim it, and a harness waiting for "the name has
/// an owner" would talk to another suite's service), the notification server (`dunstctl action 0`
/// clicks the oldest notification, whoever sent it) and the session's account file. swift-testing
/// runs suites in parallel, so every suite that starts tesserad or expects none takes this trait:
/// `@Suite(.serialized, .exclusiveSession)`.
public struct ExclusiveSessionTrait: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        try await SessionLock.shared.run(function)
    }
}

extension Trait where Self == ExclusiveSessionTrait {
    /// Runs the suite while no other `.exclusiveSession` suite runs.
    public static var exclusiveSession: Self { ExclusiveSessionTrait() }
}

/// First come, first served; held for a whole suite.
actor SessionLock {
    static let shared = SessionLock()
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run(_ body: @Sendable () async throws -> Void) async throws {
        if held { await withCheckedContinuation { waiters.append($0) } } else { held = true }
        defer { if waiters.isEmpty { held = false } else { waiters.removeFirst().resume() } }
        try await body()
    }
}
