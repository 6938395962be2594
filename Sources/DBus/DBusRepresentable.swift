/// A Swift type with a fixed D-Bus type: converts to and from `DBusValue`.
public protocol DBusRepresentable: Sendable {
    static var dbusSignature: Signature { get }
    init(dbusValue: DBusValue) throws(DBusError)
    var dbusValue: DBusValue { get }
}

extension DBusRepresentable {
    static func mismatch(_ value: DBusValue) -> DBusError {
        .typeMismatch(expected: dbusSignature.rawValue, actual: value.signatureString, context: "decoding \(Self.self)")
    }
}

/// A `v` value: what `a{sv}` dictionaries hold. `[String: Variant]` is the Swift form of `a{sv}`.
public struct Variant: DBusRepresentable, Hashable, CustomStringConvertible {
    public static let dbusSignature: Signature = "v"
    public var value: DBusValue
    public init(_ value: DBusValue) { self.value = value }
    public init<T: DBusRepresentable>(_ value: T) { self.value = value.dbusValue }
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .variant(let inner) = dbusValue else { throw Self.mismatch(dbusValue) }
        value = inner
    }
    public var dbusValue: DBusValue { .variant(value) }
    public var description: String { value.description }

    /// The payload as `T`, or a `typeMismatch` naming both types.
    public func get<T: DBusRepresentable>(_ type: T.Type = T.self) throws(DBusError) -> T {
        guard value.signatureString == T.dbusSignature.rawValue else {
            throw .typeMismatch(expected: T.dbusSignature.rawValue, actual: value.signatureString, context: "variant")
        }
        return try T(dbusValue: value)
    }
}

extension Dictionary where Key == String, Value == Variant {
    /// The entry `key` as `T`; nil when absent; a clear `typeMismatch` naming the key when the type differs.
    public func value<T: DBusRepresentable>(_ key: String, as type: T.Type = T.self) throws(DBusError) -> T? {
        guard let variant = self[key] else { return nil }
        guard variant.value.signatureString == T.dbusSignature.rawValue else {
            throw .typeMismatch(expected: T.dbusSignature.rawValue, actual: variant.value.signatureString,
                                context: "option '\(key)'")
        }
        return try T(dbusValue: variant.value)
    }
}

extension DBusValue {
    /// A variant holding `value`.
    public static func variant<T: DBusRepresentable>(_ value: T) -> DBusValue { .variant(value.dbusValue) }
    /// Converts to a Swift type (the value must be exactly of `T`'s D-Bus type).
    public func decode<T: DBusRepresentable>(_ type: T.Type = T.self) throws(DBusError) -> T { try T(dbusValue: self) }
}

extension UInt8: DBusRepresentable {
    public static let dbusSignature: Signature = "y"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .byte(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .byte(self) }
}

extension Bool: DBusRepresentable {
    public static let dbusSignature: Signature = "b"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .bool(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .bool(self) }
}

extension Int16: DBusRepresentable {
    public static let dbusSignature: Signature = "n"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .int16(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .int16(self) }
}

extension UInt16: DBusRepresentable {
    public static let dbusSignature: Signature = "q"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .uint16(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .uint16(self) }
}

extension Int32: DBusRepresentable {
    public static let dbusSignature: Signature = "i"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .int32(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .int32(self) }
}

extension UInt32: DBusRepresentable {
    public static let dbusSignature: Signature = "u"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .uint32(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .uint32(self) }
}

extension Int64: DBusRepresentable {
    public static let dbusSignature: Signature = "x"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .int64(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .int64(self) }
}

extension UInt64: DBusRepresentable {
    public static let dbusSignature: Signature = "t"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .uint64(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .uint64(self) }
}

/// `Int` travels as `x` (64-bit).
extension Int: DBusRepresentable {
    public static let dbusSignature: Signature = "x"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .int64(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = Int(v)
    }
    public var dbusValue: DBusValue { .int64(Int64(self)) }
}

extension Double: DBusRepresentable {
    public static let dbusSignature: Signature = "d"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .double(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .double(self) }
}

extension String: DBusRepresentable {
    public static let dbusSignature: Signature = "s"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .string(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .string(self) }
}

extension ObjectPath: DBusRepresentable {
    public static let dbusSignature: Signature = "o"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .objectPath(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .objectPath(self) }
}

extension Signature: DBusRepresentable {
    public static let dbusSignature: Signature = Signature(unchecked: "g")
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .signature(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        self = v
    }
    public var dbusValue: DBusValue { .signature(self) }
}

/// A bus name travels as a string and is validated when decoded.
extension BusName: DBusRepresentable {
    public static let dbusSignature: Signature = "s"
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .string(let v) = dbusValue else { throw Self.mismatch(dbusValue) }
        try self.init(v)
    }
    public var dbusValue: DBusValue { .string(rawValue) }
}

extension Array: DBusRepresentable where Element: DBusRepresentable {
    public static var dbusSignature: Signature { Signature(unchecked: "a" + Element.dbusSignature.rawValue) }
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .array(let element, let values) = dbusValue, element == Element.dbusSignature else {
            throw Self.mismatch(dbusValue)
        }
        var result: [Element] = []
        result.reserveCapacity(values.count)
        for value in values { result.append(try Element(dbusValue: value)) }
        self = result
    }
    // A closure, not `map(\.dbusValue)`: a key path through a generic Element is instantiated at
    // run time on every call (`swift_getKeyPath`), which showed in the GetToken reply's profile.
    public var dbusValue: DBusValue { .array(elementSignature: Element.dbusSignature, map { $0.dbusValue }) }
}

extension Dictionary: DBusRepresentable where Key: DBusRepresentable, Value: DBusRepresentable {
    public static var dbusSignature: Signature {
        Signature(unchecked: "a{" + Key.dbusSignature.rawValue + Value.dbusSignature.rawValue + "}")
    }
    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .dictionary(let k, let v, let entries) = dbusValue,
              k == Key.dbusSignature, v == Value.dbusSignature else { throw Self.mismatch(dbusValue) }
        var result: [Key: Value] = [:]
        for entry in entries { result[try Key(dbusValue: entry.key)] = try Value(dbusValue: entry.value) }
        self = result
    }
    public var dbusValue: DBusValue {
        // Sorted by the key's marshalled form so the same dictionary always gives the same message.
        // Each key's marshalled form is computed once, not twice per comparison.
        let entries = map { (order: $0.key.dbusValue.description,
                             entry: DBusValue.DictionaryEntry(key: $0.key.dbusValue, value: $0.value.dbusValue)) }
            .sorted { $0.order < $1.order }
            .map { $0.entry }
        return .dictionary(keySignature: Key.dbusSignature, valueSignature: Value.dbusSignature, entries)
    }
}
