import Secrets

/// Where Tessera keeps its long-lived secrets. The service talks to this protocol;
/// `LibSecretStore` is the implementation over the desktop Secret Service.
public protocol SecretStore: Sendable {
    /// Stores the secret, replacing any earlier one with the same key.
    func store(_ secret: Secret, for key: SecretKey) async throws(KeyringError)
    /// The secret for the key, or nil when there is none.
    func load(_ key: SecretKey) async throws(KeyringError) -> Secret?
    /// Removes the secret; false when there was none.
    @discardableResult
    func delete(_ key: SecretKey) async throws(KeyringError) -> Bool
    /// Removes every secret of the account (all issuers and kinds).
    func deleteAll(account: String) async throws(KeyringError)
    /// The keys of every stored Tessera secret, read from attributes only (no secret is
    /// unlocked or transferred), sorted by account, issuer and kind.
    func accountsWithSecrets() async throws(KeyringError) -> [SecretKey]
}
