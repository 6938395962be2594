import Secrets

/// An access token as the service handed it out, with what the provider said about it.
public struct IssuedToken: Sendable, Equatable {
    public var token: Secret
    /// Seconds since the epoch; 0 when the provider gave no lifetime.
    public var expiresAt: Int64
    public var tokenType: String
    public var scopes: [String]
    public var audience: [String]
    public var issuer: String

    public init(token: Secret, expiresAt: Int64, tokenType: String = "Bearer", scopes: [String] = [],
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
    /// oidc-token's `-o`/`-i`/`-e`: one of them prints its value alone, several print their export lines.
    case fields(Set<TokenField>)
    /// oidc-token's `-o`/`-i`/`-e` with variable names (`-oMY_AT`, also with `-c`): export lines
    /// for these values, each under its name or oidc-token's default.
    case exports(Set<TokenField>, names: [TokenField: String])
    /// oidc-token's `-a`: token, issuer and expiry, one per line.
    case all
    /// `Authorization: Bearer …` (`--bearer`, `--auth-header`), e.g. for `curl -H "$(tessera token x --bearer)"`.
    case authorizationHeader

    public func render(_ issued: IssuedToken) -> String {
        switch self {
        case .plain:
            return issued.token.reveal() + "\n"
        case .json:
            return JSONValue.object([
                ("token", .string(issued.token.reveal())),
                ("expires_at", .integer(issued.expiresAt)),
                ("token_type", .string(issued.tokenType)),
                ("scopes", .array(issued.scopes.map(JSONValue.string))),
                ("audience", .array(issued.audience.map(JSONValue.string))),
                ("issuer", .string(issued.issuer)),
            ]).rendered() + "\n"
        case .env:
            return Self.fields([.token, .issuer, .expiresAt]).render(issued)
        case .fields(let fields):
            let chosen = TokenField.allCases.filter(fields.contains)
            if chosen.count == 1 { return chosen[0].value(of: issued) + "\n" }
            // The variable names and order are oidc-token's, so scripts written for it keep working.
            return chosen.map { field in "\(field.variable)=\(shellWord(field.value(of: issued))); export \(field.variable);\n" }
                .joined()
        case .exports(let fields, let names):
            return TokenField.allCases.filter(fields.contains).map { field in
                let variable = names[field] ?? field.variable
                return "\(variable)=\(shellWord(field.value(of: issued))); export \(variable);\n"
            }.joined()
        case .all:
            return [TokenField.token, .issuer, .expiresAt].map { $0.value(of: issued) + "\n" }.joined()
        case .authorizationHeader:
            return "Authorization: Bearer \(issued.token.reveal())\n"
        }
    }
}

/// What oidc-token's `-o`, `-i` and `-e` pick, in the order it prints them.
public enum TokenField: CaseIterable, Sendable, Hashable {
    case token, issuer, expiresAt

    var variable: String {
        switch self {
        case .token: "OIDC_AT"
        case .issuer: "OIDC_ISS"
        case .expiresAt: "OIDC_EXP"
        }
    }

    func value(of issued: IssuedToken) -> String {
        switch self {
        case .token: issued.token.reveal()
        case .issuer: issued.issuer
        case .expiresAt: String(issued.expiresAt)
        }
    }
}
