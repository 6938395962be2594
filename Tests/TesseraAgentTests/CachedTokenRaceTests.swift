import DBus
import Foundation
import Synchronization
import TesseraAPI
import TestSupport
import Testing

/// Cached GetToken is answered on the bus thread from the token cache (no task, a reply marshalled
/// once per token). These races run against the real tesserad, bus and provider: callers on
/// connections of their own call GetToken back to back while another connection changes what they
/// ask for. Whatever the interleaving, a call sent after the change's reply (or its AccountsChanged)
/// never gets the token from before it.
@Suite(.serialized, .exclusiveSession) struct CachedTokenRaceTests {
    /// One GetToken outcome, with the change's phase when it was sent and when it came back.
    struct Outcome: Sendable {
        let sentIn: Int
        let receivedIn: Int
        let account: String
        let reply: TokenReply?
        let errorName: String?
    }

    /// Phase 0: before the change; 1: change in progress; 2: its reply arrived; 3, 4…: later changes.
    final class Race: Sendable {
        let phase = Atomic(0)
        let stopped = Atomic(false)
        let outcomes = Mutex<[Outcome]>([])
        func advance() { phase.add(1, ordering: .sequentiallyConsistent) }
        var all: [Outcome] { outcomes.withLock { $0 } }
    }

    static func getToken(_ client: Connection, _ account: String, _ options: [String: DBusValue] = [:]) async
        -> (TokenReply?, String?)
    {
        do {
            let body = try await client.call(destination: AgentContract.busName, path: AgentContract.objectPath,
                                             interface: AgentContract.interfaceName, member: AgentContract.member(.getToken),
                                             arguments: [.string(account), .dictionary(options)], timeout: .seconds(30))
            return (try TokenReply(body: body), nil)
        } catch .remote(let name, _) {
            return (nil, name.rawValue.components(separatedBy: ".").last)
        } catch {
            return (nil, "\(error)")
        }
    }

    /// `count` callers, each on its own connection, calling GetToken for `account()` until stopped.
    static func startCallers(_ count: Int, _ race: Race, account: @escaping @Sendable () -> String,
                             options: [String: DBusValue] = [:]) async throws -> [Task<Void, Never>] {
        var callers: [Task<Void, Never>] = []
        for _ in 0..<count {
            let client = try await Connection.session()
            callers.append(Task {
                while !race.stopped.load(ordering: .sequentiallyConsistent) {
                    let sentIn = race.phase.load(ordering: .sequentiallyConsistent)
                    let name = account()
                    let (reply, error) = await getToken(client, name, options)
                    let outcome = Outcome(sentIn: sentIn, receivedIn: race.phase.load(ordering: .sequentiallyConsistent),
                                          account: name, reply: reply, errorName: error)
                    race.outcomes.withLock { $0.append(outcome) }
                }
                await client.close()
            })
        }
        return callers
    }

    static func stop(_ race: Race, _ callers: [Task<Void, Never>]) async {
        race.stopped.store(true, ordering: .sequentiallyConsistent)
        for caller in callers { await caller.value }
    }

