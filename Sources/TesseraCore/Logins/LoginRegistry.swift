import Synchronization

/// Every login in progress: their numbers (one numbering for every kind, the flow objects' D-Bus
/// paths), the pending login of each account, and the lock that makes "the pending login, or a
/// new one" one step, so two calls at once never start two logins.
final class LoginRegistry: Sendable {
    /// Browser logins are kept apart from the account's own kind of login (device flow, mytoken
    /// consent), so starting one never hands back the other.
    enum Family: String, Sendable {
        case own
        case browser
    }

    private struct Key: Hashable {
        let account: String
        let family: Family
    }

    private struct State {
        var count = 0
        var pending: [Key: Login] = [:]
    }

    private let state = Mutex(State())
    private let locks = AccountLocks()

    /// The account's pending login of that family, if it is still pending.
    func pending(_ account: String, _ family: Family) -> Login? {
        state.withLock { $0.pending[Key(account: account, family: family)] }.flatMap { $0.state == .pending ? $0 : nil }
    }

    /// The account's pending login of that family, or the one `start` makes (numbered and
    /// registered by `register`). Under the account's login lock: concurrent calls share one.
    func pendingOrNew(_ account: String, _ family: Family,
                      start: @Sendable () async throws(AgentError) -> Login) async throws(AgentError) -> (login: Login, isNew: Bool) {
        try await locks.run("\(family.rawValue):\(account)") { [self] () async throws(AgentError) -> (login: Login, isNew: Bool) in
            if let pending = pending(account, family) { return (pending, false) }
            return (try await start(), true)
        }
    }

    /// Numbers a new login and makes it its account's pending one.
    func register(_ family: Family, _ make: (Int) -> Login) -> Login {
        state.withLock { state in
            state.count += 1
            let login = make(state.count)
            state.pending[Key(account: login.account, family: family)] = login
            return login
        }
    }

    /// Numbers a login that is no account's (a new mytoken for its caller).
    func number(_ make: (Int) -> Login) -> Login {
        state.withLock { state in
            state.count += 1
            return make(state.count)
        }
    }

    /// Forgets a login that ended (if it is still the account's pending one).
    func ended(_ login: Login) {
        state.withLock { state in
            for family in [Family.own, .browser] where state.pending[Key(account: login.account, family: family)] === login {
                state.pending[Key(account: login.account, family: family)] = nil
            }
        }
    }

    /// Cancels the account's logins (the account is being removed).
    func cancelAll(of account: String) {
        let logins = state.withLock { state in [Family.own, .browser].compactMap { state.pending[Key(account: account, family: $0)] } }
        for login in logins { login.cancel() }
    }
}
