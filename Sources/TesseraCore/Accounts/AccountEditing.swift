import FoundationEssentials
import Keyring
import OIDC
import Secrets
import TesseraNames

/// SetAccount's changes, checked; nil leaves a setting as it is.
public struct AccountEdit: Sendable {
    public var issuer: URL?
    public var clientID: String?
    public var clientSecret: Secret?
    /// `['max']`: every scope the provider supports.
    public var scopes: [String]?
    public var audience: [String]?
    public var audienceStyle: AudienceStyle?

    public init() {}
}

extension Agent {
    /// Changes an account's settings. A changed issuer or client makes the login unusable (a
    /// refresh token belongs to the client that obtained it), so it is deleted and
    /// `LoginRequired` emitted; scopes and audience only drop the cached tokens. The file is
    /// written first, the keyring after, memory last; a keyring failure puts the file back.
    public func setAccount(name: String, edit: AccountEdit) async throws(AgentError) {
        let name = try Validate.accountName(name, field: "name")
        guard let old = state.withLock({ $0.accounts.first { $0.name == name } }) else { throw .noSuchAccount(name) }
        if old.kind == .mytoken && (edit.issuer != nil || edit.clientID != nil || edit.clientSecret != nil) {
            throw .invalidArgument(field: AccountSetting.kind.rawValue,
                                   reason: "a mytoken account has no issuer or client of its own to change; add it again instead")
        }
        if edit.clientSecret != nil && edit.clientID == nil && old.clientID == nil {
            throw .invalidArgument(field: AccountSetting.clientSecret.rawValue, reason: "needs client-id")
        }
        var changed = old
        if let issuer = edit.issuer { changed.issuer = issuer }
        if let clientID = edit.clientID { changed.clientID = clientID }
        if let audience = edit.audience { changed.audience = audience }
        if let style = edit.audienceStyle { changed.audienceStyle = style }
        if let scopes = edit.scopes {
            if scopes == [AccountSetting.maxScopes] {
                let provider = listProviders().first { Self.issuerKey($0.issuer) == Self.issuerKey(changed.issuer) }
                changed.scopes = try await maxScopes(issuer: changed.issuer, provider: provider,
                                                 usingPublicClient: changed.clientID != nil && changed.clientID == provider?.publicClientID)
            } else if scopes.contains(AccountSetting.maxScopes) {
                throw .invalidArgument(field: AccountSetting.scopes.rawValue,
                                       reason: "'\(AccountSetting.maxScopes)' stands alone (every scope the provider supports)")
            } else {
                changed.scopes = scopes
            }
        }
        let clientReplaced = Self.issuerKey(changed.issuer) != Self.issuerKey(old.issuer) || changed.clientID != old.clientID
        // A client Tessera registered is deleted once the account no longer uses it.
        if clientReplaced { changed.registrationClientURI = nil }
        // A login that stays keeps what it was granted; refreshes name the new scopes.
        changed.loginScopes = clientReplaced ? nil : Self.loginScopes(granted: old.loginScopes ?? old.scopes, scopes: changed.scopes)
        let new = changed
        var oldRegistration: ClientManagement?
        if clientReplaced, let uri = old.registrationClientURI, let token = try await vault.load(.registrationToken, of: old) {
            oldRegistration = ClientManagement(accessToken: token, clientURI: uri)
        }
        let issuerChanged = Self.issuerKey(changed.issuer) != Self.issuerKey(old.issuer)
        let clientChanged = new.clientID != old.clientID
        let loginGone = issuerChanged || clientChanged

        try await accountChanges.run { [self] () async throws(AgentError) in
            try rereadIfUnreadable()
            guard state.withLock({ $0.accounts.contains { $0.name == name } }) else { throw .noSuchAccount(name) }
            // Under the refresh lock too: no refresh may use the old client while it changes.
            try await secrets.locks.run(name) { [self] () async throws(AgentError) in
                let (previous, next) = try writeAccounts { $0.map { $0.name == name ? new : $0 } }
                var keyring = KeyringTransaction(vault: vault)
                do throws(AgentError) {
                    // What can be undone first: new secrets are stored before anything old goes.
                    if issuerChanged {
                        // Items are keyed by issuer: the old login is no use; the client secret
                        // moves along only for the same client id.
                        let oldSecret = try await vault.load(.clientSecret, of: old)
                        let carried = edit.clientSecret ?? (new.clientID == old.clientID ? oldSecret : nil)
                        if let carried { try await keyring.save(carried, as: .clientSecret, of: new) }
                        for kind in SecretKind.allCases { try await keyring.delete(kind, of: old) }
                    } else if clientChanged {
                        if let secret = edit.clientSecret {
                            try await keyring.save(secret, as: .clientSecret, of: new)
                        } else {
                            try await keyring.delete(.clientSecret, of: old)
                        }
                        try await keyring.delete(.refreshToken, of: old)
                        try await keyring.delete(.registrationToken, of: old)
                    } else if let secret = edit.clientSecret {
                        try await keyring.save(secret, as: .clientSecret, of: new)
                    }
                } catch {
                    await keyring.rollBack(logger: logger)
                    restoreFile(previous)
                    throw error
                }
                if loginGone { secrets.forgetUnsaved(name) }
                state.withLock { state in
                    state.accounts = next
                    if loginGone { state.idTokens[name] = nil }
                }
                await tokens.drop(account: name)
            }
        }
        logger.info("account \(name) changed\(loginGone ? " (issuer or client changed: a new login is needed)" : "")")
        await currentObserver?.accountsChanged()
        if loginGone { await currentObserver?.loginRequired(account: name) }
        if let oldRegistration { await deleteRegisteredClient(oldRegistration, of: name) }
    }