    /// Lets the callers make calls in the current phase (at least `calls` more of them).
    static func letRun(_ race: Race, calls: Int = 150) async throws {
        let target = race.all.count + calls
        let deadline = ContinuousClock.now + .seconds(20)
        while race.all.count < target, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// How many GetToken calls tesserad answered on the bus thread (its debug log says so).
    static func immediateAnswers(_ world: AgentWorld) -> Int {
        world.agent.log().components(separatedBy: "(cached, answered on the bus thread)").count - 1
    }

    static func ready(settings: String = "") async throws -> AgentWorld {
        let world = try await AgentWorld()
        try await world.addAccount(extra: settings)
        try await world.login()
        _ = try await world.token()
        return world
    }

    // MARK: Revoke, RemoveAccount

    /// Eight callers hammer GetToken for the account while `method` (Revoke, RemoveAccount) runs
    /// on it; every outcome, with the phase it was sent in (0 before, 2 after the call's reply).
    static func hammer(during method: String) async throws -> (AgentWorld, [Outcome]) {
        let world = try await Self.ready()
        let race = Race()
        let account = world.account
        let callers = try await Self.startCallers(8, race, account: { account })
        try await Self.letRun(race)
        race.advance()
        try await world.check(method, world.account, "{}")
        race.advance()
        try await Self.letRun(race)
        await Self.stop(race, callers)
        return (world, race.all)
    }

    @Test func noTokenAfterRevoke() async throws {
        let (world, outcomes) = try await Self.hammer(during: "Revoke")
        #expect(outcomes.filter { $0.sentIn == 0 }.allSatisfy { $0.reply != nil })
        let after = outcomes.filter { $0.sentIn >= 2 }
        #expect(after.count >= 100)
        let leaked = after.filter { $0.reply != nil }
        #expect(leaked.count == 0, "\(leaked.count) of \(after.count) calls sent after Revoke got a token")
        #expect(after.allSatisfy { $0.errorName == "LoginRequired" }, "\(Set(after.compactMap(\.errorName)))")
        #expect(Self.immediateAnswers(world) >= 100, "the cached calls did not take the bus-thread path")
    }

    @Test func noTokenAfterRemoveAccount() async throws {
        let (world, outcomes) = try await Self.hammer(during: "RemoveAccount")
        let after = outcomes.filter { $0.sentIn >= 2 }
        #expect(after.count >= 100)
        #expect(after.allSatisfy { $0.reply == nil && $0.errorName == "NoSuchAccount" },
                "\(after.filter { $0.reply != nil }.count) of \(after.count) calls sent after RemoveAccount got a token")
        #expect(Self.immediateAnswers(world) >= 100)
    }

    // MARK: RenameAccount

