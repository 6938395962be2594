import Logging
import OIDC
import Secrets
import Synchronization

/// Every account's login secret — a refresh token, or for a mytoken account its mytoken — and the
/// rules for using one, written once for every kind of account:
///
/// - one use at a time per account (`locks`): a rotating secret must never be presented twice;
/// - the current secret is a rotation the keyring refused to store, else the keyring's copy; an
///   unsaved rotation is stored again before it is used, so a locked keyring does not lose the
///   login while the service runs;
/// - a rotated secret is stored before the access token it came with is handed out.
final class LoginSecrets: Sendable {
    let vault: SecretVault
    let locks = AccountLocks()
    private let unsaved = Mutex<[String: Secret]>([:])
    private let logger: Logger

    init(vault: SecretVault, logger: Logger) {
        self.vault = vault
        self.logger = logger
    }

    /// The account's current secret, or nil when it has none. Call under the account's lock.
    /// With `storingUnsaved`, a rotation only held in memory is stored first (and the call fails
    /// while the keyring still refuses it).
    func current(of account: Account, storingUnsaved: Bool = true) async throws(AgentError) -> Secret? {
        if let pending = unsaved.withLock({ $0[account.name] }) {
            if storingUnsaved { try await storeRotation(pending, of: account) }
            return pending
        }
        return try await vault.load(account.loginSecretKind, of: account)
    }

    /// A rotated secret replaces the used one: stored now, or kept in memory (and the keyring's
    /// error thrown) when the keyring refuses. Call under the account's lock.
    func storeRotation(_ secret: Secret, of account: Account) async throws(AgentError) {
        do {
            try await vault.save(secret, as: account.loginSecretKind, of: account)
            unsaved.withLock { $0[account.name] = nil }
        } catch {
            unsaved.withLock { $0[account.name] = secret }
            logger.error("cannot store the rotated \(account.loginSecretKind.rawValue) of \(account.name): \(error.message); kept in memory")
            throw error
        }
    }

    /// A new login's secret: stored, or the login fails (nothing is kept in memory for it).
    /// Call under the account's lock.
    func storeLogin(_ secret: Secret, of account: Account) async throws(AgentError) {
        unsaved.withLock { $0[account.name] = nil }
        try await vault.save(secret, as: account.loginSecretKind, of: account)
    }

    /// Deletes the secret from the keyring and memory. Call under the account's lock.
    func delete(of account: Account) async throws(AgentError) {
        try await vault.delete(account.loginSecretKind, of: account)
        unsaved.withLock { $0[account.name] = nil }
    }

    /// A rotation held only in memory (for moving an account's secrets under a new name).
    func unsavedSecret(of account: String) -> Secret? {
        unsaved.withLock { $0[account] }
    }

    /// An account renamed: its unsaved rotation follows it.
    func renameUnsaved(from old: String, to new: String) {
        unsaved.withLock { $0[new] = $0.removeValue(forKey: old) }
    }

    /// Forgets a rotation held in memory (the keyring's items were deleted some other way).
    func forgetUnsaved(_ account: String) {
        unsaved.withLock { $0[account] = nil }
    }
}