    /// Renames an account. Its keyring items are copied under the new name first; then the file
    /// names it; then the old items go and memory (cached tokens, held ID token) follows. A
    /// failure before the file is written removes the copies, so nothing is lost either way.
    public func renameAccount(from oldName: String, to newName: String) async throws(AgentError) {
        let oldName = try Validate.accountName(oldName, field: "old")
        let newName = try Validate.accountName(newName, field: "new")
        guard let old = state.withLock({ $0.accounts.first { $0.name == oldName } }) else { throw .noSuchAccount(oldName) }
        if oldName == newName { return }
        if state.withLock({ $0.accounts.contains { $0.name == newName } }) {
            throw .invalidArgument(field: "new", reason: "an account named \"\(newName)\" exists; remove or rename it first")
        }
        if logins.pending(oldName, .own) != nil || logins.pending(oldName, .browser) != nil {
            throw .invalidArgument(field: "old", reason: "a login of \"\(oldName)\" is in progress; finish or cancel it first")
        }
        var renamed = old
        renamed.name = newName
        let new = renamed
        try await accountChanges.run { [self] () async throws(AgentError) in
            try rereadIfUnreadable()
            guard state.withLock({ $0.accounts.contains { $0.name == oldName } }) else { throw .noSuchAccount(oldName) }
            if state.withLock({ $0.accounts.contains { $0.name == newName } }) {
                throw .invalidArgument(field: "new", reason: "an account named \"\(newName)\" exists; remove or rename it first")
            }
            try await secrets.locks.run(oldName) { [self] () async throws(AgentError) in
                // Copies under the new name first: until the file names the new account, the
                // old items are untouched, so a failure anywhere loses nothing.
                var keyring = KeyringTransaction(vault: vault)
                let previous: [Account], next: [Account]
                do throws(AgentError) {
                    for kind in SecretKind.allCases {
                        var value = kind == old.loginSecretKind ? secrets.unsavedSecret(of: oldName) : nil
                        if value == nil { value = try await vault.load(kind, of: old) }
                        guard let value else { continue }
                        try await keyring.save(value, as: kind, of: new)
                    }
                    (previous, next) = try writeAccounts { $0.map { $0.name == oldName ? new : $0 } }
                } catch {
                    await keyring.rollBack(logger: logger)
                    throw error
                }
                _ = previous
                do throws(AgentError) { try await vault.deleteAll(of: old) } catch {
                    // Renamed, and the secrets are safe under the new name; only stale copies stay
                    // under the old one (removed with any later account of that name).
                    logger.warning("renamed \(oldName) to \(newName), but its old keyring items stay: \(error.message)")
                }
                secrets.renameUnsaved(from: oldName, to: newName)
                state.withLock { state in
                    state.accounts = next
                    state.idTokens[newName] = state.idTokens.removeValue(forKey: oldName)
                }
                await tokens.rename(account: oldName, to: newName)
            }
        }
        logger.info("account \(oldName) renamed to \(newName)")
        await currentObserver?.accountsChanged()
    }
}

