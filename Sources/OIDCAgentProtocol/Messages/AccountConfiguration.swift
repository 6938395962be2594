import FoundationEssentials
import OIDC
import Secrets

/// An oidc-agent account configuration as `oidc-gen -p NAME` prints it (the decrypted JSON of
/// oidc-agent 4 and 5): what Tessera needs to take the account over without a new login.
public struct OIDCAgentAccountConfiguration: Sendable, Equatable {
    public var name: String?
    public var issuer: String
    public var clientID: String
    public var clientSecret: Secret?
    public var refreshToken: Secret?
    public var scopes: [String]
    public var audience: [String]
    /// Keys with a value that Tessera does not keep (redirect URIs, registration data, the
    /// password-flow credentials, …), named so the import can say so.
    public var ignored: [String]

    /// The largest configuration accepted (real ones are a few kilobytes).
    public static let maxBytes = 256 * 1024

    /// Keys read above, or carrying nothing worth a mention.
    static let used: Set<String> = ["name", "shortname", "issuer_url", "issuer", "client_id", "client_secret",
                                    "refresh_token", "scope", "audience", "client_name", "cert_path", "daeSetByUser",
                                    "device_authorization_endpoint", "username", "password"]

    public init(json text: String) throws(RequestError) {
        guard text.utf8.count <= Self.maxBytes else {
            throw RequestError("the configuration is larger than \(Self.maxBytes / 1024) KiB; is this `oidc-gen -p` output?")
        }
        guard let fields = JSONValue.parseObject(Data(text.utf8)) else {
            throw RequestError("the configuration is not a JSON object; pipe in what `oidc-gen -p NAME` prints")
        }
        func string(_ key: String) throws(RequestError) -> String? {
            guard let value = fields[key], !value.isNull else { return nil }
            guard let text = value.stringValue else { throw RequestError("'\(key)' in the configuration must be a string") }
            return text.isEmpty ? nil : text
        }
        func words(_ key: String) throws(RequestError) -> [String] {
            if let list = fields[key]?.stringsValue { return list.filter { !$0.isEmpty } }
            let text = try string(key)
            return (text ?? "").split(separator: " ").map(String.init)
        }
        let issuerURL = try string("issuer_url"), issuerName = try string("issuer")
        guard let issuer = issuerURL ?? issuerName else {
            throw RequestError("the configuration has no 'issuer_url'")
        }
        guard let clientID = try string("client_id") else {
            throw RequestError("the configuration has no 'client_id'")
        }
        self.issuer = issuer
        self.clientID = clientID
        let shortName = try string("name"), alternative = try string("shortname")
        name = shortName ?? alternative
        clientSecret = try string("client_secret").map(Secret.init)
        refreshToken = try string("refresh_token").map(Secret.init)
        scopes = try words("scope")
        audience = try words("audience")
        ignored = fields.compactMap { key, value -> String? in
            guard !Self.used.contains(key) else { return nil }
            if let text = value.stringValue, text.isEmpty { return nil }
            if let list = value.arrayValue, list.isEmpty { return nil }
            if value.isNull { return nil }
            return key
        }.sorted()
    }
}
