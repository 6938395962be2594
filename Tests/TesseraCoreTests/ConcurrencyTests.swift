import Foundation
import OIDC
import Synchronization
import Testing
@testable import TesseraCore
import Secrets

/// Regression tests for the concurrency loose ends of issue 11.
@Suite struct ConcurrencyTests {
    /// An `AsyncLock` waiter used to stay queued after its task was cancelled, and ran its body
    /// once the holder let go. It must leave at once, with `Cancelled`, and never run.
    @Test func aCancelledLockWaiterLeavesTheQueueAtOnce() async throws {
        let lock = AsyncLock()
        let holder = Task {
            try await lock.run { () async throws(AgentError) in try? await Task.sleep(for: .seconds(2)) }
        }
        try await Task.sleep(for: .milliseconds(100))
        let ran = Mutex(false)
        let start = ContinuousClock.now
        let waiter = Task { () async -> AgentError? in
            do throws(AgentError) {
                try await lock.run { () async throws(AgentError) in ran.withLock { $0 = true } }
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        waiter.cancel()
        let error = await waiter.value
        #expect(ContinuousClock.now - start < .seconds(1), "the cancelled waiter waited for the holder")
        #expect(error?.name == .cancelled)
        #expect(!ran.withLock { $0 })
        try await holder.value
        // The lock still works for the next caller.
        #expect(try await lock.run { () async throws(AgentError) -> Int in 7 } == 7)
    }

    /// Per-account locks used to live forever (even after RemoveAccount): one stays only while it
    /// is held or waited for.
    @Test func accountLocksAreDroppedWhenNobodyUsesThem() async throws {
        let locks = AccountLocks()
        let inside = try await locks.run("a") { () async throws(AgentError) -> Int in locks.count }
        #expect(inside == 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for account in ["a", "b", "c", "a"] {
                group.addTask { try await locks.run(account) { () async throws(AgentError) in try? await Task.sleep(for: .milliseconds(20)) } }
            }
            try await group.waitForAll()
        }
        #expect(locks.count == 0)
    }

    /// `Login.finished(within:)` used to leave a task sleeping for the whole timeout (holding the
    /// login) after the login had ended. A login that ends early must be free to go.
    @Test func aLoginThatEndsEarlyLeavesNoTimerBehind() async throws {
        weak var weakLogin: Login?
        do {
            let authorization = DeviceAuthorization(deviceCode: Secret("device-code"), userCode: "ABCD-EFGH",
                                                    verificationURI: URL(string: "https://op.example/device")!,
                                                    expiresAt: Date().addingTimeInterval(600))
            let login = Login(number: 1, account: "a", authorization: authorization)
            weakLogin = login
            async let outcome = login.finished(within: .seconds(3600))
            try await Task.sleep(for: .milliseconds(50))
            login.finish(.completed)
            let result = await outcome
            guard case .success? = result else {
                Issue.record("the waiter did not see the login complete: \(String(describing: result))")
                return
            }
            #expect(login.waiterCount == 0)
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(weakLogin == nil, "something still holds the finished login")
    }

    /// A waiter whose task is cancelled returns nil at once and is not kept.
    @Test func aCancelledLoginWaiterIsNotKept() async throws {
        let authorization = DeviceAuthorization(deviceCode: Secret("device-code"), userCode: "ABCD-EFGH",
                                                verificationURI: URL(string: "https://op.example/device")!,
                                                expiresAt: Date().addingTimeInterval(600))
        let login = Login(number: 2, account: "a", authorization: authorization)
        let waiter = Task { await login.finished(within: .seconds(3600)) }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        let result = await waiter.value
        #expect(result == nil)
        #expect(login.waiterCount == 0)
        #expect(login.state == .pending)
    }
}
