import DBus

// The one `a{sv}` codec of the contract: an options struct lists its fields once, as typed keys
// (`OptionField(GetTokenOption.scopes, \.scopes)`), and gets its encoder and its strict decoder
// from that list. Decoding rejects unknown keys and wrong types with the field named.

/// A malformed argument: the field it concerns and why. The service answers it as
/// `io.tessera.Agent1.Error.InvalidArgument`.
public struct ArgumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(field: String, reason: String) { self.field = field; self.reason = reason }
    public var description: String { "invalid \(field): \(reason)" }
}

/// Reading of an `a{sv}`. Strict (an argument the service takes): every key must be known and of
/// its declared type. Lenient (an answer the CLI reads): keys it does not know, which a newer
/// service may send, and values of another type are passed over.
public struct OptionReader {
    private let options: [String: Variant]
    private let lenient: Bool

    public init(_ options: [String: Variant], allowed: [String]) throws(ArgumentError) {
        for key in options.keys.sorted() where !allowed.contains(key) {
            throw ArgumentError(field: key, reason: "is not a known option (known: \(allowed.joined(separator: ", ")))")
        }
        self.options = options
        lenient = false
    }

    public init(lenient options: [String: Variant]) {
        self.options = options
        lenient = true
    }

    public func value<T: DBusRepresentable>(_ key: String, as type: T.Type = T.self) throws(ArgumentError) -> T? {
        guard let variant = options[key] else { return nil }
        do { return try variant.get(T.self) } catch {
            if lenient { return nil }
            throw ArgumentError(field: key, reason: "must be of type '\(T.dbusSignature.rawValue)', not '\(variant.value.signature.rawValue)'")
        }
    }
}

/// One optional field of an options struct and the key it travels under; its type is the wire type.
public struct OptionField<Root> {
    public let name: String
    let encode: (Root) -> Variant?
    let decode: (inout Root, OptionReader) throws(ArgumentError) -> Void

    public init<Key: RawRepresentable<String>, Value: DBusRepresentable>(_ key: Key, _ path: WritableKeyPath<Root, Value?>) {
        let name = key.rawValue
        self.name = name
        encode = { root in root[keyPath: path].map { Variant($0) } }
        decode = { root, reader throws(ArgumentError) in root[keyPath: path] = try reader.value(name, as: Value.self) }
    }
}

/// An `a{sv}` argument of the contract, declared by its fields.
public protocol OptionsMessage: Sendable, Equatable {
    init()
    /// Every field.
    static var fields: [OptionField<Self>] { get }
    /// The keys a caller may send, in the order errors list them (default: every field's).
    static var allowedKeys: [String] { get }
}

extension OptionsMessage {
    public static var allowedKeys: [String] { fields.map(\.name) }

    public var dbusOptions: [String: Variant] {
        var options: [String: Variant] = [:]
        for field in Self.fields {
            if let value = field.encode(self) { options[field.name] = value }
        }
        return options
    }

    /// Decodes strictly: unknown keys (beyond `allowed`, by default every field's key) and wrong
    /// types are `ArgumentError`s naming the key.
    public init(dbusOptions: [String: Variant], allowed: [String]? = nil) throws(ArgumentError) {
        let reader = try OptionReader(dbusOptions, allowed: allowed ?? Self.allowedKeys)
        self.init()
        for field in Self.fields { try field.decode(&self, reader) }
    }

    /// Decodes an answer leniently: unknown keys and values of another type are passed over.
    public init(lenient options: [String: Variant]) {
        let reader = OptionReader(lenient: options)
        self.init()
        // A lenient reader throws nothing.
        for field in Self.fields { try? field.decode(&self, reader) }
    }
}
