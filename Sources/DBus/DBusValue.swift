#if canImport(Glibc)
import Glibc
#endif

/// One D-Bus value of any type the specification defines, nested to any depth it allows.
///
/// Containers carry their element signatures so that empty arrays and dictionaries still have a
/// type on the wire. Build them with the helpers (`.array(of:_:)`, `.dictionary(_:)`, or a
/// `DBusRepresentable` value's `dbusValue`) so the signatures are computed for you.
public indirect enum DBusValue: Sendable, Hashable {
    case byte(UInt8)
    case bool(Bool)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case double(Double)
    case string(String)
    case objectPath(ObjectPath)
    case signature(Signature)
    /// A file descriptor to send (libdbus sends a duplicate). Received ones are never decoded:
    /// `Message.arguments()` refuses a body that carries any, and libdbus closes them.
    case unixFD(Int32)
    /// `a…`: every element must have `elementSignature`.
    case array(elementSignature: Signature, [DBusValue])
    /// `a{…}`: an ordered list of entries; keys must be of a basic type.
    case dictionary(keySignature: Signature, valueSignature: Signature, [DictionaryEntry])
    /// `(…)`: one or more fields.
    case structure([DBusValue])
    /// `v`: a value carrying its own type.
    case variant(DBusValue)

    public struct DictionaryEntry: Sendable, Hashable {
        public var key: DBusValue
        public var value: DBusValue
        public init(key: DBusValue, value: DBusValue) { self.key = key; self.value = value }
    }

    /// The value's complete type (`s`, `a{sv}`, `(ia{ss})`, …).
    public var signature: Signature { Signature(unchecked: signatureString) }

    var signatureString: String {
        switch self {
        case .byte: "y"
        case .bool: "b"
        case .int16: "n"
        case .uint16: "q"
        case .int32: "i"
        case .uint32: "u"
        case .int64: "x"
        case .uint64: "t"
        case .double: "d"
        case .string: "s"
        case .objectPath: "o"
        case .signature: "g"
        case .unixFD: "h"
        case .array(let element, _): "a" + element.rawValue
        case .dictionary(let key, let value, _): "a{" + key.rawValue + value.rawValue + "}"
        case .structure(let fields): "(" + fields.signatureString + ")"
        case .variant: "v"
        }
    }

    /// An array of values that all share `elementSignature` (needed when `values` may be empty).
    public static func array(of elementSignature: Signature, _ values: [DBusValue]) -> DBusValue {
        .array(elementSignature: elementSignature, values)
    }

    /// `a{sv}` from a Swift dictionary, sorted by key so equal dictionaries marshal identically.
    public static func dictionary(_ entries: [String: DBusValue]) -> DBusValue {
        .dictionary(keySignature: "s", valueSignature: "v",
                    entries.sorted { $0.key < $1.key }.map { .init(key: .string($0.key), value: .variant($0.value)) })
    }

    /// The payload when this is a variant, else the value itself.
    public var unwrappedVariant: DBusValue {
        if case .variant(let inner) = self { return inner.unwrappedVariant }
        return self
    }

    /// Checks everything libdbus would otherwise abort on, and the wire's size limits.
    /// Returns an estimate of the marshalled size in bytes.
    @discardableResult
    func validate(depth: Int = 0) throws(DBusError) -> Int {
        if depth > 64 { throw .invalidValue("values are nested deeper than 64 containers") }
        switch self {
        case .byte: return 1
        case .bool, .int32, .uint32, .unixFD: return 4
        case .int16, .uint16: return 2
        case .int64, .uint64, .double: return 8
        case .string(let s):
            let size = s.utf8.count
            if size >= DBusLimits.maximumMessageLength {
                throw .invalidValue("a string of \(size) bytes exceeds the D-Bus message limit of \(DBusLimits.maximumMessageLength) bytes")
            }
            if containsNUL(s) { throw .invalidValue("a string contains a NUL character, which D-Bus forbids") }
            return size + 5
        case .objectPath(let p): return p.rawValue.utf8.count + 5
        case .signature(let g): return g.rawValue.utf8.count + 2
        case .array(let element, let values):
            guard element.isSingleCompleteType else {
                throw .invalidValue("array element signature '\(element)' is not a single complete type")
            }
            var size = 0
            for value in values {
                guard value.signatureString == element.rawValue else {
                    throw .typeMismatch(expected: element.rawValue, actual: value.signatureString, context: "array element")
                }
                size += try value.validate(depth: depth + 1)
            }
            try DBusLimits.checkArray(size)
            _ = try Signature(signatureString)
            return size + 8
        case .dictionary(let keySignature, let valueSignature, let entries):
            guard keySignature.rawValue.utf8.count == 1,
                  SignatureParser.isBasicCode(keySignature.rawValue.utf8.first!) else {
                throw .invalidValue("dictionary key signature '\(keySignature)' is not a basic type")
            }
            guard valueSignature.isSingleCompleteType else {
                throw .invalidValue("dictionary value signature '\(valueSignature)' is not a single complete type")
            }
            var size = 0
            for entry in entries {
                guard entry.key.signatureString == keySignature.rawValue else {
                    throw .typeMismatch(expected: keySignature.rawValue, actual: entry.key.signatureString, context: "dictionary key")
                }
                guard entry.value.signatureString == valueSignature.rawValue else {
                    throw .typeMismatch(expected: valueSignature.rawValue, actual: entry.value.signatureString, context: "dictionary value")
                }
                size += try entry.key.validate(depth: depth + 1) + entry.value.validate(depth: depth + 1) + 8
            }
            try DBusLimits.checkArray(size)
            _ = try Signature(signatureString)
            return size + 8
        case .structure(let fields):
            if fields.isEmpty { throw .invalidValue("a struct must have at least one field") }
            var size = 8
            for field in fields { size += try field.validate(depth: depth + 1) }
            return size
        case .variant(let inner):
            _ = try Signature(inner.signatureString)
            return try inner.validate(depth: depth + 1) + inner.signatureString.utf8.count + 2
        }
    }
}

