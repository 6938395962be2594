import FoundationEssentials
import Synchronization

/// An access token held in memory only. Its `description` is redacted so it can never reach a
/// log line or an error message by accident.
public struct AccessToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String
    public let tokenType: String
    /// Wall-clock expiry; the D-Bus reply carries it as Unix seconds.
    public let expiresAt: Date
    public let scopes: [String]
    public let audience: [String]

    public init(value: String, tokenType: String = "Bearer", expiresAt: Date, scopes: [String], audience: [String]) {
        self.value = value
        self.tokenType = tokenType
        self.expiresAt = expiresAt
        self.scopes = scopes
        self.audience = audience
    }

    public var description: String { "AccessToken(<redacted>, expires \(expiresAt))" }
    public var debugDescription: String { description }
}

/// What a cached token answers: the account and the exact scope and audience sets asked for
/// (order and duplicates do not matter; different sets are different tokens).
///
/// The sets are kept sorted and the hash is computed once: a key is hashed and compared on every
/// cached GetToken, and hashing two `Set<String>`s each time showed in that path's profile.
public struct TokenKey: Hashable, Sendable, CustomStringConvertible {
    public let account: String
    /// Sorted, without duplicates.
    public let scopes: [String]
    /// Sorted, without duplicates.
    public let audience: [String]
    private let precomputedHash: Int

    public init(account: String, scopes: some Sequence<String>, audience: some Sequence<String>) {
        self.account = account
        self.scopes = Set(scopes).sorted()
        self.audience = Set(audience).sorted()
        var hasher = Hasher()
        hasher.combine(account)
        hasher.combine(self.scopes)
        hasher.combine(self.audience)
        precomputedHash = hasher.finalize()
    }

    public static func == (lhs: TokenKey, rhs: TokenKey) -> Bool {
        lhs.precomputedHash == rhs.precomputedHash && lhs.account == rhs.account && lhs.scopes == rhs.scopes
            && lhs.audience == rhs.audience
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(precomputedHash) }

    public var description: String {
        "\(account) [scopes: \(scopes.joined(separator: " ")); audience: \(audience.joined(separator: " "))]"
    }
}

/// A cached token as `TokenCache.entry` hands it out, with what a layer above derived from it.
public struct CachedToken: Sendable {
    public let token: AccessToken
    /// New with every token stored under any key: an attachment is only ever added to the token
    /// it was made from (`TokenCache.attach`).
    public let generation: UInt64
    /// What a layer above keeps with this token (the D-Bus service: its reply, marshalled once).
    /// It goes whenever the token goes or is replaced, renamed or dropped.
    public let attachment: (any Sendable & AnyObject)?
}

