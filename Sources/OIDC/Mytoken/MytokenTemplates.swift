import FoundationEssentials

/// The kinds of server-side templates a mytoken server keeps (its `profiles_endpoint`).
public enum MytokenTemplateKind: String, Sendable, CaseIterable {
    case profiles, capabilities, restrictions, rotation
}

/// One template or profile as the server lists it: the payload is already resolved (includes
/// merged, relative times computed at listing time).
public struct MytokenTemplate: Sendable, Equatable {
    public var id: String
    public var name: String
    public var payload: MytokenJSON

    public init(id: String, name: String, payload: MytokenJSON) {
        self.id = id
        self.name = name
        self.payload = payload
    }
}

/// Reading `--restriction`, `--capability`, `--rotation` and `--profile` the way the mytoken
/// client (0.7, `internal/commands/mt.go`) does: JSON is sent as JSON, anything else is one or
/// more space-separated names of templates the server resolves (`{"include": …}` for
/// restrictions and rotation, `@name` for capabilities, a top-level `include` for profiles).
/// Files are read by the caller (the service never opens a path a D-Bus peer names) and passed
/// as text with `source` naming them, so errors name the file.
///
/// Relative times (`"exp": "+1d"`) in JSON stay relative: the server computes them when it
/// creates the token, exactly as for its own templates. Absolute local times
/// (`"2006-01-02 15:04"`) are turned into unix seconds here, because the server would read them in
/// its own time zone.
public enum MytokenTemplateInput {
    /// The keys a rotation object may have.
    public static let rotationKeys = ["on_AT", "on_other", "lifetime", "auto_revoke", "include"]
    /// The keys a profile (a JSON `--profile`) may have.
    public static let profileKeys = ["restrictions", "capabilities", "subtoken_capabilities", "rotation", "name",
                                     "response_type", "max_token_len", "application_name", "include"]

    /// True when `text` is meant as JSON (it starts with `{` or `[`), so a typo in it is a JSON
    /// error and not an unknown template name.
    public static func looksLikeJSON(_ text: String) -> Bool {
        guard let first = text.first(where: { !$0.isWhitespace }) else { return false }
        return first == "{" || first == "["
    }

    /// `--restriction`: the value of the request's `restrictions` field.
    public static func restrictions(_ text: String, times: MytokenTimeParser, source: String? = nil)
        throws(MytokenError) -> MytokenJSON
    {
        if !looksLikeJSON(text) {
            if let source {
                throw .invalidRestriction("the restrictions file \(source) must contain a JSON object or array")
            }
            return .array([includeClause(try names(text, what: "restriction template"))])
        }
        let value = try parse(text, what: "restrictions", source: source)
        return try restrictions(json: value, times: times, source: source)
    }

    /// Restrictions given as a JSON value (from `--restriction` or inside a JSON profile).
    static func restrictions(json value: MytokenJSON, times: MytokenTimeParser, source: String?)
        throws(MytokenError) -> MytokenJSON
    {
        let prefix = source.map { "in \($0): " } ?? ""
        let elements: [MytokenJSON]
        switch value {
        case .array(let array): elements = array
        case .object: elements = [value]
        case .string(let text): return .array([includeClause(try names(text, what: "restriction template"))])
        default: throw .invalidRestriction(prefix + "expected a JSON object or a JSON array of objects")
        }
        var clauses: [MytokenJSON] = []
        for (index, element) in elements.enumerated() {
            switch element {
            case .object(let object):
                do {
                    if let clause = try clause(object, number: index + 1, times: times) { clauses.append(clause) }
                } catch {
                    throw error.prefixed(prefix)
                }
            case .string(let text):
                // The server resolves a name in the clause list like a clause that includes it.
                clauses.append(.string(try names(text, what: "restriction template").joined(separator: " ")))
            default:
                throw .invalidRestriction(prefix + "clause \(index + 1) is neither a JSON object nor a template name")
            }
        }
        return .array(clauses)
    }

