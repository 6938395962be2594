import Foundation
import Synchronization
import Testing
@testable import TesseraCore

@Suite struct TokenCacheTests {
    static let key = TokenKey(account: "a", scopes: ["openid"], audience: [])

    static func token(_ value: String, lifetime: TimeInterval = 3600, scopes: [String] = ["openid"]) -> AccessToken {
        AccessToken(value: value, expiresAt: Date().addingTimeInterval(lifetime), scopes: scopes, audience: [])
    }

    @Test func cachedTokenIsReusedWithoutRefresh() async throws {
        let cache = TokenCache()
        let calls = Counter()
        for _ in 0..<5 {
            let token = try await cache.token(for: Self.key, minValid: 60) {
                calls.increment()
                return Self.token("t1")
            }
            #expect(token.value == "t1")
        }
        #expect(calls.value == 1)
    }

    @Test func minValidAboveRemainingLifetimeRefreshes() async throws {
        let cache = TokenCache()
        _ = try await cache.token(for: Self.key, minValid: 60) { Self.token("short", lifetime: 120) }
        let again = try await cache.token(for: Self.key, minValid: 60) { Self.token("unused") }
        #expect(again.value == "short")
        let longer = try await cache.token(for: Self.key, minValid: 600) { Self.token("fresh", lifetime: 300) }
        // The provider's lifetime (300 s) is below min-valid (600 s): returned anyway, honestly dated.
        #expect(longer.value == "fresh")
        #expect(longer.expiresAt.timeIntervalSinceNow < 600)
        #expect(await cache.refreshCount == 2)
    }

    @Test func forceAlwaysRefreshes() async throws {
        let cache = TokenCache()
        _ = try await cache.token(for: Self.key, minValid: 60) { Self.token("one") }
        let forced = try await cache.token(for: Self.key, minValid: 60, force: true) { Self.token("two") }
        #expect(forced.value == "two")
        #expect(cache.cached(Self.key, minValid: 0)?.value == "two")
    }

    @Test func concurrentWaitersShareOneRefresh() async throws {
        let cache = TokenCache()
        let calls = Counter()
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await cache.token(for: Self.key, minValid: 60) {
                        calls.increment()
                        try await Task.sleep(for: .milliseconds(100))
                        return Self.token("shared")
                    }.value
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(values.count == 200 && Set(values) == ["shared"])
        #expect(calls.value == 1)
    }

