/// Which keys of an oidc-agent account configuration (`oidc-gen -p NAME`) Tessera takes over: the
/// one rule the service (which imports) and the CLI (which tells the user what stayed behind) share.
public enum OIDCAgentImportKeys {
    /// Taken over: into the account file, or the secrets into the keyring.
    public static let imported: Set<String> = [
        "issuer_url", "issuer", "client_id", "client_secret", "refresh_token", "scope", "audience",
        "redirect_uris", "registration_access_token", "registration_client_uri",
    ]

    /// Present in every configuration and carrying nothing Tessera needs: names, what discovery
    /// and the registration answer say again, oidc-agent's own bookkeeping.
    static let carryingNothing: Set<String> = [
        "name", "shortname", "client_name", "daeSetByUser", "grant_types", "response_types",
        "token_endpoint_auth_method", "application_type", "subject_type", "id_token_signed_response_alg",
        "client_id_issued_at", "client_secret_expires_at",
    ]

    /// The CA bundles distributions ship, which `cert_path` names by default: nothing to carry.
    static let systemCertificateBundles: Set<String> = [
        "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/ssl/cert.pem",
    ]

    /// A configuration value as far as this rule cares.
    public enum Value: Sendable, Equatable {
        /// Null, "", [] or {}.
        case empty
        case text(String)
        /// A number, a boolean, a non-empty list or object.
        case other(String)
    }

    /// The keys that hold something Tessera does not keep, sorted: the user is told about them.
    /// A device authorization endpoint counts only when the user set it (`daeSetByUser`), a
    /// certificate path only when it is not the system bundle.
    public static func notImported(_ fields: [String: Value]) -> [String] {
        fields.compactMap { key, value -> String? in
            if imported.contains(key) || carryingNothing.contains(key) || value == .empty { return nil }
            switch key {
            case "device_authorization_endpoint":
                let setByUser = fields["daeSetByUser"]
                return setByUser == .text("1") || setByUser == .other("1") || setByUser == .other("true") ? key : nil
            case "cert_path":
                if case .text(let path) = value, systemCertificateBundles.contains(path) { return nil }
                return key
            default:
                return key
            }
        }.sorted()
    }
}
