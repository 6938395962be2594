import TesseraAPI

/// What `tessera token` asks for.
struct TokenQuery: Sendable, Equatable {
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

/// One account as `ListAccounts` describes it: the contract's `AccountInfo` for what the CLI
/// reads, and the settings in the service's order for display, shown generically so a setting
/// the service adds later shows up without a CLI change.
struct AccountView: Sendable {
    var info: AccountInfo
    var fields: [(String, JSONValue)]

    var name: String { info.name }

    /// A setting by its wire key (for settings this CLI does not know by name).
    subscript(key: String) -> JSONValue? { fields.first { $0.0 == key }?.1 }

    var json: JSONValue { .object([("name", .string(name))] + fields) }

    /// A setting as one line of text: lists joined by spaces, absent as "-".
    func text(_ key: String) -> String { self[key].map(Self.plainText) ?? "-" }

    func text(_ key: AccountSetting) -> String { text(key.rawValue) }

    var loginState: String {
        switch info.loggedIn {
        case true?: "logged in"
        case false?: "login required"
        case nil: "unknown"
        }
    }

    /// The cached access tokens' expiry, e.g. "expires in 4m 12s", from `token-expires-at`.
    var tokenExpiryText: String {
        guard let expiries = info.tokenExpiresAt else { return "-" }
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
