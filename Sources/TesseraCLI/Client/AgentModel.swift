/// What `tessera token` asks for.
struct TokenRequest: Sendable, Equatable {
    var account: String
    var scopes: [String]
    var audience: [String]
    var minValid: UInt32?
    var force: Bool
    /// `--name`: how the caller calls itself (shown in a login notification next to the verified program).
    var application: String? = nil
}

/// A started device flow: its object at the service and what the user needs to approve it.
struct DeviceFlowStart: Sendable {
    var path: String
    var userCode: String
    var verificationURI: String
    var verificationURIComplete: String?
    /// Unix time the code expires; 0 when unknown.
    var expiresAt: Int64
}

/// How a device flow ended.
enum FlowOutcome: Sendable {
    case completed
    case failed(CLIError)
}

/// One account as `ListAccounts` describes it; the settings are kept in the service's order and
/// shown generically, so a setting the service adds later shows up without a CLI change.
struct AccountView: Sendable {
    var name: String
    var fields: [(String, JSONValue)]

    subscript(key: String) -> JSONValue? { fields.first { $0.0 == key }?.1 }

    var json: JSONValue { .object([("name", .string(name))] + fields) }

    /// A setting as one line of text: lists joined by spaces, absent as "-".
    func text(_ key: String) -> String { self[key].map(Self.plainText) ?? "-" }

    var loginState: String {
        switch self["logged-in"] {
        case .bool(true): "logged in"
        case .bool(false): "login required"
        default: "unknown"
        }
    }

    /// The cached access tokens' expiry, e.g. "expires in 4m 12s", from `token-expires-at` (x or ax).
    var tokenExpiryText: String {
        let expiries: [Int64] = switch self["token-expires-at"] {
        case .integer(let value): [value]
        case .array(let values): values.compactMap { if case .integer(let value) = $0 { value } else { nil } }
        default: []
        }
        if self["token-expires-at"] == nil { return "-" }
        guard let latest = expiries.max(), latest > 0 else { return "none" }
        let count = expiries.count == 1 ? "" : "\(expiries.count) tokens, latest "
        return latest > Clock.now() ? "\(count)expires \(Clock.relative(latest))" : "\(count)expired"
    }

    static func plainText(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text.isEmpty ? "-" : text
        case .integer(let number): String(number)
        case .bool(let flag): flag ? "yes" : "no"
        case .null: "-"
        case .array(let items): items.isEmpty ? "-" : items.map(plainText).joined(separator: " ")
        case .object(let members): members.map { "\($0.0)=\(plainText($0.1))" }.joined(separator: " ")
        }
    }
}

/// What `status` says about the service itself.
struct ServiceInfo: Sendable {
    var version: String
    var uniqueName: String
    var fields: [(String, JSONValue)]
}
