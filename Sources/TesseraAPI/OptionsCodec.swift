import DBus

// The one `a{sv}` codec of the contract: an options struct lists its fields once, as typed keys
// (`OptionField(GetTokenOption.scopes, \.scopes)`), and gets its encoder and its strict decoder
// from that list. Decoding rejects unknown keys and wrong types with the field named. Replies
// declare their `a{sv}` the same way (`[OptionField].options(of:)` / `read(_:into:)`); reading
// an answer passes over keys it does not know, which a newer service may send.

/// A malformed argument: the field it concerns and why. The service answers it as
/// `io.tessera.Agent1.Error.InvalidArgument`.
public struct ArgumentError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(field: String, reason: String) { self.field = field; self.reason = reason }
    public var description: String { "invalid \(field): \(reason)" }
}

/// Reading of an `a{sv}`: every key of its declared type. Strict (an argument the service
/// takes): every key must be known. Lenient (an answer): keys it does not know are passed over.
public struct OptionReader {
    private let options: [String: Variant]

    public init(_ options: [String: Variant], allowed: [String]) throws(ArgumentError) {
        for key in options.keys.sorted() where !allowed.contains(key) {
            throw ArgumentError(field: key, reason: "is not a known option (known: \(allowed.joined(separator: ", ")))")
        }
        self.options = options
    }

    public init(lenient options: [String: Variant]) {
        self.options = options
    }

    public func value<T: DBusRepresentable>(_ key: String, as type: T.Type = T.self) throws(ArgumentError) -> T? {
        guard let variant = options[key] else { return nil }
        do { return try variant.get(T.self) } catch {
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

    /// A field that is always sent (a reply's), read as `default` when an answer leaves it out;
    /// with `omitting`, not sent when it has that value.
    public init<Key: RawRepresentable<String>, Value: DBusRepresentable & Equatable>(
        _ key: Key, _ path: WritableKeyPath<Root, Value>, default defaultValue: Value, omitting: Value? = nil
    ) {
        let name = key.rawValue
        self.name = name
        encode = { root in
            let value = root[keyPath: path]
            return value == omitting ? nil : Variant(value)
        }
        decode = { root, reader throws(ArgumentError) in
            root[keyPath: path] = try reader.value(name, as: Value.self) ?? defaultValue
        }
    }
}

extension Array {
    /// `root`'s fields as an `a{sv}`.
    public func options<Root>(of root: Root) -> [String: Variant] where Element == OptionField<Root> {
        var options: [String: Variant] = [:]
        for field in self {
            if let value = field.encode(root) { options[field.name] = value }
        }
        return options
    }

    /// Reads an answer's `a{sv}` into `root`: keys this side does not know are passed over; a
    /// known key of another type is an error.
    public func read<Root>(_ options: [String: Variant], into root: inout Root) throws(DBusError)
        where Element == OptionField<Root>
    {
        let reader = OptionReader(lenient: options)
        do throws(ArgumentError) {
            for field in self { try field.decode(&root, reader) }
        } catch {
            throw .invalidValue(error.description)
        }
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

    public var dbusOptions: [String: Variant] { Self.fields.options(of: self) }

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
        // Per field: a value of another type loses that field only.
        for field in Self.fields { try? field.decode(&self, reader) }
    }
}
