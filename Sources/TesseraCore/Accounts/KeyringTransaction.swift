import Keyring
import Logging
import OIDC
import Secrets

/// The keyring steps of one account change, each remembering how to undo itself, so a change
/// that fails half-way leaves the keyring as it found it (DESIGN.md, Secrets: "rolls back what it
/// did if a step fails"). A deleted secret is read first so it can be put back.
struct KeyringTransaction {
    private enum Undo {
        case restore(Secret, SecretKind, Account)
        case remove(SecretKind, Account)
    }

    let vault: SecretVault
    private var undo: [Undo] = []

    init(vault: SecretVault) { self.vault = vault }

    mutating func save(_ value: Secret, as kind: SecretKind, of account: Account) async throws(AgentError) {
        let before = try await vault.load(kind, of: account)
        try await vault.save(value, as: kind, of: account)
        undo.append(before.map { .restore($0, kind, account) } ?? .remove(kind, account))
    }

    mutating func delete(_ kind: SecretKind, of account: Account) async throws(AgentError) {
        guard let before = try await vault.load(kind, of: account) else { return }
        try await vault.delete(kind, of: account)
        undo.append(.restore(before, kind, account))
    }

    /// Undoes every step done, newest first; a step that cannot be undone is logged (never its secret).
    func rollBack(logger: Logger) async {
        for step in undo.reversed() {
            do {
                switch step {
                case .restore(let value, let kind, let account): try await vault.save(value, as: kind, of: account)
                case .remove(let kind, let account): try await vault.delete(kind, of: account)
                }
            } catch {
                logger.error("cannot undo a keyring step of a failed account change: \(error.message)")
            }
        }
    }
}
