import FoundationEssentials
import Posix

/// One restriction clause of a mytoken (oidc-mytoken API v0). A mytoken with several clauses may
/// be used when any one clause allows the use; absent fields do not restrict.
public struct MytokenRestriction: Sendable, Equatable, Codable {
    /// Not usable before this unix time.
    public var notBefore: Int64?
    /// Not usable after this unix time.
    public var expiresAt: Int64?
    /// Space-separated scopes access tokens may carry.
    public var scope: String?
    public var audiences: [String]?
    /// IP addresses, CIDR ranges or host names the token may be used from.
    public var hosts: [String]?
    /// Country codes the token may only be used from.
    public var geoIPAllow: [String]?
    /// Country codes the token may not be used from.
    public var geoIPDisallow: [String]?
    /// How many access tokens this clause allows in total.
    public var usagesAT: Int64?
    /// How many other uses (sub-mytokens, transfer codes, …) this clause allows in total.
    public var usagesOther: Int64?

    public init(
        notBefore: Int64? = nil, expiresAt: Int64? = nil, scope: String? = nil, audiences: [String]? = nil,
        hosts: [String]? = nil, geoIPAllow: [String]? = nil, geoIPDisallow: [String]? = nil,
        usagesAT: Int64? = nil, usagesOther: Int64? = nil
    ) {
        self.notBefore = notBefore
        self.expiresAt = expiresAt
        self.scope = scope
        self.audiences = audiences
        self.hosts = hosts
        self.geoIPAllow = geoIPAllow
        self.geoIPDisallow = geoIPDisallow
        self.usagesAT = usagesAT
        self.usagesOther = usagesOther
    }

    /// True when the clause restricts nothing (the server would ignore it).
    public var isEmpty: Bool { self == MytokenRestriction() }

    /// The server's JSON keys. `ip` is the key older servers and clients used for `hosts`.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case notBefore = "nbf", expiresAt = "exp", scope, audiences = "audience", hosts
        case geoIPAllow = "geoip_allow", geoIPDisallow = "geoip_disallow"
        case usagesAT = "usages_AT", usagesOther = "usages_other"
    }

    /// Encodes as the server expects: unix seconds, unset or empty fields left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(notBefore, forKey: .notBefore)
        try container.encodeIfPresent(expiresAt, forKey: .expiresAt)
        if let scope, !scope.isEmpty { try container.encode(scope, forKey: .scope) }
        for (key, list) in [(CodingKeys.audiences, audiences), (.hosts, hosts),
                            (.geoIPAllow, geoIPAllow), (.geoIPDisallow, geoIPDisallow)] {
            if let list, !list.isEmpty { try container.encode(list, forKey: key) }
        }
        try container.encodeIfPresent(usagesAT, forKey: .usagesAT)
        try container.encodeIfPresent(usagesOther, forKey: .usagesOther)
    }

    /// Decodes the server's own JSON (numbers only, as in a response or a token's claims).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        notBefore = try container.decodeIfPresent(Int64.self, forKey: .notBefore)
        expiresAt = try container.decodeIfPresent(Int64.self, forKey: .expiresAt)
        scope = try container.decodeIfPresent(String.self, forKey: .scope)
        audiences = try container.decodeIfPresent([String].self, forKey: .audiences)
        hosts = try container.decodeIfPresent([String].self, forKey: .hosts)
        geoIPAllow = try container.decodeIfPresent([String].self, forKey: .geoIPAllow)
        geoIPDisallow = try container.decodeIfPresent([String].self, forKey: .geoIPDisallow)
        usagesAT = try container.decodeIfPresent(Int64.self, forKey: .usagesAT)
        usagesOther = try container.decodeIfPresent(Int64.self, forKey: .usagesOther)
    }

    /// The clause as compact JSON with sorted keys (for display and tests).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// The restriction options of the mytoken client, which together build one clause:
/// `--nbf`, `--exp`, `-s/--scope` (repeatable), `--aud` (repeatable), `--host` (repeatable),
/// `--geo-ip-allow`, `--geo-ip-disallow` (repeatable), `--usages-at`, `--usages-other`.
public struct MytokenRestrictionOptions: Sendable, Equatable {
    public var notBefore: String?
    public var expiresAt: String?
    public var scopes: [String]
    public var audiences: [String]
    public var hosts: [String]
    public var geoIPAllow: [String]
    public var geoIPDisallow: [String]
    public var usagesAT: Int64?
    public var usagesOther: Int64?

    public init(
        notBefore: String? = nil, expiresAt: String? = nil, scopes: [String] = [], audiences: [String] = [],
        hosts: [String] = [], geoIPAllow: [String] = [], geoIPDisallow: [String] = [],
        usagesAT: Int64? = nil, usagesOther: Int64? = nil
    ) {
        self.notBefore = notBefore
        self.expiresAt = expiresAt
        self.scopes = scopes
        self.audiences = audiences
        self.hosts = hosts
        self.geoIPAllow = geoIPAllow
        self.geoIPDisallow = geoIPDisallow
        self.usagesAT = usagesAT
        self.usagesOther = usagesOther
    }

