import Foundation

/// Any JSON value, keeping integers apart from fractions and booleans so `"usages_AT": true` or
/// `"exp": 1.5` are refused instead of silently converted. Used for what the mytoken API carries
/// as free JSON: restrictions with templates, profiles, tokeninfo answers.
public enum MytokenJSON: Codable, Sendable, Equatable {
    case null, bool(Bool), integer(Int64), number(Double), string(String)
    case array([MytokenJSON]), object([String: MytokenJSON])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([MytokenJSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: MytokenJSON].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON text; nil when it is not JSON.
    public static func parse(_ data: Data) -> MytokenJSON? {
        try? JSONDecoder().decode(MytokenJSON.self, from: data)
    }

    /// Compact JSON with sorted keys.
    public var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "null"
    }

    /// The value as Foundation objects, for `JSONSerialization` request bodies.
    public var foundation: any Sendable {
        switch self {
        case .null: NSNull()
        case .bool(let value): value
        case .integer(let value): value
        case .number(let value): value
        case .string(let value): value
        case .array(let value): value.map(\.foundation)
        case .object(let value): value.mapValues(\.foundation)
        }
    }

    /// The value read from a `JSONSerialization` result.
    public static func from(foundation value: Any?) -> MytokenJSON {
        guard let value, !(value is NSNull) else { return .null }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]),
           let json = parse(data) { return json }
        return .null
    }

    public subscript(key: String) -> MytokenJSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    public var integerValue: Int64? { if case .integer(let value) = self { value } else { nil } }
    public var boolValue: Bool? { if case .bool(let value) = self { value } else { nil } }
    public var arrayValue: [MytokenJSON]? { if case .array(let value) = self { value } else { nil } }
    public var objectValue: [String: MytokenJSON]? { if case .object(let value) = self { value } else { nil } }
}