    /// After the rename the old name is unknown, and the new name's replies name the new account:
    /// a reply marshalled under the old name never rides along with the moved token.
    @Test func renameMovesTheTokenButNotItsReply() async throws {
        let world = try await Self.ready()
        let race = Race()
        let oldName = world.account, newName = world.account + "-renamed"
        let useNew = Atomic(false)
        let callers = try await Self.startCallers(4, race, account: { oldName })
        let newCallers = try await Self.startCallers(4, race, account: { useNew.load(ordering: .sequentiallyConsistent) ? newName : oldName })
        try await Self.letRun(race)
        let before = try #require(race.all.compactMap(\.reply).last)
        race.advance()
        try await world.check("RenameAccount", oldName, newName)
        race.advance()
        useNew.store(true, ordering: .sequentiallyConsistent)
        try await Self.letRun(race, calls: 300)
        await Self.stop(race, callers + newCallers)

        let after = race.all.filter { $0.sentIn >= 2 }
        let old = after.filter { $0.account == oldName }, new = after.filter { $0.account == newName }
        #expect(old.count >= 50 && new.count >= 50)
        #expect(old.allSatisfy { $0.reply == nil && $0.errorName == "NoSuchAccount" },
                "\(old.filter { $0.reply != nil }.count) calls for the old name got a token after the rename")
        #expect(new.allSatisfy { $0.reply?.account == newName },
                "replies for the new name said \(Set(new.map { $0.reply?.account ?? $0.errorName ?? "?" }))")
        // The token moved with its account (no refresh was needed).
        #expect(new.allSatisfy { $0.reply?.token == before.token })
        #expect(Self.immediateAnswers(world) >= 200)
    }

    // MARK: SetAccount

    /// New scopes are a new cache key: after SetAccount, a call with no options never gets the
    /// token issued for the old scopes. Checked both ways a client learns of the change: the
    /// SetAccount reply, and AccountsChanged.
    @Test func noOldTokenAfterAScopeChange() async throws {
        let world = try await Self.ready(settings: ", 'scopes': <['openid', 'offline_access', 'profile']>")
        let race = Race()
        let account = world.account
        let observer = try await Connection.session()
        let changes = try await observer.signals(matching: MatchRule(interface: AgentContract.interfaceName,
                                                                     member: AgentContract.member(.accountsChanged)))
        let callers = try await Self.startCallers(8, race, account: { account })
        try await Self.letRun(race)
        let oldTokens = Set(race.all.compactMap { $0.reply?.token })
        // The observer asks as soon as the signal arrives, which may be before SetAccount's reply.
        let onSignal = Task { () -> TokenReply? in
            for await _ in changes { return await Self.getToken(observer, account).0 }
            return nil
        }
        race.advance()
        // Narrower than the login's grant, so the provider refreshes with them.
        try await world.check("SetAccount", account, "{'scopes': <['openid', 'offline_access']>}")
        race.advance()
        let answeredBefore = Self.immediateAnswers(world)
        try await Self.letRun(race)
        await Self.stop(race, callers)
        let signalled = await onSignal.value

        let after = race.all.filter { $0.sentIn >= 2 }
        #expect(after.count >= 100)
        #expect(after.allSatisfy { $0.reply.map { !oldTokens.contains($0.token) } ?? false },
                "\(after.filter { $0.reply.map { oldTokens.contains($0.token) } ?? false }.count) calls got a token of the old scopes")
        #expect(after.allSatisfy { Set($0.reply?.scopes ?? []) == ["openid", "offline_access"] })
        let fresh = try #require(signalled, "no AccountsChanged, or no token after it")
        #expect(!oldTokens.contains(fresh.token), "the call made on AccountsChanged got the old scopes' token")
        // The new scopes' token is answered on the bus thread too (its key follows the account).
        #expect(Self.immediateAnswers(world) - answeredBefore >= 50)
        await observer.close()
    }

    // MARK: Forced refresh with a rotating refresh token

    /// Forced refreshes (each rotating the refresh token at the provider) while cached calls go
    /// on: a call sent after a forced refresh's reply, with no other refresh started since, gets
    /// exactly that token — never the one it replaced.
    @Test func forcedRefreshesReplaceTheCachedAnswer() async throws {
        let world = try await Self.ready()
        let race = Race()
        let account = world.account
        let rotatedFrom = try await world.storedRefreshToken()
        let callers = try await Self.startCallers(8, race, account: { account })
        try await Self.letRun(race)
        let forcer = try await Connection.session()
        var forced: [String] = []
        for _ in 0..<5 {
            race.advance()  // odd: a forced refresh in flight
            let (reply, error) = await Self.getToken(forcer, account, ["force": .bool(true)])
            let token = try #require(reply?.token, "forced refresh failed: \(error ?? "?")")
            forced.append(token)
            race.advance()  // even ≥ 2: forced[phase / 2 - 1] is the newest token
            try await Self.letRun(race, calls: 60)
        }
        await Self.stop(race, callers)
        await forcer.close()

        #expect(Set(forced).count == forced.count, "a forced refresh returned an earlier token")
        let settled = race.all.filter { $0.sentIn >= 2 && $0.sentIn % 2 == 0 && $0.sentIn == $0.receivedIn }
        #expect(settled.count >= 200)
        let stale = settled.filter { $0.reply?.token != forced[$0.sentIn / 2 - 1] }
        #expect(stale.count == 0, "\(stale.count) of \(settled.count) calls after a forced refresh got another token")
        #expect(try await world.storedRefreshToken() != rotatedFrom, "the refresh token did not rotate")
        #expect(Self.immediateAnswers(world) >= 200)
    }

    // MARK: Bad input

    /// With a token cached, options the full handler refuses are never answered on the bus thread:
    /// each gets the full handler's `InvalidArgument`, as without a cache. Valid variations of the
    /// same request (scopes in another order, repeated) are answered from the cache.
    @Test func badOptionsGetTheFullHandlersErrors() async throws {
        let world = try await Self.ready()
        let client = try await Connection.session()
        let (cached, _) = await Self.getToken(client, world.account)
        let token = try #require(cached?.token)
        let bad: [[String: DBusValue]] = [
            ["scopes": .string("openid")],
            ["scopes": .array(of: "s", [.string("two words")])],
            ["scopes": .array(of: "s", [.string("")])],
            ["min-valid": .int32(5)],
            ["timeout": .uint32(0)],
            ["application": .string("bad\u{1}name")],
            ["force": .string("yes")],
            ["nonsense": .bool(true)],
        ]
        let before = Self.immediateAnswers(world)
        for options in bad {
            let (reply, error) = await Self.getToken(client, world.account, options)
            #expect(reply == nil && error == "InvalidArgument", "\(options.keys.sorted()): \(error ?? "a token")")
        }
        #expect(Self.immediateAnswers(world) == before, "a refused request was answered from the cache")
        // A repeated key: the full handler decides (the last one counts there), not the cache.
        let repeated = DBusValue.dictionary(keySignature: "s", valueSignature: "v", [
            .init(key: .string("min-valid"), value: .variant(.uint32(10))),
            .init(key: .string("min-valid"), value: .variant(.uint32(20))),
        ])
        let body = try await client.call(destination: AgentContract.busName, path: AgentContract.objectPath,
                                         interface: AgentContract.interfaceName, member: AgentContract.member(.getToken),
                                         arguments: [.string(world.account), repeated])
        #expect(try TokenReply(body: body).token == token)
        #expect(Self.immediateAnswers(world) == before)
        // The account's own scopes, reordered and repeated: the same key, answered on the bus thread.
        let (same, _) = await Self.getToken(client, world.account,
                                            ["scopes": .array(of: "s", [.string("offline_access"), .string("openid"), .string("openid")])])
        #expect(same?.token == token)
        #expect(Self.immediateAnswers(world) == before + 1)
        await client.close()
    }

    // MARK: Consent

    /// Only a caller whose application the account's policy synchronously allows is answered on
    /// the bus thread: after SetPolicy deny, cached calls go to the full handler (and its consent
    /// gate); after allow again, they are answered on the bus thread again.
    @Test func onlyAllowedApplicationsAreAnsweredOnTheBusThread() async throws {
        let world = try await Self.ready()
        let client = try await Connection.session()
        let before = Self.immediateAnswers(world)
        for _ in 0..<20 { _ = await Self.getToken(client, world.account) }
        let allowed = Self.immediateAnswers(world)
        // The connection's first call too: the caller check has just asked the bus for its
        // credentials, and the caller is identified from them on the spot.
        #expect(allowed == before + 20)
        try await world.check("SetPolicy", world.account, "deny")
        for _ in 0..<20 { _ = await Self.getToken(client, world.account) }
        #expect(Self.immediateAnswers(world) == allowed, "a denied application was answered from the cache on the bus thread")
        try await world.check("SetPolicy", world.account, "allow")
        for _ in 0..<20 { _ = await Self.getToken(client, world.account) }
        #expect(Self.immediateAnswers(world) >= allowed + 19)
        await client.close()
    }

    // MARK: Many clients, few descriptors

    /// 48 callers on connections of their own, forced refreshes among them, and tesserad limited to
    /// 64 open descriptors: every cached call is answered, none fails, tesserad keeps running.
    @Test func manyCallersUnderADescriptorLimit() async throws {
        let world = try await Self.ready()
        let limit = try await Command.run("prlimit", ["--pid", "\(world.agent.process.pid)", "--nofile=64:64"])
        try #require(limit.succeeded, "\(limit.stderr)")
        let race = Race()
        let account = world.account
        let callers = try await Self.startCallers(48, race, account: { account })
        let forcer = try await Connection.session()
        for _ in 0..<3 {
            try await Self.letRun(race, calls: 500)
            let (reply, error) = await Self.getToken(forcer, account, ["force": .bool(true)])
            // A refresh may fail for want of descriptors; tesserad must say so, not fall over.
            #expect(reply != nil || error != nil)
        }
        try await Self.letRun(race, calls: 500)
        await Self.stop(race, callers)
        await forcer.close()

        let outcomes = race.all
        #expect(outcomes.count >= 2000)
        let failed = outcomes.filter { $0.reply == nil }
        #expect(failed.count == 0, "\(failed.count) calls failed: \(Set(failed.compactMap(\.errorName)))")
        #expect(world.agent.process.isRunning)
        #expect(try await world.call("ListAccounts").succeeded)
        #expect(Self.immediateAnswers(world) >= 1500)
    }
}