    /// True when no option was given.
    public var isEmpty: Bool { self == MytokenRestrictionOptions() }

    /// The one clause these options describe, or nil when none was given.
    public func clause(times: MytokenTimeParser) throws(MytokenError) -> MytokenRestriction? {
        guard !isEmpty else { return nil }
        var clause = MytokenRestriction()
        clause.notBefore = try notBefore.map { (text) throws(MytokenError) in try times.parse(text) }
        clause.expiresAt = try expiresAt.map { (text) throws(MytokenError) in try times.parse(text) }
        try Self.checkWindow(clause)
        let scopeList = try MytokenRestrictionInput.words(scopes, option: "--scope")
        clause.scope = scopeList.isEmpty ? nil : scopeList.joined(separator: " ")
        clause.audiences = try MytokenRestrictionInput.list(audiences, option: "--aud")
        clause.hosts = try MytokenRestrictionInput.list(hosts, option: "--host")
        clause.geoIPAllow = try MytokenRestrictionInput.countries(geoIPAllow, option: "--geo-ip-allow")
        clause.geoIPDisallow = try MytokenRestrictionInput.countries(geoIPDisallow, option: "--geo-ip-disallow")
        clause.usagesAT = try MytokenRestrictionInput.count(usagesAT, option: "--usages-at")
        clause.usagesOther = try MytokenRestrictionInput.count(usagesOther, option: "--usages-other")
        return clause
    }

    static func checkWindow(_ clause: MytokenRestriction) throws(MytokenError) {
        if let notBefore = clause.notBefore, let expiresAt = clause.expiresAt, expiresAt <= notBefore {
            throw .invalidRestriction(
                "exp (\(expiresAt)) is not after nbf (\(notBefore)): the token could never be used")
        }
    }
}

/// Reading restrictions as the user writes them.
public enum MytokenRestrictionInput {
    /// The JSON keys a clause may have (`ip` is the older name of `hosts`).
    public static let acceptedKeys = MytokenRestriction.CodingKeys.allCases.map(\.rawValue) + ["ip"]

    /// The restrictions a command line asks for: `--restriction` (JSON or @FILE) or the single-clause
    /// options, never both — the mytoken client silently lets `--restriction` win, which would drop
    /// options the user typed.
    public static func resolve(
        restriction: String?, options: MytokenRestrictionOptions, times: MytokenTimeParser
    ) throws(MytokenError) -> [MytokenRestriction] {
        if let restriction {
            guard options.isEmpty else {
                throw .invalidRestriction(
                    "use either --restriction or the options --nbf, --exp, --scope, --aud, --host, --geo-ip-allow, "
                    + "--geo-ip-disallow, --usages-at, --usages-other, not both")
            }
            return try parse(restriction, times: times)
        }
        return try options.clause(times: times).map { [$0] } ?? []
    }

    /// Parses a `--restriction` argument: a JSON array of clauses, one JSON object, or `@FILE`
    /// holding either. `nbf`/`exp` may be unix seconds or time strings in any form
    /// `MytokenTimeParser` accepts. Empty clauses are dropped (as the mytoken client does); unknown
    /// keys are an error, because a silently ignored misspelt key would leave a token wider than meant.
    public static func parse(_ argument: String, times: MytokenTimeParser) throws(MytokenError) -> [MytokenRestriction] {
        let text: String
        if argument.hasPrefix("@") {
            let path = String(argument.dropFirst())
            guard !path.isEmpty else { throw .invalidRestriction("'@' must be followed by a file name") }
            do throws(Errno) {
                text = String(decoding: try Posix.readFile(path), as: UTF8.self)
            } catch {
                throw .invalidRestriction("cannot read restrictions file '\(path)': \(error)")
            }
        } else {
            text = argument
        }
        return try parseJSON(Data(text.utf8), times: times)
    }

    /// Parses JSON text (an array of clauses or one clause object).
    public static func parseJSON(_ data: Data, times: MytokenTimeParser) throws(MytokenError) -> [MytokenRestriction] {
        let value: MytokenJSON
        do {
            value = try JSONDecoder().decode(MytokenJSON.self, from: data)
        } catch {
            throw .invalidRestriction(
                "not valid JSON: give a JSON object, a JSON array of objects, or @FILE holding one")
        }
        let objects: [MytokenJSON]
        switch value {
        case .array(let array): objects = array
        case .object: objects = [value]
        default: throw .invalidRestriction("expected a JSON object or a JSON array of objects")
        }
        var clauses: [MytokenRestriction] = []
        for (index, element) in objects.enumerated() {
            guard case .object(let object) = element else {
                throw .invalidRestriction("clause \(index + 1) is not a JSON object")
            }
            let clause = try clause(object, number: index + 1, times: times)
            if !clause.isEmpty { clauses.append(clause) }
        }
        return clauses
    }

