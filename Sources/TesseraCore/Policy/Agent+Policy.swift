import OIDC
import TesseraNames

/// The consent store: each account's `AccountPolicy`, read under the agent's state lock and
/// changed as one account-file transaction (file first, memory after).
extension Agent {
    /// What to do when `application` asks for a token of `account` (a name or an issuer URL, as
    /// GetToken takes it). Synchronous and lock-protected — a dictionary lookup, no I/O — so the
    /// connection thread can consult it before answering from the cache; only `.allow` may be
    /// answered without the consent gate. An unknown account answers `.allow`: it has no tokens
    /// to protect, and the token call then fails with `NoSuchAccount` as before.
    public func decision(account: String, application: ApplicationID?) -> ConsentDecision {
        if let application, ConsentExemptions.programs.contains(application) { return .allow }
        let policy = state.withLock { state in
            (state.accounts.first { $0.name == account } ?? issuerMatch(account, in: state.accounts))?.policy
        }
        return policy?.decision(for: application) ?? .allow
    }

    /// True when `account`'s policy lets every program have its tokens (no `ask`, no `deny`, for
    /// anyone), so who a caller is cannot change the decision: the connection thread then answers
    /// a cached call without looking up the caller's program. An unknown account answers true, as
    /// `decision` answers `.allow`.
    public func allowsEveryProgram(account: String) -> Bool {
        let policy = state.withLock { state in
            (state.accounts.first { $0.name == account } ?? issuerMatch(account, in: state.accounts))?.policy
        }
        guard let policy else { return true }
        return policy.defaultDecision == .allow && policy.rules.values.allSatisfy { $0 == .allow }
    }

    /// The first account of an issuer, as `resolve` finds it (only for text that looks like a URL).
    private func issuerMatch(_ text: String, in accounts: [Account]) -> Account? {
        guard text.contains("://"), let wanted = try? IssuerKey(Validate.serverURL(text, field: "account")) else { return nil }
        return accounts.first { IssuerKey($0.issuer) == wanted }
    }

    /// `GetPolicy`: the account's policy (an account name, not an issuer).
    public func policy(account: String) throws(AgentError) -> AccountPolicy {
        try resolveName(account).policy
    }

    /// `SetPolicy`: the decision for programs without a rule.
    public func setDefaultDecision(account: String, _ decision: ConsentDecision) async throws(AgentError) {
        try await changePolicy(account: account, what: "default decision \(decision.rawValue)") { policy throws(AgentError) in
            policy.defaultDecision = decision
        }
    }

    /// `SetApplicationPolicy`: a rule for one program (also what "Always allow" stores).
    public func setApplicationDecision(account: String, application: ApplicationID, _ decision: ConsentDecision)
        async throws(AgentError)
    {
        try await changePolicy(account: account, what: "\(decision.rawValue) for \(application)") { policy throws(AgentError) in
            policy.rules[application] = decision
        }
    }

    /// `ForgetApplication`: drops a program's rule; it gets the account's default again.
    public func forgetApplication(account: String, application: ApplicationID) async throws(AgentError) {
        try await changePolicy(account: account, what: "no rule for \(application)") { policy throws(AgentError) in
            guard policy.rules.removeValue(forKey: application) != nil else {
                throw .invalidArgument(field: "application",
                                       reason: "\(account) has no rule for \(application) (see `tessera policy list \(account)`)")
            }
        }
    }

    private func changePolicy(account: String, what: String,
                              _ change: @escaping @Sendable (inout AccountPolicy) throws(AgentError) -> Void) async throws(AgentError) {
        try await accountChanges.run { [self] () async throws(AgentError) in
            try rereadIfUnreadable()
            var changed = try resolveName(account)
            try change(&changed.policy)
            let new = changed
            let (_, next) = try writeAccounts { $0.map { $0.name == new.name ? new : $0 } }
            state.withLock { $0.accounts = next }
            logger.info("consent for \(new.name): \(what)")
        }
    }
}
