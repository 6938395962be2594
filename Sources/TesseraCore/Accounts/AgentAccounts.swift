import Foundation
import Keyring
import TesseraNames

/// Adding, changing, listing and removing accounts. An account change touches the file first, the
/// keyring after, memory last.
extension Agent {
    /// An account by name, or — for an issuer URL — the first account of that issuer.
    public func resolve(_ nameOrIssuer: String, field: String = "account") throws(AgentError) -> Account {
        // The hot path of every GetToken: an exact, known name was validated when the account was
        // added, so the (Foundation-heavy) validation below only runs for names we do not know.
        if let known = state.withLock({ $0.accounts.first { $0.name == nameOrIssuer } }) {
            return known
        }
        if nameOrIssuer.contains("://") {
            let wanted = IssuerKey(try Validate.serverURL(nameOrIssuer, field: field))
            guard let account = state.withLock({ $0.accounts.first { IssuerKey($0.issuer) == wanted } }) else {
                throw .noSuchAccount(nameOrIssuer)
            }
            return account
        }
        let name = try Validate.accountName(nameOrIssuer, field: field)
        guard let account = state.withLock({ $0.accounts.first { $0.name == name } }) else {
            throw .noSuchAccount(name)
        }
        return account
    }

    public func addAccount(name: String, settings: AccountSettings) async throws(AgentError) {
        let name = try Validate.accountName(name, field: "name")
        let existing = state.withLock { $0.accounts.first { $0.name == name } }
        if existing != nil && !settings.replace {
            throw .invalidArgument(field: "name", reason: "an account named \"\(name)\" exists; pass replace=true to change it")
        }
        let prepared = try await source(settings.kind).prepareAccount(name: name, settings: settings, existing: existing)
        let account = prepared.account
        if let existing, prepared.forget != .nothing {
            try await secrets.locks.run(name) { [self] () async throws(AgentError) in
                switch prepared.forget {
                case .nothing: break
                case .everything:
                    try await vault.deleteAll(of: existing)
                    secrets.forgetUnsaved(name)
                case .kinds(let kinds):
                    for kind in kinds { try await vault.delete(kind, of: existing) }
                    if kinds.contains(existing.loginSecretKind) { secrets.forgetUnsaved(name) }
                }
            }
        }
        if let clientSecret = prepared.clientSecret { try await vault.save(clientSecret, as: .clientSecret, of: account) }
        if let loginSecret = prepared.loginSecret { try await storeLogin(IssuedLogin(secret: loginSecret), account: account) }
        try await commit(account, existed: existing != nil)
        if prepared.loginSecret != nil { await currentObserver?.loginCompleted(account: name) }
    }

    /// Puts the account in the list and the file, and tells everyone.
    func commit(_ account: Account, existed: Bool) async throws(AgentError) {
        let name = account.name
        let (list, keepInvalid) = state.withLock { state -> ([Account], Bool) in
            if let index = state.accounts.firstIndex(where: { $0.name == name }) {
                state.accounts[index] = account
            } else {
                state.accounts.append(account)
            }
            defer { state.fileHasProblems = false }
            return (state.accounts, state.fileHasProblems)
        }
        try save(list, keepInvalid: keepInvalid)
        await tokens.drop(account: name)
        logger.info("account \(name) \(existed ? "changed" : "added") (issuer \(account.issuer.absoluteString))")
        await currentObserver?.accountsChanged()
    }

    public func removeAccount(name: String, revoke: Bool) async throws(AgentError) {
        let name = try Validate.accountName(name, field: "name")
        guard let account = state.withLock({ $0.accounts.first { $0.name == name } }) else { throw .noSuchAccount(name) }
        logins.cancelAll(of: name)
        if revoke {
            do { _ = try await self.revoke(account: name, keepOnFailure: false) } catch {
                logger.warning("revoking the login of \(name) before removing it failed: \(error.message)")
            }
        }
        try await secrets.locks.run(name) { [self] () async throws(AgentError) in
            try await vault.deleteAll(of: account)
            secrets.forgetUnsaved(name)
        }
        let (list, keepInvalid) = state.withLock { state -> ([Account], Bool) in
            state.accounts.removeAll { $0.name == name }
            defer { state.fileHasProblems = false }
            return (state.accounts, state.fileHasProblems)
        }
        try save(list, keepInvalid: keepInvalid)
        await tokens.drop(account: name)
        logger.info("account \(name) removed")
        await currentObserver?.accountsChanged()
    }

    public func listAccounts() async -> [AccountStatus] {
        let accounts = self.accounts
        let keys: Set<SecretKey>?
        do { keys = Set(try await vault.keys()) } catch {
            logger.warning("cannot list the keyring's items: \(error.message)")
            keys = nil
        }
        var statuses: [AccountStatus] = []
        for account in accounts {
            statuses.append(AccountStatus(account: account,
                                          loggedIn: keys.map { $0.contains(SecretVault.key(account, account.loginSecretKind)) },
                                          hasClientSecret: keys.map { $0.contains(SecretVault.key(account, .clientSecret)) },
                                          tokenExpiries: await tokens.expiries(account: account.name)))
        }
        return statuses
    }

    private func save(_ accounts: [Account], keepInvalid: Bool) throws(AgentError) {
        do { try accountFile.save(accounts, keepInvalid: keepInvalid) } catch {
            logger.error("\(error.description)")
            throw AgentError(error)
        }
    }
}
