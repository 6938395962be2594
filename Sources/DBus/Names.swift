import CDBus

// Names are validated once, in Swift, before anything reaches libdbus: libdbus aborts the process
// on an invalid name or path passed to it. libdbus's own validators confirm the Swift verdict.

/// A bus name: a unique name (`:1.42`) or a well-known name (`io.tessera.Agent1`).
public struct BusName: DBusName {
    public static let kind = "bus name"
    public let rawValue: String
    public init(_ string: String) throws(DBusError) {
        try Self.check(string, NameRules.busName(string), libdbus: dbus_validate_bus_name)
        rawValue = string
    }
    /// A name libdbus already validated (a received message's header field).
    init(unchecked string: String) { rawValue = string }
    /// True for a connection's unique name (`:1.42`), which is never re-used on a bus.
    public var isUnique: Bool { rawValue.hasPrefix(":") }
    /// The message bus itself.
    public static let bus: BusName = "org.freedesktop.DBus"
}

/// An object path such as `/io/tessera/Agent1`.
public struct ObjectPath: DBusName {
    public static let kind = "object path"
    public let rawValue: String
    public init(_ string: String) throws(DBusError) {
        try Self.check(string, NameRules.objectPath(string), libdbus: dbus_validate_path)
        rawValue = string
    }
    /// A name libdbus already validated (a received message's header field).
    init(unchecked string: String) { rawValue = string }
    public static let root: ObjectPath = "/"
    /// The path's elements (`/a/b` → `["a", "b"]`).
    public var components: [Substring] { rawValue.split(separator: "/") }
    /// `self` + `/` + `element` (element must be a valid path element, e.g. `flow_1`).
    public func appending(_ element: String) throws(DBusError) -> ObjectPath {
        try ObjectPath(rawValue == "/" ? "/\(element)" : "\(rawValue)/\(element)")
    }
}

/// An interface name such as `io.tessera.Agent1`.
public struct InterfaceName: DBusName {
    public static let kind = "interface name"
    public let rawValue: String
    public init(_ string: String) throws(DBusError) {
        try Self.check(string, NameRules.dotted(string, allowHyphen: false), libdbus: dbus_validate_interface)
        rawValue = string
    }
    /// A name libdbus already validated (a received message's header field).
    init(unchecked string: String) { rawValue = string }
    public static let introspectable: InterfaceName = "org.freedesktop.DBus.Introspectable"
    public static let properties: InterfaceName = "org.freedesktop.DBus.Properties"
    public static let peer: InterfaceName = "org.freedesktop.DBus.Peer"
    public static let bus: InterfaceName = "org.freedesktop.DBus"
}

/// A method, signal or property name such as `GetToken`.
public struct MemberName: DBusName {
    public static let kind = "member name"
    public let rawValue: String
    public init(_ string: String) throws(DBusError) {
        try Self.check(string, NameRules.member(string), libdbus: dbus_validate_member)
        rawValue = string
    }
    /// A name libdbus already validated (a received message's header field).
    init(unchecked string: String) { rawValue = string }
}

/// An error name such as `io.tessera.Agent1.Error.NoSuchAccount`.
public struct ErrorName: DBusName {
    public static let kind = "error name"
    public let rawValue: String
    public init(_ string: String) throws(DBusError) {
        try Self.check(string, NameRules.dotted(string, allowHyphen: false), libdbus: dbus_validate_error_name)
        rawValue = string
    }
    /// A name libdbus already validated (a received message's header field).
    init(unchecked string: String) { rawValue = string }
}

/// A type signature: zero or more complete D-Bus types, e.g. `sa{sv}`.
public struct Signature: DBusName {
    public static let kind = "signature"
    public let rawValue: String
    public init(_ string: String) throws(DBusError) {
        let reason: String?
        do throws(DBusError) { _ = try SignatureParser.completeTypes(of: string); reason = nil } catch {
            if case .invalidName(_, _, let why) = error { reason = why } else { reason = "\(error)" }
        }
        try Self.check(string, reason) { string, _ in dbus_signature_validate(string, nil) }
        rawValue = string
    }
    init(unchecked string: String) { rawValue = string }

    public static let empty = Signature(unchecked: "")
    /// Common single types, known valid: no parse at each use (a literal `"s"` is parsed when used).
    public static let string = Signature(unchecked: "s")
    public static let variant = Signature(unchecked: "v")
    /// The single complete types this signature is made of (`sa{sv}` → `s`, `a{sv}`).
    public var completeTypes: [Signature] {
        // A validated signature always splits.
        ((try? SignatureParser.completeTypes(of: rawValue)) ?? []).map { Signature(unchecked: $0) }
    }
    /// True when the signature is exactly one complete type (what a variant or a property holds).
    public var isSingleCompleteType: Bool { completeTypes.count == 1 }
}

