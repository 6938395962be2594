import FoundationEssentials
import Keyring
import OIDC
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

    /// The account of exactly this name, or nil: no validation and no issuer lookup. For the
    /// D-Bus thread's immediate answers, which decline anything but a known name (`resolve` then
    /// answers, with its errors).
    public func account(named name: String) -> Account? {
        state.withLock { $0.accounts.first { $0.name == name } }
    }

    /// An account by its name only: for destructive calls (Revoke, RemoveAccount), which must
    /// never act on "the first account" of an issuer.
    public func resolveName(_ name: String, field: String = "account") throws(AgentError) -> Account {
        if let known = state.withLock({ $0.accounts.first { $0.name == name } }) { return known }
        if name.contains("://") {
            throw .invalidArgument(field: field, reason: "takes an account name, not an issuer URL")
        }
        let name = try Validate.accountName(name, field: field)
        guard let account = state.withLock({ $0.accounts.first { $0.name == name } }) else { throw .noSuchAccount(name) }
        return account
    }

    public func addAccount(name: String, settings: AccountSettings) async throws(AgentError) {
        let name = try Validate.accountName(name, field: "name")
        try await accountChanges.run { [self] () async throws(AgentError) in
            try await addAccountLocked(name: name, settings: settings)
        }
    }

    private func addAccountLocked(name: String, settings: AccountSettings) async throws(AgentError) {
        try rereadIfUnreadable()
        let existing = state.withLock { $0.accounts.first { $0.name == name } }
        if existing != nil && !settings.replace {
            throw .invalidArgument(field: "name", reason: "an account named \"\(name)\" exists; pass replace=true to change it")
        }
        var settings = settings
        settings.defaultMytokenServer = try? defaultMytokenServer(field: AccountSetting.mytokenServer.rawValue, why: "")
        // Known providers and `max` scopes are about OpenID providers only.
        if settings.kind == .oidc { settings = try await withProviderDefaults(settings, existing: existing) }
        let prepared = try await source(settings.kind).prepareAccount(name: name, settings: settings, existing: existing)
        var adding = prepared.account
        if let existing, prepared.forget == .nothing, prepared.loginSecret == nil, settings.refreshToken == nil {
            // The login stays: what it was granted stays known (a replace is an edit of the settings).
            adding.loginScopes = Self.loginScopes(granted: existing.loginScopes ?? existing.scopes, scopes: adding.scopes)
        }
        let account = adding
        // Under the account's secret lock: no refresh uses the old login while it is replaced.
        do { try await secrets.locks.run(name) { [self] () async throws(AgentError) in
            try await commit(account, existing: existing) { (keyring: inout KeyringTransaction) async throws(AgentError) in
                // What can be undone first: new secrets are stored before anything old is deleted.
                var saved: [SecretKey] = []
                if let clientSecret = prepared.clientSecret {
                    try await keyring.save(clientSecret, as: .clientSecret, of: account)
                    saved.append(SecretVault.key(account, .clientSecret))
                }
                if let management = prepared.management {
                    try await keyring.save(management.accessToken, as: .registrationToken, of: account)
                    saved.append(SecretVault.key(account, .registrationToken))
                }
                if let loginSecret = prepared.loginSecret {
                    try await keyring.save(loginSecret, as: account.loginSecretKind, of: account)
                    saved.append(SecretVault.key(account, account.loginSecretKind))
                }
                guard let existing else { return }
                let forget: [SecretKind] = switch prepared.forget {
                case .nothing: []
                case .everything: SecretKind.allCases
                case .kinds(let kinds): kinds
                }
                for kind in forget where !saved.contains(SecretVault.key(existing, kind)) {
                    try await keyring.delete(kind, of: existing)
                }
            }
            if prepared.forget != .nothing || prepared.loginSecret != nil { secrets.forgetUnsaved(name) }
        } } catch {
            // Not half-created: a client registered for an account that could not be added goes too.
            if let management = prepared.management { await deleteRegisteredClient(management, of: name) }
            throw error
        }
        if prepared.loginSecret != nil { await currentObserver?.loginCompleted(account: name) }
        if let refreshToken = settings.refreshToken { try await importRefreshToken(refreshToken, into: account) }
    }

    /// Puts the account in the file, then runs its keyring steps, then puts it in memory and
    /// tells everyone (DESIGN.md, Secrets). A failed keyring step undoes the earlier ones and
    /// writes the file back; a failed file write changes nothing at all. Call under `accountChanges`.
    func commit(_ account: Account, existing: Account?,
                keyring steps: (inout KeyringTransaction) async throws(AgentError) -> Void) async throws(AgentError) {
        let name = account.name
        let (previous, next) = try writeAccounts { accounts in
            var accounts = accounts
            if let index = accounts.firstIndex(where: { $0.name == name }) {
                // Replacing an account's settings is no consent decision: its policy stays.
                var account = account
                account.policy = accounts[index].policy
                accounts[index] = account
            } else {
                accounts.append(account)
            }
            return accounts
        }
        var keyring = KeyringTransaction(vault: vault)
        do { try await steps(&keyring) } catch {
            await keyring.rollBack(logger: logger)
            restoreFile(previous)
            throw error
        }
        state.withLock { $0.accounts = next }
        await tokens.drop(account: name)
        logger.info("account \(name) \(existing != nil ? "changed" : "added") (issuer \(account.issuer.absoluteString))")
        await currentObserver?.accountsChanged()
    }

    public func removeAccount(name: String, revoke: Bool) async throws(AgentError) {
        try await accountChanges.run { [self] () async throws(AgentError) in
            try rereadIfUnreadable()
            try await removeAccountLocked(try resolveName(name, field: "name"), revoke: revoke)
        }
    }

    private func removeAccountLocked(_ account: Account, revoke: Bool) async throws(AgentError) {
        let name = account.name
        // The file first: while it still lists the account, its secrets stay.
        let (previous, next) = try writeAccounts { $0.filter { $0.name != name } }
        logins.cancelAll(of: name)
        if revoke {
            do { _ = try await self.revoke(account: name, keepOnFailure: false) } catch {
                logger.warning("revoking the login of \(name) before removing it failed: \(error.message)")
            }
        }
        // The client Tessera registered for it goes too (RFC 7592), where the provider allows it.
        if let clientURI = account.registrationClientURI {
            do {
                if let token = try await vault.load(.registrationToken, of: account) {
                    await deleteRegisteredClient(ClientManagement(accessToken: token, clientURI: clientURI), of: name)
                }
            } catch {
                logger.warning("cannot read the registration token of \(name); its client stays registered: \(error.message)")
            }
        }
        do {
            try await secrets.locks.run(name) { [self] () async throws(AgentError) in
                try await vault.deleteAll(of: account)
                secrets.forgetUnsaved(name)
            }
        } catch {
            restoreFile(previous)
            throw error
        }
        state.withLock { state in
            state.accounts = next
            state.idTokens[name] = nil
        }
        await tokens.drop(account: name)
        logger.info("account \(name) removed")
        await currentObserver?.accountsChanged()
    }

    /// The first step of every account change: writes the list `change` makes of the current one.
    /// Memory is not touched; the caller adopts `next` once its keyring steps are done.
    func writeAccounts(_ change: ([Account]) -> [Account]) throws(AgentError) -> (previous: [Account], next: [Account]) {
        let (previous, keepInvalid) = state.withLock { ($0.accounts, $0.fileHasProblems) }
        let next = change(previous)
        let kept: String?
        do { kept = try accountFile.save(next, keepInvalid: keepInvalid) } catch {
            logger.error("\(error.description)")
            throw AgentError(error)
        }
        state.withLock { $0.fileHasProblems = false }
        if let kept { logger.warning("kept the account file that had problems as \(kept)") }
        return (previous, next)
    }

    /// Writes back the list a failed change started from (best effort: the change already failed).
    func restoreFile(_ accounts: [Account]) {
        do { try accountFile.save(accounts) } catch {
            logger.error("cannot write \(accountFile.path) back after a failed change: \(error.description)")
        }
    }

    /// A file that could not be read at start may be readable now (a transient I/O or permission
    /// problem): read it again before a change, and refuse the change while it still cannot be
    /// read, because writing would replace accounts we never saw.
    func rereadIfUnreadable() throws(AgentError) {
        guard state.withLock({ $0.fileUnreadable }) else { return }
        let contents = accountFile.load()
        guard contents.readable else {
            let reason = contents.problems.first?.description ?? "\(accountFile.path) cannot be read"
            logger.error("account file problem: \(reason); refusing to change accounts")
            throw .notPermitted("\(reason); no account is changed until it can be read")
        }
        for problem in contents.problems { logger.error("account file problem: \(problem.description)") }
        state.withLock {
            $0.accounts = contents.accounts
            $0.fileHasProblems = !contents.problems.isEmpty
            $0.fileUnreadable = false
        }
        logger.notice("\(accountFile.path) is readable again: \(contents.accounts.count) account(s)")
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
                                          tokenExpiries: tokens.expiries(account: account.name)))
        }
        return statuses
    }
}