/// Access tokens in memory, with one refresh in flight per key however many callers wait.
///
/// A caller that finds a token valid for at least `minValid` gets it at once. Otherwise (or with
/// `force`) it joins the key's refresh in flight, or starts one. The refresh runs in its own task:
/// a waiter that is cancelled leaves with `CancellationError` while the refresh goes on for the
/// others, and every waiter gets the refresh's result (success or error). A freshly refreshed
/// token is returned even when its lifetime is shorter than `minValid` (the provider decides).
/// Being an actor with no awaits in its bookkeeping, a slow refresh for one key never delays a
/// cached answer for another.
///
/// The tokens themselves are behind a mutex rather than the actor, so a cached answer can be read
/// synchronously (`entry`, the D-Bus thread's immediate answer) from the very storage every
/// change goes through: there is no second copy to keep in step. Only refreshes in flight, their
/// waiters and the counters are the actor's.
public actor TokenCache {
    private struct Flight {
        let id: UInt64
        var waiters: [UInt64: CheckedContinuation<AccessToken, any Error>] = [:]
        /// False once the key was dropped while the refresh ran: its result is handed to the
        /// waiters but not cached (e.g. a Revoke happened meanwhile).
        var cacheResult = true
    }

    private struct Held {
        var entries: [TokenKey: CachedToken] = [:]
        var generation: UInt64 = 0

        mutating func put(_ token: AccessToken, for key: TokenKey) {
            generation += 1
            entries[key] = CachedToken(token: token, generation: generation, attachment: nil)
        }
    }

    private let held = Mutex(Held())
    private var flights: [TokenKey: Flight] = [:]
    private var nextID: UInt64 = 0
    private let now: @Sendable () -> Date

    /// The number of refreshes started, for tests and the status output.
    public private(set) var refreshCount = 0

    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// A token for `key` valid for at least `minValid` seconds if the cache has one (and not
    /// `force`), else the result of the key's (possibly shared) refresh.
    public func token(
        for key: TokenKey, minValid: TimeInterval, force: Bool = false,
        refresh: @escaping @Sendable () async throws -> AccessToken
    ) async throws -> AccessToken {
        if !force, let cached = cached(key, minValid: minValid) { return cached }
        let flightID = flights[key]?.id ?? startFlight(for: key, refresh: refresh)
        return try await wait(for: key, flightID: flightID)
    }

    /// The cached token if it stays valid for `minValid` seconds.
    public nonisolated func cached(_ key: TokenKey, minValid: TimeInterval) -> AccessToken? {
        entry(key, minValid: minValid)?.token
    }

    /// The cached token with its generation and attachment if it stays valid for `minValid`
    /// seconds. Synchronous: callable from any thread, e.g. where a D-Bus call arrives.
    public nonisolated func entry(_ key: TokenKey, minValid: TimeInterval) -> CachedToken? {
        guard let entry = held.withLock({ $0.entries[key] }) else { return nil }
        return entry.token.expiresAt.timeIntervalSince(now()) >= minValid ? entry : nil
    }

    /// Keeps `attachment` with the key's token if that is still the token of `generation` (from
    /// `entry`); false when the token was replaced or dropped meanwhile, so nothing made from an
    /// older token can ever ride along with a newer one.
    @discardableResult
    public nonisolated func attach(_ attachment: any Sendable & AnyObject, to key: TokenKey, generation: UInt64) -> Bool {
        held.withLock { held in
            guard let entry = held.entries[key], entry.generation == generation else { return false }
            held.entries[key] = CachedToken(token: entry.token, generation: generation, attachment: attachment)
            return true
        }
    }

    /// Puts a token in the cache, e.g. the access token that came with a login.
    public func store(_ token: AccessToken, for key: TokenKey) {
        held.withLock { $0.put(token, for: key) }
    }

    /// Forgets every token of the account (Revoke, RemoveAccount, LoginRequired, a new login).
    public func drop(account: String) {
        held.withLock { held in held.entries = held.entries.filter { $0.key.account != account } }
        for key in flights.keys where key.account == account { flights[key]?.cacheResult = false }
    }

    /// Moves every token of the account to its new name (RenameAccount); refreshes in flight
    /// finish uncached, since they were started under the old name. Attachments stay behind: they
    /// were made under the old name (a D-Bus reply names its account).
    public func rename(account: String, to newName: String) {
        held.withLock { held in
            for (key, entry) in held.entries where key.account == account {
                held.entries[key] = nil
                held.put(entry.token, for: TokenKey(account: newName, scopes: key.scopes, audience: key.audience))
            }
        }
        for key in flights.keys where key.account == account { flights[key]?.cacheResult = false }
    }

    /// When each token held for the account expires (for ListAccounts; the tokens stay here).
    public nonisolated func expiries(account: String) -> [Date] {
        held.withLock { held in held.entries.filter { $0.key.account == account }.map(\.value.token.expiresAt).sorted() }
    }

    /// Whether a refresh for the key is running.
    public func isRefreshing(_ key: TokenKey) -> Bool { flights[key] != nil }

    private func startFlight(for key: TokenKey, refresh: @escaping @Sendable () async throws -> AccessToken) -> UInt64 {
        nextID += 1
        let id = nextID
        flights[key] = Flight(id: id)
        refreshCount += 1
        // Unstructured on purpose: the refresh belongs to no single caller.
        Task {
            let result: Result<AccessToken, any Error>
            do { result = .success(try await refresh()) } catch { result = .failure(error) }
            self.finish(key: key, flightID: id, result: result)
        }
        return id
    }

    private func finish(key: TokenKey, flightID: UInt64, result: Result<AccessToken, any Error>) {
        guard let flight = flights[key], flight.id == flightID else { return }
        flights[key] = nil
        if flight.cacheResult, case .success(let token) = result { held.withLock { $0.put(token, for: key) } }
        for waiter in flight.waiters.values { waiter.resume(with: result) }
    }

    private func wait(for key: TokenKey, flightID: UInt64) async throws -> AccessToken {
        nextID += 1
        let waiterID = nextID
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard !Task.isCancelled else { return continuation.resume(throwing: CancellationError()) }
                guard flights[key]?.id == flightID else {
                    // Cannot happen: the flight finishes on this actor, after we registered.
                    return continuation.resume(throwing: CancellationError())
                }
                flights[key]?.waiters[waiterID] = continuation
            }
        } onCancel: {
            Task { await self.cancelWaiter(key: key, flightID: flightID, waiterID: waiterID) }
        }
    }

    private func cancelWaiter(key: TokenKey, flightID: UInt64, waiterID: UInt64) {
        guard flights[key]?.id == flightID,
              let waiter = flights[key]?.waiters.removeValue(forKey: waiterID) else { return }
        waiter.resume(throwing: CancellationError())
    }
}