    /// One clause on the wire: checked like a plain clause, `include` kept, relative times kept.
    private static func clause(_ object: [String: MytokenJSON], number: Int, times: MytokenTimeParser)
        throws(MytokenError) -> MytokenJSON?
    {
        var plain = object
        let include = plain.removeValue(forKey: "include")
        var checked = try MytokenRestrictionInput.clause(plain, number: number, times: times)
        var wire: [String: MytokenJSON] = [:]
        if !checked.isEmpty {
            // Relative times go as typed; the checked clause resolved them only to validate.
            let relative: [String: String] = ["nbf", "exp"].reduce(into: [:]) { result, key in
                if case .string(let text) = plain[key] ?? .null, text.hasPrefix("+") { result[key] = text }
            }
            if relative["nbf"] != nil { checked.notBefore = nil }
            if relative["exp"] != nil { checked.expiresAt = nil }
            if case .object(let encoded) = MytokenJSON.parse(Data(checked.jsonString().utf8)) ?? .null {
                wire = encoded
            }
            for (key, text) in relative { wire[key] = .string(text) }
        }
        if let include {
            let list: [String]
            switch include {
            case .string(let text): list = try names(text, what: "clause \(number) include")
            case .array(let items):
                var collected: [String] = []
                for item in items {
                    guard case .string(let text) = item else {
                        throw .invalidRestriction("clause \(number) 'include' must be template names (strings)")
                    }
                    collected += try names(text, what: "clause \(number) include")
                }
                list = collected
            case .null: list = []
            default: throw .invalidRestriction("clause \(number) 'include' must be a template name or a list of them")
            }
            if !list.isEmpty { wire["include"] = includeValue(list) }
        }
        return wire.isEmpty ? nil : .object(wire)
    }

    /// `--capability` values (repeatable): each a JSON array or space-separated names; `@name`
    /// names a capability template.
    public static func capabilities(_ values: [String], source: String? = nil) throws(MytokenError) -> [String] {
        var result: [String] = []
        for value in values {
            let items: [String]
            if looksLikeJSON(value) {
                guard case .array(let array) = try parse(value, what: "capabilities", source: source) else {
                    throw .invalidArgument((source.map { "\($0): " } ?? "") + "capabilities must be a JSON array of strings")
                }
                var strings: [String] = []
                for item in array {
                    guard case .string(let text) = item else {
                        throw .invalidArgument((source.map { "\($0): " } ?? "") + "capabilities must be a JSON array of strings")
                    }
                    strings.append(text)
                }
                items = strings
            } else {
                if let source { throw .invalidArgument("the capabilities file \(source) must contain a JSON array") }
                items = value.split(whereSeparator: \.isWhitespace).map(String.init)
            }
            for item in items {
                try checkName(item, what: "capability")
                if item == "@" { throw .invalidArgument("'@' must be followed by a capability template name") }
                if !result.contains(item) { result.append(item) }
            }
        }
        guard !result.isEmpty else { throw .invalidArgument("no capability given") }
        return result
    }

    /// `--rotation`: a JSON object or space-separated rotation template names.
    public static func rotation(_ text: String, source: String? = nil) throws(MytokenError) -> MytokenRotation {
        guard looksLikeJSON(text) else {
            if let source { throw .invalidArgument("the rotation file \(source) must contain a JSON object") }
            return MytokenRotation(include: try names(text, what: "rotation template"))
        }
        return try rotation(json: parse(text, what: "rotation", source: source), source: source)
    }

    static func rotation(json value: MytokenJSON, source: String?) throws(MytokenError) -> MytokenRotation {
        let prefix = source.map { "\($0): " } ?? ""
        if case .string(let text) = value { return MytokenRotation(include: try names(text, what: "rotation template")) }
        guard case .object(let object) = value else { throw .invalidArgument(prefix + "rotation must be a JSON object") }
        var rotation = MytokenRotation()
        for key in object.keys.sorted() {
            let item = object[key]!
            func flag() throws(MytokenError) -> Bool {
                guard case .bool(let flag) = item else { throw .invalidArgument(prefix + "rotation '\(key)' must be true or false") }
                return flag
            }
            switch key {
            case "on_AT": rotation.onAccessToken = try flag()
            case "on_other": rotation.onOther = try flag()
            case "auto_revoke": rotation.autoRevoke = try flag()
            case "lifetime":
                guard case .integer(let seconds) = item, seconds >= 0 else {
                    throw .invalidArgument(prefix + "rotation 'lifetime' must be whole seconds (0 or more)")
                }
                rotation.lifetime = seconds > 0 ? UInt64(seconds) : nil
            case "include":
                switch item {
                case .string(let text): rotation.include = try names(text, what: "rotation template")
                case .array(let items):
                    for entry in items {
                        guard case .string(let text) = entry else {
                            throw .invalidArgument(prefix + "rotation 'include' must be template names")
                        }
                        rotation.include += try names(text, what: "rotation template")
                    }
                default: throw .invalidArgument(prefix + "rotation 'include' must be a template name or a list of them")
                }
            default:
                throw .invalidArgument(prefix + "rotation has unknown key '\(key)' (accepted: \(rotationKeys.joined(separator: ", ")))")
            }
        }
        return rotation
    }

