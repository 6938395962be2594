/// An access token as the service handed it out, with what the provider said about it.
public struct IssuedToken: Sendable, Equatable {
    public var token: SecretText
    /// Seconds since the epoch; 0 when the provider gave no lifetime.
    public var expiresAt: Int64
    public var tokenType: String
    public var scopes: [String]
    public var audience: [String]
    public var issuer: String

    public init(token: SecretText, expiresAt: Int64, tokenType: String = "Bearer", scopes: [String] = [],
                audience: [String] = [], issuer: String = "") {
        self.token = token
        self.expiresAt = expiresAt
        self.tokenType = tokenType
        self.scopes = scopes
        self.audience = audience
        self.issuer = issuer
    }
}

/// How `tessera token` prints what it got.
public enum TokenFormat: Sendable, Equatable {
    /// The bare token and a newline: `curl -H "Authorization: Bearer $(tessera token x)"`.
    case plain
    /// One JSON object: token, expires_at, token_type, scopes, audience, issuer.
    case json
    /// `OIDC_AT=…; export OIDC_AT;` lines in oidc-token's `-c` form, for `eval "$(tessera token x --env)"`.
    case env

    public func render(_ issued: IssuedToken) -> String {
        switch self {
        case .plain:
            return issued.token.revealed() + "\n"
        case .json:
            return JSONValue.object([
                ("token", .string(issued.token.revealed())),
                ("expires_at", .integer(issued.expiresAt)),
                ("token_type", .string(issued.tokenType)),
                ("scopes", .array(issued.scopes.map(JSONValue.string))),
                ("audience", .array(issued.audience.map(JSONValue.string))),
                ("issuer", .string(issued.issuer)),
            ]).rendered() + "\n"
        case .env:
            // The variable names and order are oidc-token's, so scripts written for it keep working.
            return [("OIDC_AT", issued.token.revealed()), ("OIDC_ISS", issued.issuer),
                    ("OIDC_EXP", String(issued.expiresAt))]
                .map { name, value in "\(name)=\(shellWord(value)); export \(name);\n" }
                .joined()
        }
    }
}