/// memchr on the contiguous UTF-8 (what native Swift strings have); a byte loop otherwise.
func containsNUL(_ string: String) -> Bool {
    if let found = string.utf8.withContiguousStorageIfAvailable({ buffer -> Bool in
        guard let base = buffer.baseAddress, buffer.count > 0 else { return false }
        return memchr(base, 0, buffer.count) != nil
    }) { return found }
    return string.utf8.contains(0)
}

enum DBusLimits {
    static let maximumArrayLength = 67_108_864
    static let maximumMessageLength = 134_217_728

    static func checkArray(_ size: Int) throws(DBusError) {
        if size > maximumArrayLength {
            throw .invalidValue("an array of about \(size) bytes exceeds the D-Bus array limit of \(maximumArrayLength) bytes")
        }
    }
}

extension DBusValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .byte(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .int16(let v): "\(v)"
        case .uint16(let v): "\(v)"
        case .int32(let v): "\(v)"
        case .uint32(let v): "\(v)"
        case .int64(let v): "\(v)"
        case .uint64(let v): "\(v)"
        case .double(let v): "\(v)"
        case .string(let v): "\"\(v)\""
        case .objectPath(let v): "\(v)"
        case .signature(let v): "<\(v)>"
        case .unixFD(let v): "fd \(v)"
        case .array(_, let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .dictionary(_, _, let entries):
            "{" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .structure(let fields): "(" + fields.map(\.description).joined(separator: ", ") + ")"
        case .variant(let inner): "<\(inner)>"
        }
    }
}

extension Array where Element == DBusValue {
    /// The concatenated signature of a message body.
    public var signature: Signature { Signature(unchecked: signatureString) }

    /// A plain loop, not `map(\.signatureString).joined()`: in a one-shot process the generic
    /// version's key path and conformance lookups cost more than the whole call (~0.2 M
    /// instructions in `tessera token`).
    var signatureString: String {
        var text = ""
        for value in self { text += value.signatureString }
        return text
    }

    /// Decodes positional arguments into Swift types, checking count and types:
    /// `let (name, options) = try call.arguments.decode(String.self, [String: Variant].self)`.
    public func decode<each T: DBusRepresentable>(_ types: repeat (each T).Type) throws(DBusError) -> (repeat each T) {
        var expected = ""
        for type in repeat each types { expected += type.dbusSignature.rawValue }
        guard signature.rawValue == expected else {
            throw .typeMismatch(expected: expected, actual: signature.rawValue, context: "arguments")
        }
        var index = 0
        func next<U: DBusRepresentable>(_ type: U.Type) throws(DBusError) -> U {
            defer { index += 1 }
            return try U(dbusValue: self[index])
        }
        return (repeat try next(each types))
    }
}
