/// What a stored secret is for. The raw value is the `kind` attribute in the keyring.
public enum SecretKind: String, Sendable, CaseIterable, Codable {
    case refreshToken = "refresh_token"
    case mytoken
    case clientSecret = "client_secret"
    /// RFC 7592 registration access token of a client Tessera registered (to delete it later).
    case registrationToken = "registration_token"
}

/// Names one secret in the keyring: the attributes `account`, `issuer` and `kind` of schema
/// `io.tessera.Secret`. Holds no secret itself, so it may be logged.
public struct SecretKey: Hashable, Sendable, CustomStringConvertible {
    public var account: String
    public var issuer: String
    public var kind: SecretKind

    public init(account: String, issuer: String, kind: SecretKind) {
        self.account = account
        self.issuer = issuer
        self.kind = kind
    }

    /// The item label people see in Seahorse or `secret-tool search`.
    public var label: String { "Tessera: \(account) (\(issuer))" }

    public var description: String { "\(kind.rawValue) of \(account) (\(issuer))" }
}
