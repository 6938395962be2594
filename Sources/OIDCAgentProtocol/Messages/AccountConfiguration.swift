import FoundationEssentials
import OIDC
import Secrets
import TesseraNames

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
    /// The client's registered redirect URIs (oidc-agent's loopback ports): `login --browser`
    /// must use one of them.
    public var redirectURIs: [String]
    /// RFC 7592 management of a client oidc-gen registered: deleted with the account.
    public var registrationAccessToken: Secret?
    public var registrationClientURI: String?
    /// Keys with a value that Tessera does not keep (the password-flow credentials, a custom CA
    /// bundle, …), named so the import can say so (`OIDCAgentImportKeys`).
    public var ignored: [String]

    /// The largest configuration accepted (real ones are a few kilobytes).
    public static let maxBytes = 256 * 1024

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
        if let value = fields["redirect_uris"], !value.isNull {
            guard let uris = value.stringsValue else {
                throw RequestError("'redirect_uris' in the configuration must be a list of strings")
            }
            redirectURIs = uris.filter { !$0.isEmpty }
        } else {
            redirectURIs = []
        }
        registrationAccessToken = try string("registration_access_token").map(Secret.init)
        registrationClientURI = try string("registration_client_uri")
        ignored = OIDCAgentImportKeys.notImported(fields.mapValues(Self.importValue))
    }

    static func importValue(_ value: JSONValue) -> OIDCAgentImportKeys.Value {
        switch value {
        case .null: .empty
        case .string(let text): text.isEmpty ? .empty : .text(text)
        case .array(let list): list.isEmpty ? .empty : .other("list")
        case .object(let object): object.isEmpty ? .empty : .other("object")
        case .integer(let number): .other(String(number))
        case .number(let number): .other(String(number))
        case .bool(let flag): .other(String(flag))
        }
    }
}
