import FoundationEssentials
import OIDC

/// Which account a token request names: oidc-agent clients send `account` (a short name) or,
/// for an argument starting with `https://`, `issuer` (the first account of that provider).
public enum AccountSelector: Sendable, Equatable, CustomStringConvertible {
    case account(String)
    case issuer(String)

    /// What Tessera's `GetToken` takes for either: a name or an issuer URL.
    public var nameOrIssuer: String {
        switch self {
        case .account(let name): name
        case .issuer(let url): url
        }
    }

    public var description: String {
        switch self {
        case .account(let name): "account \(name)"
        case .issuer(let url): "issuer \(url)"
        }
    }
}

/// `access_token`: `min_valid_period` -1 means "a new token" (`oidc-token -f`).
public struct AccessTokenRequest: Sendable, Equatable {
    public var selector: AccountSelector
    /// Seconds the token must stay valid; nil when the client sent none.
    public var minValidPeriod: Int?
    public var scopes: [String]?
    public var audience: [String]?
    public var applicationHint: String?

    /// `min_valid_period: -1`: force a refresh.
    public var force: Bool { minValidPeriod == -1 }
}

/// `id_token` (oidc-agent 5.x; `oidc-token --id-token`).
public struct IDTokenRequest: Sendable, Equatable {
    public var selector: AccountSelector
    public var scopes: [String]?
    public var applicationHint: String?
}

/// One request as oidc-agent's clients send it, plaintext JSON once decrypted. Unknown keys are
/// ignored (the Go library adds `mytoken_profile`, newer clients add more).
public enum AgentRequest: Sendable, Equatable {
    case accessToken(AccessTokenRequest)
    case idToken(IDTokenRequest)
    case check
    case loadedAccounts
    case accountInfo
    /// A request type Tessera does not serve (`add`, `remove`, `gen`, …), answered as oidc-agent
    /// answers an unknown one. Carries the name for the log, if there was one.
    case unknown(String?)

    /// The longest field value accepted; a longer one is a bad request, not a crash.
    public static let maxFieldBytes = 4096

    /// Parses one request. Throws `AgentReply`-ready failures for a body that is not a JSON
    /// object or lacks what its request type needs.
    public init(json bytes: UnsafeRawBufferPointer) throws(RequestError) {
        guard let object = JSONValue.parse(Data(bytes)) else {
            throw RequestError("Bad Request: the request is not JSON.")
        }
        guard let fields = object.objectValue else { throw RequestError("Bad Request: the request is not a JSON object.") }
        let reader = FieldReader(fields: fields)
        guard let type = try reader.string("request") else {
            throw RequestError("Bad Request: Required field 'request' not present.")
        }
        switch type {
        case "access_token":
            self = .accessToken(AccessTokenRequest(
                selector: try reader.selector(), minValidPeriod: try reader.integer("min_valid_period"),
                scopes: try reader.words("scope"), audience: try reader.words("audience"),
                applicationHint: try reader.string("application_hint")))
        case "id_token":
            self = .idToken(IDTokenRequest(selector: try reader.selector(), scopes: try reader.words("scope"),
                                           applicationHint: try reader.string("application_hint")))
        case "check": self = .check
        case "loaded_accounts": self = .loadedAccounts
        case "account_info": self = .accountInfo
        default: self = .unknown(String(type.prefix(64)))
        }
    }
}

/// A request the server answers with a failure instead of passing it on.
public struct RequestError: Error, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// Typed, bounded access to the request's fields. Types are checked loosely the way oidc-agent's
/// own parser is (a number may come as a string), but never silently wrong.
private struct FieldReader {
    let fields: [String: JSONValue]

    func string(_ key: String) throws(RequestError) -> String? {
        guard let value = fields[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw RequestError("Bad Request: '\(key)' must be a string.") }
        guard text.utf8.count <= AgentRequest.maxFieldBytes else {
            throw RequestError("Bad Request: '\(key)' is longer than \(AgentRequest.maxFieldBytes) bytes.")
        }
        return text
    }

    /// A space-separated list; empty means "not given" (oidc-token sends `""` for no scope).
    func words(_ key: String) throws(RequestError) -> [String]? {
        guard let text = try string(key) else { return nil }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        return words.isEmpty ? nil : words
    }

    func integer(_ key: String) throws(RequestError) -> Int? {
        guard let value = fields[key], !value.isNull else { return nil }
        if let number = value.integerValue, abs(number) < 1_000_000_000_000 { return Int(number) }
        if case .number(let number) = value, number.rounded() == number, abs(number) < 1e12 { return Int(number) }
        if let text = value.stringValue, text.utf8.count <= 16, let number = Int(text.trimmingWhitespace()) {
            return number
        }
        throw RequestError("Bad Request: '\(key)' must be a whole number of seconds.")
    }

    func selector() throws(RequestError) -> AccountSelector {
        if let account = try string("account"), !account.isEmpty { return .account(account) }
        if let issuer = try string("issuer"), !issuer.isEmpty { return .issuer(issuer) }
        throw RequestError("Bad Request: Required field 'account' or 'issuer' not present.")
    }
}