    @Test func everyWaiterGetsTheRefreshError() async {
        struct Refusal: Error {}
        let cache = TokenCache()
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        _ = try await cache.token(for: Self.key, minValid: 60) {
                            try await Task.sleep(for: .milliseconds(50))
                            throw Refusal()
                        }
                        return false
                    } catch { return error is Refusal }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 20)
        #expect(await cache.refreshCount == 1)
        #expect(cache.cached(Self.key, minValid: 0) == nil)
    }

    @Test func cancellingOneWaiterLeavesTheRefreshForOthers() async throws {
        let cache = TokenCache()
        let gate = AsyncStream<Void>.makeStream()
        let refresh: @Sendable () async throws -> AccessToken = {
            for await _ in gate.stream { break }
            return Self.token("survived")
        }
        let cancelled = Task { try await cache.token(for: Self.key, minValid: 60, refresh: refresh) }
        while !(await cache.isRefreshing(Self.key)) { await Task.yield() }
        let patient = Task { try await cache.token(for: Self.key, minValid: 60, refresh: refresh) }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        gate.continuation.yield()
        #expect(try await patient.value.value == "survived")
        #expect(await cache.refreshCount == 1)
    }

    @Test func keysDifferingInScopesOrAudienceAreSeparate() async throws {
        let cache = TokenCache()
        let plain = TokenKey(account: "a", scopes: ["openid", "profile"], audience: [])
        let reordered = TokenKey(account: "a", scopes: ["profile", "openid", "openid"], audience: [])
        let scoped = TokenKey(account: "a", scopes: ["openid"], audience: [])
        let audience = TokenKey(account: "a", scopes: ["openid", "profile"], audience: ["https://rs"])
        #expect(plain == reordered)
        _ = try await cache.token(for: plain, minValid: 60) { Self.token("plain") }
        #expect(try await cache.token(for: reordered, minValid: 60) { Self.token("x") }.value == "plain")
        #expect(try await cache.token(for: scoped, minValid: 60) { Self.token("scoped") }.value == "scoped")
        #expect(try await cache.token(for: audience, minValid: 60) { Self.token("aud") }.value == "aud")
        #expect(await cache.refreshCount == 3)
    }

    @Test func slowRefreshDoesNotDelayAnotherAccountsCachedToken() async throws {
        let cache = TokenCache()
        let other = TokenKey(account: "b", scopes: [], audience: [])
        _ = try await cache.token(for: other, minValid: 60) { Self.token("b-token") }
        let slow = Task { try await cache.token(for: Self.key, minValid: 60) {
            try await Task.sleep(for: .seconds(2)); return Self.token("slow")
        } }
        while !(await cache.isRefreshing(Self.key)) { await Task.yield() }
        let start = ContinuousClock.now
        #expect(try await cache.token(for: other, minValid: 60) { Self.token("no") }.value == "b-token")
        #expect(ContinuousClock.now - start < .milliseconds(100))
        slow.cancel()
    }

    @Test func dropDuringRefreshDoesNotCacheTheResult() async throws {
        let cache = TokenCache()
        let gate = AsyncStream<Void>.makeStream()
        let pending = Task { try await cache.token(for: Self.key, minValid: 60) {
            for await _ in gate.stream { break }
            return Self.token("stale")
        } }
        while !(await cache.isRefreshing(Self.key)) { await Task.yield() }
        await cache.drop(account: "a")
        gate.continuation.yield()
        #expect(try await pending.value.value == "stale")
        #expect(cache.cached(Self.key, minValid: 0) == nil)
    }

    // MARK: The synchronous view and attachments (the D-Bus thread's cached answers)

    final class Attachment: Sendable {
        let madeFrom: String
        init(_ madeFrom: String) { self.madeFrom = madeFrom }
    }

    @Test func anAttachmentRidesWithItsTokenOnly() async throws {
        let cache = TokenCache()
        await cache.store(Self.token("one"), for: Self.key)
        let first = try #require(cache.entry(Self.key, minValid: 60))
        #expect(cache.attach(Attachment("one"), to: Self.key, generation: first.generation))
        #expect((cache.entry(Self.key, minValid: 60)?.attachment as? Attachment)?.madeFrom == "one")

        // A newer token replaces the old one and its attachment; an attachment made from the old
        // token (the race: built while the newer one was being stored) is refused.
        _ = try await cache.token(for: Self.key, minValid: 60, force: true) { Self.token("two") }
        let second = try #require(cache.entry(Self.key, minValid: 60))
        #expect(second.token.value == "two")
        #expect(second.attachment == nil)
        #expect(!cache.attach(Attachment("one"), to: Self.key, generation: first.generation))
        #expect(cache.entry(Self.key, minValid: 60)?.attachment == nil)
        #expect(cache.attach(Attachment("two"), to: Self.key, generation: second.generation))
    }

    @Test func dropAndRenameTakeTheAttachmentAlong() async throws {
        let cache = TokenCache()
        await cache.store(Self.token("one"), for: Self.key)
        let entry = try #require(cache.entry(Self.key, minValid: 60))
        #expect(cache.attach(Attachment("one"), to: Self.key, generation: entry.generation))

        await cache.rename(account: "a", to: "renamed")
        let renamed = TokenKey(account: "renamed", scopes: Self.key.scopes, audience: Self.key.audience)
        #expect(cache.entry(Self.key, minValid: 0) == nil)
        let moved = try #require(cache.entry(renamed, minValid: 60))
        #expect(moved.token.value == "one")
        // Made under the old name (a reply names its account): it stays behind.
        #expect(moved.attachment == nil)
        #expect(!cache.attach(Attachment("old name"), to: Self.key, generation: entry.generation))

        await cache.drop(account: "renamed")
        #expect(cache.entry(renamed, minValid: 0) == nil)
        #expect(!cache.attach(Attachment("one"), to: renamed, generation: moved.generation))
    }

    @Test func theSynchronousViewIsTheCacheItself() async throws {
        let cache = TokenCache()
        #expect(cache.entry(Self.key, minValid: 0) == nil)
        _ = try await cache.token(for: Self.key, minValid: 60) { Self.token("fresh", lifetime: 100) }
        #expect(cache.entry(Self.key, minValid: 60)?.token.value == "fresh")
        // min-valid is judged exactly as the actor's path judges it.
        #expect(cache.entry(Self.key, minValid: 200) == nil)
        await cache.drop(account: "a")
        #expect(cache.entry(Self.key, minValid: 0) == nil)
    }

    @Test func descriptionIsRedacted() {
        let token = Self.token("secret-value-123")
        #expect(!"\(token)".contains("secret-value-123"))
        #expect(!String(reflecting: token).contains("secret-value-123"))
    }
}

/// A thread-safe count that closures can capture.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