extension Agent {
    /// `Account.loginScopes` for a login granted `granted`: nil when that is the account's scopes.
    static func loginScopes(granted: [String], scopes: [String]) -> [String]? {
        Set(granted) == Set(scopes) ? nil : granted
    }

    /// Records what a login was granted, in memory and in the file (a restart must not forget
    /// it). A file that cannot be written costs only the record's durability: the login stands.
    func rememberLoginScopes(_ granted: [String], of name: String) async {
        @Sendable func updated(_ accounts: [Account]) -> [Account] {
            accounts.map { account in
                guard account.name == name else { return account }
                var account = account
                account.loginScopes = Self.loginScopes(granted: granted, scopes: account.scopes)
                return account
            }
        }
        do {
            try await accountChanges.run { [self] () async throws(AgentError) in
                let accounts = state.withLock { $0.accounts }
                guard accounts != updated(accounts) else { return }
                try rereadIfUnreadable()
                let (_, next) = try writeAccounts(updated)
                state.withLock { $0.accounts = next }
            }
        } catch {
            logger.warning("cannot record the scopes granted to the login of \(name) in \(accountFile.path): \(error.message)")
            state.withLock { $0.accounts = updated($0.accounts) }
        }
    }
}

extension Agent {
    /// Stores an imported refresh token and proves it by refreshing once. The account stays
    /// either way; when the provider refuses the token it is deleted again (as any refused
    /// refresh token is) and the caller learns why.
    func importRefreshToken(_ refreshToken: Secret, into account: Account) async throws(AgentError) {
        try await storeLogin(IssuedLogin(secret: refreshToken), account: account)
        var request = TokenRequest(account: account.name)
        request.force = true
        state.withLock { _ = $0.importing.insert(account.name) }
        defer { state.withLock { _ = $0.importing.remove(account.name) } }
        do {
            _ = try await token(request)
            logger.info("imported a refresh token into \(account.name); a refresh with it worked")
            await currentObserver?.loginCompleted(account: account.name)
        } catch .loginRequired(_, let reason) {
            throw .loginRequired(account: account.name,
                                 reason: "added \"\(account.name)\", but the provider refused the imported refresh token (\(reason))")
        } catch .network(let detail) {
            throw .network("\(detail) (\"\(account.name)\" was added with the imported refresh token, untested)")
        }
    }
}

extension Agent {
    /// Deletes a client Tessera registered (RFC 7592). Best effort: a provider that refuses or
    /// cannot be reached leaves the client registered, which is logged, never an error.
    func deleteRegisteredClient(_ management: ClientManagement, of account: String) async {
        do throws(OIDCError) {
            try await OIDCClient.deleteRegistration(management, transport: transport, logger: logger)
            logger.info("deleted the client registered for \(account) (\(management.clientURI.absoluteString))")
        } catch {
            logger.warning("the provider did not delete the client registered for \(account): \(error)")
        }
    }
}