    static func clause(_ object: [String: MytokenJSON], number: Int, times: MytokenTimeParser) throws(MytokenError) -> MytokenRestriction {
        var clause = MytokenRestriction()
        for key in object.keys.sorted() {
            let value = object[key]!
            let field = "clause \(number) '\(key)'"
            switch key {
            case "nbf": clause.notBefore = try time(value, field: field, times: times)
            case "exp": clause.expiresAt = try time(value, field: field, times: times)
            case "scope":
                switch value {
                case .null: break
                case .string(let text):
                    let scopeList = try words([text], option: field)
                    clause.scope = scopeList.isEmpty ? nil : scopeList.joined(separator: " ")
                default: throw .invalidRestriction("\(field) must be a string of space-separated scopes")
                }
            case "audience": clause.audiences = try strings(value, field: field)
            case "hosts", "ip":
                if let hosts = try strings(value, field: field) {
                    clause.hosts = (clause.hosts ?? []) + hosts.filter { !(clause.hosts ?? []).contains($0) }
                }
            case "geoip_allow": clause.geoIPAllow = try countries(strings(value, field: field) ?? [], option: field)
            case "geoip_disallow":
                clause.geoIPDisallow = try countries(strings(value, field: field) ?? [], option: field)
            case "usages_AT": clause.usagesAT = try count(value, field: field)
            case "usages_other": clause.usagesOther = try count(value, field: field)
            default:
                throw .invalidRestriction(
                    "clause \(number) has unknown key '\(key)' (accepted: \(acceptedKeys.joined(separator: ", ")))")
            }
        }
        try MytokenRestrictionOptions.checkWindow(clause)
        return clause
    }

    private static func time(_ value: MytokenJSON, field: String, times: MytokenTimeParser) throws(MytokenError) -> Int64? {
        switch value {
        case .null: return nil
        case .string(let text): return text.isEmpty ? nil : try times.parse(text)
        case .integer(let seconds) where seconds >= 0: return seconds
        default:
            throw .invalidRestriction(
                "\(field) must be unix seconds or a time string: \(MytokenTimeParser.acceptedForms)")
        }
    }

    private static func count(_ value: MytokenJSON, field: String) throws(MytokenError) -> Int64? {
        switch value {
        case .null: return nil
        case .integer(let count): return try self.count(count, option: field)
        default: throw .invalidRestriction("\(field) must be a whole number of uses (0 or more)")
        }
    }

    private static func strings(_ value: MytokenJSON, field: String) throws(MytokenError) -> [String]? {
        let raw: [MytokenJSON]
        switch value {
        case .null: return nil
        case .string: raw = [value]
        case .array(let array): raw = array
        default: throw .invalidRestriction("\(field) must be an array of strings")
        }
        var result: [String] = []
        for item in raw {
            guard case .string(let text) = item else {
                throw .invalidRestriction("\(field) must be an array of strings")
            }
            result.append(text)
        }
        return try list(result, option: field)
    }

    // Shared validation for options and JSON.

    /// Splits each value on whitespace (so `-s "openid profile"` works), drops duplicates.
    static func words(_ values: [String], option: String) throws(MytokenError) -> [String] {
        var seen: [String] = []
        for value in values {
            let parts = value.split(whereSeparator: \.isWhitespace).map(String.init)
            if parts.isEmpty { throw .invalidRestriction("\(option) value '\(value)' is empty") }
            for part in parts where !seen.contains(part) { seen.append(part) }
        }
        return seen
    }

    static func list(_ values: [String], option: String) throws(MytokenError) -> [String]? {
        var result: [String] = []
        for value in values {
            let trimmed = value.trimmingWhitespace()
            guard !trimmed.isEmpty, !trimmed.contains(where: \.isWhitespace) else {
                throw .invalidRestriction("\(option) value '\(value)' must be one non-empty word")
            }
            if !result.contains(trimmed) { result.append(trimmed) }
        }
        return result.isEmpty ? nil : result
    }

    static func countries(_ values: [String], option: String) throws(MytokenError) -> [String]? {
        for value in values where !(value.count == 2 && value.allSatisfy { $0.isASCII && $0.isLetter }) {
            throw .invalidRestriction("\(option) value '\(value)' is not a two-letter country code (e.g. 'de', 'us')")
        }
        return try list(values, option: option)
    }

    static func count(_ value: Int64?, option: String) throws(MytokenError) -> Int64? {
        guard let value else { return nil }
        guard value >= 0 else { throw .invalidRestriction("\(option) value '\(value)' must be 0 or more") }
        return value
    }
}