    /// `--profile`: a JSON object (the request's fields) or space-separated profile names.
    public static func profile(_ text: String, times: MytokenTimeParser) throws(MytokenError) -> MytokenProfile {
        guard looksLikeJSON(text) else { return MytokenProfile(include: try names(text, what: "profile")) }
        guard case .object(let object) = try parse(text, what: "profile", source: nil) else {
            throw .invalidArgument("a JSON profile must be a JSON object")
        }
        var profile = MytokenProfile()
        for key in object.keys.sorted() {
            let value = object[key]!
            switch key {
            case "restrictions":
                profile.fields[key] = try restrictions(json: value, times: times, source: nil)
            case "capabilities", "subtoken_capabilities":
                let list: [String]
                switch value {
                case .string(let text): list = try capabilities([text])
                case .array: list = try capabilities([value.text])
                default: throw .invalidArgument("profile '\(key)' must be a list of capabilities")
                }
                profile.fields[key] = .array(list.map(MytokenJSON.string))
            case "rotation":
                let rotation = try rotation(json: value, source: nil)
                profile.fields[key] = MytokenJSON.parse((try? JSONEncoder().encode(rotation)) ?? Data()) ?? .null
            case "name", "response_type", "application_name":
                guard case .string = value else { throw .invalidArgument("profile '\(key)' must be a string") }
                profile.fields[key] = value
            case "max_token_len":
                guard case .integer(let length) = value, length > 0 else {
                    throw .invalidArgument("profile 'max_token_len' must be a positive number")
                }
                profile.fields[key] = value
            case "include":
                switch value {
                case .string(let text): profile.include += try names(text, what: "profile")
                case .array(let items):
                    for item in items {
                        guard case .string(let text) = item else { throw .invalidArgument("profile 'include' must be profile names") }
                        profile.include += try names(text, what: "profile")
                    }
                default: throw .invalidArgument("profile 'include' must be a profile name or a list of them")
                }
            default:
                throw .invalidArgument("profile has unknown key '\(key)' (accepted: \(profileKeys.joined(separator: ", ")))")
            }
        }
        return profile
    }

    // MARK: Helpers

    /// Space-separated template names, each `name` or `group/name` (an `@` in front allowed).
    static func names(_ text: String, what: String) throws(MytokenError) -> [String] {
        let list = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard !list.isEmpty else { throw .invalidArgument("an empty \(what) name was given") }
        for name in list { try checkName(name, what: what) }
        return list
    }

    private static func checkName(_ name: String, what: String) throws(MytokenError) {
        let shown = name.count > 40 ? String(name.prefix(40)) + "…" : name
        let bare = name.hasPrefix("@") ? name.dropFirst() : Substring(name)
        if bare.hasPrefix("/") || bare.hasPrefix("./") || bare.hasPrefix("../") || bare.hasPrefix("~/") {
            // A path here means the caller did not read the file; the service never opens one.
            throw .invalidArgument("'\(shown)' looks like a file path, not a \(what) name; files are read by the "
                + "command line (give a path starting with ./, ../, / or ~/), never by the service")
        }
        guard name.count <= 256, name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }),
              !name.contains(where: { "\"'{}[],\\".contains($0) })
        else {
            throw .invalidArgument("'\(shown)' is not a \(what) name (JSON must start with { or [; a path with ./, ../, / or ~/)")
        }
    }

    private static func includeClause(_ names: [String]) -> MytokenJSON { .object(["include": includeValue(names)]) }

    /// One name as a string, several as a list (how the API's `IncludedProfiles` is written).
    static func includeValue(_ names: [String]) -> MytokenJSON {
        names.count == 1 ? .string(names[0]) : .array(names.map(MytokenJSON.string))
    }

    private static func parse(_ text: String, what: String, source: String?) throws(MytokenError) -> MytokenJSON {
        guard let value = MytokenJSON.parse(Data(text.utf8)) else {
            let place = source.map { "the \(what) file \($0) is not valid JSON" } ?? "the \(what) are not valid JSON"
            throw what == "restrictions" ? .invalidRestriction(place) : .invalidArgument(place)
        }
        return value
    }
}

/// A `--profile`: fields of a JSON profile (sent as the request's base, explicit options win, as
/// in the mytoken client) and names of server profiles (the request's top-level `include`; the
/// server merges them in, the request's own fields winning and lists being united).
public struct MytokenProfile: Sendable, Equatable {
    public var fields: [String: MytokenJSON]
    public var include: [String]

    public init(fields: [String: MytokenJSON] = [:], include: [String] = []) {
        self.fields = fields
        self.include = include
    }

    public var isEmpty: Bool { fields.isEmpty && include.isEmpty }
}

extension MytokenError {
    func prefixed(_ prefix: String) -> MytokenError {
        guard !prefix.isEmpty else { return self }
        switch self {
        case .invalidRestriction(let text): return .invalidRestriction(prefix + text)
        case .invalidArgument(let text): return .invalidArgument(prefix + text)
        case .invalidTimeValue(let text): return .invalidRestriction(prefix + MytokenError.invalidTimeValue(text).description)
        default: return self
        }
    }
}
