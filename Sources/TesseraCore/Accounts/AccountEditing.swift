import Foundation
import Keyring
import OIDC
import TesseraNames

/// SetAccount's changes, checked; nil leaves a setting as it is.
public struct AccountEdit: Sendable {
    public var issuer: URL?
    public var clientID: String?
    public var clientSecret: SecretString?
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
        let new = changed
        let issuerChanged = Self.issuerKey(new.issuer) != Self.issuerKey(old.issuer)
        let clientChanged = new.clientID != old.clientID
        let loginGone = issuerChanged || clientChanged

        try await refreshLock(name).run { [self] () async throws(AgentError) in
            let (oldList, keepInvalid) = state.withLock { ($0.accounts, $0.fileHasProblems) }
            let newList = oldList.map { $0.name == name ? new : $0 }
            try save(newList, keepInvalid: keepInvalid)
            do throws(AgentError) {
                if issuerChanged {
                    // The login belongs to the old issuer; the client secret moves along only
                    // for the same client id (deleteAll goes by account name, so it comes first).
                    let oldSecret = try await vault.load(.clientSecret, of: old)
                    let carried = edit.clientSecret ?? (new.clientID == old.clientID ? oldSecret : nil)
                    try await vault.deleteAll(of: old)
                    if let carried {
                        do throws(AgentError) { try await vault.save(carried, as: .clientSecret, of: new) } catch {
                            if let oldSecret { try? await vault.save(oldSecret, as: .clientSecret, of: old) }
                            throw error
                        }
                    }
                } else if clientChanged {
                    if let secret = edit.clientSecret {
                        try await vault.save(secret, as: .clientSecret, of: new)
                    } else {
                        try await vault.delete(.clientSecret, of: old)
                    }
                    try await vault.delete(.refreshToken, of: old)
                } else if let secret = edit.clientSecret {
                    try await vault.save(secret, as: .clientSecret, of: new)
                }
            } catch {
                logger.error("changing the keyring items of \(name) failed (\(error.message)); putting the account file back")
                do throws(AgentError) { try save(oldList, keepInvalid: false) } catch {
                    logger.error("cannot put the account file back: \(error.message)")
                }
                throw error
            }
            state.withLock { state in
                if let index = state.accounts.firstIndex(where: { $0.name == name }) { state.accounts[index] = new }
                state.fileHasProblems = false
                if loginGone {
                    state.unsavedRotations[name] = nil
                    state.idTokens[name] = nil
                    state.loginScopes[name] = nil
                } else if state.loginScopes[name] == nil && Set(old.scopes) != Set(new.scopes) {
                    // The login was granted the old scopes: refreshes now name the new ones.
                    state.loginScopes[name] = old.scopes
                }
            }
            await tokens.drop(account: name)
        }
        logger.info("account \(name) changed\(loginGone ? " (issuer or client changed: a new login is needed)" : "")")
        await currentObserver?.accountsChanged()
        if loginGone { await currentObserver?.loginRequired(account: name) }
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
        if pendingLogin(of: oldName, browser: false) != nil || pendingLogin(of: oldName, browser: true) != nil {
            throw .invalidArgument(field: "old", reason: "a login of \"\(oldName)\" is in progress; finish or cancel it first")
        }
        var renamed = old
        renamed.name = newName
        let new = renamed
        try await refreshLock(oldName).run { [self] () async throws(AgentError) in
            var copied: [SecretKind] = []
            func removeCopies() async {
                for kind in copied {
                    do throws(AgentError) { try await vault.delete(kind, of: new) } catch {
                        logger.warning("cannot remove the copied \(kind.rawValue) of \(newName): \(error.message)")
                    }
                }
            }
            do throws(AgentError) {
                for kind in SecretKind.allCases {
                    var value = kind == old.loginSecretKind ? state.withLock({ $0.unsavedRotations[oldName] }) : nil
                    if value == nil { value = try await vault.load(kind, of: old) }
                    guard let value else { continue }
                    try await vault.save(value, as: kind, of: new)
                    copied.append(kind)
                }
            } catch {
                await removeCopies()
                throw error
            }
            let (oldList, keepInvalid) = state.withLock { ($0.accounts, $0.fileHasProblems) }
            do throws(AgentError) {
                try save(oldList.map { $0.name == oldName ? new : $0 }, keepInvalid: keepInvalid)
            } catch {
                await removeCopies()
                throw error
            }
            do throws(AgentError) { try await vault.deleteAll(of: old) } catch {
                // The account is renamed and its secrets are safe under the new name; only stale
                // copies are left under the old one (removed with an account of that name, if any).
                logger.warning("renamed \(oldName) to \(newName), but its old keyring items stay: \(error.message)")
            }
            state.withLock { state in
                if let index = state.accounts.firstIndex(where: { $0.name == oldName }) { state.accounts[index] = new }
                state.fileHasProblems = false
                state.unsavedRotations[newName] = state.unsavedRotations.removeValue(forKey: oldName)
                state.idTokens[newName] = state.idTokens.removeValue(forKey: oldName)
                state.loginScopes[newName] = state.loginScopes.removeValue(forKey: oldName)
            }
            await tokens.rename(account: oldName, to: newName)
        }
        logger.info("account \(oldName) renamed to \(newName)")
        await currentObserver?.accountsChanged()
    }
}

extension Agent {
    /// Stores an imported refresh token and proves it by refreshing once. The account stays
    /// either way; when the provider refuses the token it is deleted again (as any refused
    /// refresh token is) and the caller learns why.
    func importRefreshToken(_ refreshToken: SecretString, into account: Account) async throws(AgentError) {
        try await storeLogin(refreshToken, account: account)
        var request = TokenRequest(account: account.name)
        request.force = true
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