/// What every typed name shares: validated at construction, string-literal convenience for constants.
public protocol DBusName: Sendable, Hashable, Comparable, CustomStringConvertible,
    ExpressibleByStringLiteral, Codable where StringLiteralType == String
{
    static var kind: String { get }
    var rawValue: String { get }
    init(_ string: String) throws(DBusError)
}

extension DBusName {
    /// For compile-time constants only: an invalid literal is a programming error and traps.
    /// Runtime input must go through the throwing `init(_:)`.
    public init(stringLiteral value: String) {
        do { try self.init(value) } catch { preconditionFailure("\(error)") }
    }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        try self.init(string)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    static func check(
        _ string: String, _ reason: String?,
        libdbus: (UnsafePointer<CChar>, UnsafeMutablePointer<CDBus.DBusError>?) -> dbus_bool_t
    ) throws(DBusError) {
        if let reason { throw .invalidName(kind: kind, value: string, reason: reason) }
        // Interior NUL would make the C string shorter than what we validated.
        guard !string.utf8.contains(0), string.withCString({ libdbus($0, nil) }) != 0 else {
            throw .invalidName(kind: kind, value: string, reason: "rejected by libdbus")
        }
    }
}

enum NameRules {
    static let maximumLength = 255

    private static func isAlpha(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    // Plain loops over the UTF-8 bytes, no `split` into arrays of slices: a one-shot client
    // (`tessera token`) validates a few names and nothing else, and the generic slices cost it
    // more than the rest of the checks together. Two passes keep the old order of complaints.

    /// How many `separator`-separated elements `bytes` has, and its length.
    private static func shape(_ s: String, separator: UInt8) -> (length: Int, elements: Int) {
        var length = 0, elements = 1
        for c in s.utf8 {
            length += 1
            if c == separator { elements += 1 }
        }
        return (length, elements)
    }

    /// Checks each element in order (after `skipping` leading bytes): `first(c)` for an element's
    /// first byte and `byte(c)` for every byte return a complaint or nil.
    private static func eachElement(_ s: String, skipping: Int = 0, separator: UInt8,
                                    empty: String, first: (UInt8) -> String?, byte: (UInt8) -> String?) -> String? {
        var atStart = true
        var skip = skipping
        for c in s.utf8 {
            if skip > 0 {
                skip -= 1
                continue
            }
            if c == separator {
                if atStart { return empty }
                atStart = true
                continue
            }
            if atStart, let complaint = first(c) { return complaint }
            atStart = false
            if let complaint = byte(c) { return complaint }
        }
        return atStart ? empty : nil
    }

    private static func badByte(_ c: UInt8, allowed: String) -> String {
        "it contains '\(Character(Unicode.Scalar(c)))'; only \(allowed) are allowed"
    }

    /// Interface and error names: two or more dot-separated elements of [A-Za-z0-9_], not starting with a digit.
    static func dotted(_ s: String, allowHyphen: Bool) -> String? {
        let (length, elements) = shape(s, separator: 46)
        if length == 0 { return "it is empty" }
        if length > maximumLength { return "it is longer than \(maximumLength) bytes" }
        if elements < 2 { return "it needs at least two elements separated by '.'" }
        return eachElement(s, separator: 46, empty: "it has an empty element",
                           first: { isDigit($0) ? "an element starts with a digit" : nil },
                           byte: { c in isAlpha(c) || isDigit(c) || (allowHyphen && c == 45) ? nil : badByte(c, allowed: "[A-Za-z0-9_]") })
    }

    static func busName(_ s: String) -> String? {
        guard s.hasPrefix(":") else { return dotted(s, allowHyphen: true) }
        let (length, elements) = shape(s, separator: 46)
        if length > maximumLength { return "it is longer than \(maximumLength) bytes" }
        if elements < 2 { return "a unique name needs at least two elements separated by '.'" }
        return eachElement(s, skipping: 1, separator: 46, empty: "it has an empty element", first: { _ in nil },
                           byte: { c in isAlpha(c) || isDigit(c) || c == 45 ? nil : badByte(c, allowed: "[A-Za-z0-9_-]") })
    }

    static func member(_ s: String) -> String? {
        let length = s.utf8.count
        if length == 0 { return "it is empty" }
        if length > maximumLength { return "it is longer than \(maximumLength) bytes" }
        if let first = s.utf8.first, isDigit(first) { return "it starts with a digit" }
        for c in s.utf8 where !(isAlpha(c) || isDigit(c)) { return badByte(c, allowed: "[A-Za-z0-9_]") }
        return nil
    }

    static func objectPath(_ s: String) -> String? {
        guard s.utf8.first == 47 else { return "it must start with '/'" }
        if s.utf8.count == 1 { return nil }
        if s.utf8.last == 47 { return "it must not end with '/'" }
        return eachElement(s, skipping: 1, separator: 47, empty: "it contains '//'", first: { _ in nil },
                           byte: { c in isAlpha(c) || isDigit(c) ? nil : badByte(c, allowed: "[A-Za-z0-9_]") })
    }
}

/// Splits and checks signatures by the specification's grammar (depth limits included).
enum SignatureParser {
    /// The basic type codes `ybnqiuxtdsogh`. A switch, not a `Set`: a one-shot client would build
    /// the set (and its hashing seed and storage metadata) to check one signature.
    static func isBasicCode(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "y"), UInt8(ascii: "b"), UInt8(ascii: "n"), UInt8(ascii: "q"), UInt8(ascii: "i"),
             UInt8(ascii: "u"), UInt8(ascii: "x"), UInt8(ascii: "t"), UInt8(ascii: "d"), UInt8(ascii: "s"),
             UInt8(ascii: "o"), UInt8(ascii: "g"), UInt8(ascii: "h"): true
        default: false
        }
    }

    static func completeTypes(of signature: String) throws(DBusError) -> [String] {
        var result: [String] = []
        try forEachCompleteType(of: signature) { bytes, range in
            result.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
        }
        return result
    }

    /// Checks a signature without collecting its types (a received message's, in a one-shot
    /// client: one `[String]` fewer to make).
    static func validate(_ signature: String) throws(DBusError) {
        try forEachCompleteType(of: signature) { _, _ in }
    }

    private static func forEachCompleteType(
        of signature: String, _ body: (UnsafeBufferPointer<UInt8>, Range<Int>) -> Void
    ) throws(DBusError) {
        var text = signature
        // The string's own UTF-8, not `Array(signature.utf8)`: no array to make (or, in a
        // one-shot process, to look its type up for).
        // `withUTF8` only rethrows untyped errors; the failure comes out through these two.
        var failed = false
        var failure = DBusError.outOfMemory
        text.withUTF8 { bytes in
            do throws(DBusError) { try forEachCompleteType(bytes, signature, body) } catch {
                failed = true
                failure = error
            }
        }
        if failed { throw failure }
    }

    private static func forEachCompleteType(
        _ bytes: UnsafeBufferPointer<UInt8>, _ signature: String, _ body: (UnsafeBufferPointer<UInt8>, Range<Int>) -> Void
    ) throws(DBusError) {
        func fail(_ why: String) -> DBusError { .invalidName(kind: "signature", value: signature, reason: why) }
        if bytes.count > NameRules.maximumLength { throw fail("it is longer than 255 bytes") }
        var index = 0

        func parseOne(arrayDepth: Int, structDepth: Int) throws(DBusError) {
            guard index < bytes.count else { throw fail("it ends in the middle of a type") }
            let c = bytes[index]
            index += 1
            if isBasicCode(c) || c == UInt8(ascii: "v") { return }
            switch c {
            case UInt8(ascii: "a"):
                if arrayDepth + 1 > 32 { throw fail("arrays are nested deeper than 32") }
                if index < bytes.count, bytes[index] == UInt8(ascii: "{") {
                    index += 1
                    guard index < bytes.count, isBasicCode(bytes[index]) else {
                        throw fail("a dictionary key must be a basic type")
                    }
                    index += 1
                    try parseOne(arrayDepth: arrayDepth + 1, structDepth: structDepth)
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "}") else {
                        throw fail("a dictionary entry must hold exactly a key and a value, closed by '}'")
                    }
                    index += 1
                } else {
                    try parseOne(arrayDepth: arrayDepth + 1, structDepth: structDepth)
                }
            case UInt8(ascii: "("):
                if structDepth + 1 > 32 { throw fail("structs are nested deeper than 32") }
                guard index < bytes.count, bytes[index] != UInt8(ascii: ")") else { throw fail("a struct is empty") }
                while index < bytes.count, bytes[index] != UInt8(ascii: ")") {
                    try parseOne(arrayDepth: arrayDepth, structDepth: structDepth + 1)
                }
                guard index < bytes.count else { throw fail("a struct is not closed by ')'") }
                index += 1
            case UInt8(ascii: "{"): throw fail("a dictionary entry appears outside an array")
            default: throw fail("'\(Character(Unicode.Scalar(c)))' is not a D-Bus type code")
            }
        }
        while index < bytes.count {
            let start = index
            try parseOne(arrayDepth: 0, structDepth: 0)
            body(bytes, start..<index)
        }
    }
}
