import Keyring
import OIDC
import Secrets

/// The agent's view of the keyring: refresh tokens and client secrets per account, with keyring
/// failures already turned into agent errors.
struct SecretVault: Sendable {
    let store: any SecretStore

    static func key(_ account: Account, _ kind: SecretKind) -> SecretKey {
        SecretKey(account: account.name, issuer: account.issuer.absoluteString, kind: kind)
    }

    func load(_ kind: SecretKind, of account: Account) async throws(AgentError) -> Secret? {
        do {
            return try await store.load(Self.key(account, kind))
        } catch {
            throw AgentError(error)
        }
    }

    func save(_ value: Secret, as kind: SecretKind, of account: Account) async throws(AgentError) {
        do {
            try await store.store(value, for: Self.key(account, kind))
        } catch {
            throw AgentError(error)
        }
    }

    @discardableResult
    func delete(_ kind: SecretKind, of account: Account) async throws(AgentError) -> Bool {
        do { return try await store.delete(Self.key(account, kind)) } catch { throw AgentError(error) }
    }

    func deleteAll(of account: Account) async throws(AgentError) {
        do { try await store.deleteAll(account: account.name) } catch { throw AgentError(error) }
    }

    /// The stored keys (no values), for ListAccounts.
    func keys() async throws(AgentError) -> [SecretKey] {
        do { return try await store.accountsWithSecrets() } catch { throw AgentError(error) }
    }
}

extension Account {
    /// The keyring item that holds the account's login: a refresh token, or a mytoken.
    var loginSecretKind: SecretKind { kind == .mytoken ? .mytoken : .refreshToken }
}
