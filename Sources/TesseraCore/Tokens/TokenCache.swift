import FoundationEssentials

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
public struct TokenKey: Hashable, Sendable, CustomStringConvertible {
    public let account: String
    public let scopes: Set<String>
    public let audience: Set<String>

    public init(account: String, scopes: some Sequence<String>, audience: some Sequence<String>) {
        self.account = account
        self.scopes = Set(scopes)
        self.audience = Set(audience)
    }

    public var description: String {
        "\(account) [scopes: \(scopes.sorted().joined(separator: " ")); audience: \(audience.sorted().joined(separator: " "))]"
    }
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
public actor TokenCache {
    private struct Flight {
        let id: UInt64
        var waiters: [UInt64: CheckedContinuation<AccessToken, any Error>] = [:]
        /// False once the key was dropped while the refresh ran: its result is handed to the
        /// waiters but not cached (e.g. a Revoke happened meanwhile).
        var cacheResult = true
    }

    private var entries: [TokenKey: AccessToken] = [:]
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
    public func cached(_ key: TokenKey, minValid: TimeInterval) -> AccessToken? {
        guard let entry = entries[key] else { return nil }
        return entry.expiresAt.timeIntervalSince(now()) >= minValid ? entry : nil
    }

    /// Puts a token in the cache, e.g. the access token that came with a login.
    public func store(_ token: AccessToken, for key: TokenKey) {
        entries[key] = token
    }

    /// Forgets every token of the account (Revoke, RemoveAccount, LoginRequired, a new login).
    public func drop(account: String) {
        entries = entries.filter { $0.key.account != account }
        for key in flights.keys where key.account == account { flights[key]?.cacheResult = false }
    }

    /// Moves every token of the account to its new name (RenameAccount); refreshes in flight
    /// finish uncached, since they were started under the old name.
    public func rename(account: String, to newName: String) {
        for (key, token) in entries where key.account == account {
            entries[key] = nil
            entries[TokenKey(account: newName, scopes: key.scopes, audience: key.audience)] = token
        }
        for key in flights.keys where key.account == account { flights[key]?.cacheResult = false }
    }

    /// When each token held for the account expires (for ListAccounts; the tokens stay here).
    public func expiries(account: String) -> [Date] {
        entries.filter { $0.key.account == account }.map(\.value.expiresAt).sorted()
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
        if flight.cacheResult, case .success(let token) = result { entries[key] = token }
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
