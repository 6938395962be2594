/// One received message, read from the wire format by `WireDecoder`: the header fields a caller
/// of one method needs, and the body still in bytes until `arguments()` reads it.
///
/// A class, not a struct: a one-shot client passes it around as an optional, and `Optional` of
/// a struct has its metadata built at run time from a mangled name on first use (~0.01 ms).
package final class WireMessage {
    package let type: UInt8
    package let serial: UInt32
    package let replySerial: UInt32?
    package let errorName: String?
    package let signature: String
    package let carriesUnixFDs: Bool
    private let bytes: ByteBuffer
    private let bodyStart: Int
    private let bigEndian: Bool

    fileprivate init(type: UInt8, serial: UInt32, replySerial: UInt32?, errorName: String?, signature: String,
                     carriesUnixFDs: Bool, bytes: ByteBuffer, bodyStart: Int, bigEndian: Bool) {
        (self.type, self.serial, self.replySerial, self.errorName, self.signature) = (type, serial, replySerial, errorName, signature)
        (self.carriesUnixFDs, self.bytes, self.bodyStart, self.bigEndian) = (carriesUnixFDs, bytes, bodyStart, bigEndian)
    }

    /// The body's values. Refuses a body that says it carries Unix file descriptors (none can
    /// arrive on this route, and no method takes one), as `Message.arguments()` does.
    package func arguments() throws(DBusError) -> [DBusValue] {
        if carriesUnixFDs { throw .invalidValue(Message.unixFDRefusal) }
        var reader = WireReader(bytes: bytes, offset: bodyStart, end: bytes.count, bigEndian: bigEndian)
        let types = Array(signature.utf8)
        var index = 0
        var values: [DBusValue] = []
        while index < types.count {
            values.append(try reader.value(types, &index, depth: 0))
        }
        guard reader.offset == bytes.count else { throw WireReader.malformed("the body is longer than its values") }
        return values
    }

    /// A cursor at the body's first value, for reading a known signature value by value.
    package func bodyReader() throws(DBusError) -> WireReader {
        if carriesUnixFDs { throw .invalidValue(Message.unixFDRefusal) }
        return WireReader(bytes: bytes, offset: bodyStart, end: bytes.count, bigEndian: bigEndian)
    }

    /// True for a method return (`methodReturn`) or an error reply.
    package var isReply: Bool { type == WireHeader.methodReturn || type == WireHeader.error }

    /// An error reply as the error libdbus would report: its name, and its first argument as
    /// the text when that is a string. Nil for any other message.
    package var remoteError: DBusError? {
        guard type == WireHeader.error else { return nil }
        let text: String
        if case .string(let first)? = (try? arguments())?.first { text = first } else { text = "" }
        return .remote(name: (try? ErrorName(errorName ?? "")) ?? .failed, message: text)
    }
}

/// Reads messages in the wire format (either byte order), checking what libdbus checks of a
/// received message: lengths within bounds and limits, zero padding, valid UTF-8 without NUL in
/// strings, valid object paths and signatures, booleans 0 or 1, nesting at most 64 deep, the
/// header fields each type requires. Anything else is `DBusError.invalidValue`, never a trap.
package enum WireDecoder {
    /// The fixed part of a header: byte order, type, flags, version, body length, serial, and
    /// the header fields' array length.
    static let fixedHeaderLength = 16

    /// The whole length of the message that starts at `start` in `prefix`, once its first 16
    /// bytes are there (the rest may not have arrived yet).
    static func messageLength(_ prefix: ByteBuffer, at start: Int = 0) throws(DBusError) -> Int {
        guard prefix.count - start >= fixedHeaderLength else { throw WireReader.malformed("a message header is cut short") }
        let bigEndian: Bool
        switch prefix[start] {
        case UInt8(ascii: "l"): bigEndian = false
        case UInt8(ascii: "B"): bigEndian = true
        default: throw WireReader.malformed("the byte order mark is neither 'l' nor 'B'")
        }
        guard prefix[start + 3] == 1 else { throw WireReader.malformed("protocol version \(prefix[start + 3]), not 1") }
        let bodyLength = Int(WireReader.uint32(prefix, at: start + 4, bigEndian: bigEndian))
        let fieldsLength = Int(WireReader.uint32(prefix, at: start + 12, bigEndian: bigEndian))
        let total = fixedHeaderLength + (fieldsLength + 7) / 8 * 8 + bodyLength
        guard fieldsLength <= DBusLimits.maximumArrayLength, total <= DBusLimits.maximumMessageLength else {
            throw WireReader.malformed("a message of \(total) bytes exceeds the D-Bus limit of \(DBusLimits.maximumMessageLength)")
        }
        return total
    }

    /// Reads one whole message (exactly `messageLength` bytes).
    package static func message(_ bytes: [UInt8]) throws(DBusError) -> WireMessage {
        try message(ByteBuffer(bytes))
    }

    /// Reads one whole message (exactly `messageLength` bytes); the message keeps `bytes`.
    static func message(_ bytes: ByteBuffer) throws(DBusError) -> WireMessage {
        let total = try messageLength(bytes)
        guard bytes.count == total else { throw WireReader.malformed("a message of \(bytes.count) bytes where its header says \(total)") }
        let bigEndian = bytes[0] == UInt8(ascii: "B")
        let type = bytes[1]
        guard type != 0 else { throw WireReader.malformed("message type 0") }
        let serial = WireReader.uint32(bytes, at: 8, bigEndian: bigEndian)
        guard serial != 0 else { throw WireReader.malformed("serial 0") }
        let fieldsLength = Int(WireReader.uint32(bytes, at: 12, bigEndian: bigEndian))
        let fieldsEnd = fixedHeaderLength + fieldsLength
        let bodyStart = (fieldsEnd + 7) / 8 * 8

        var reader = WireReader(bytes: bytes, offset: fixedHeaderLength, end: fieldsEnd, bigEndian: bigEndian)
        var path: String?, interface: String?, member: String?, replySerial: UInt32?, errorName: String?
        var signature = "", unixFDs: UInt32 = 0
        var seen: UInt32 = 0
        while reader.offset < fieldsEnd {
            try reader.align(8)
            let code = try reader.byte()
            let valueType = try reader.signatureText()
            guard code != 0 else { throw WireReader.malformed("header field code 0") }
            if code >= 1 && code <= 10 {
                guard seen & (1 << UInt32(code)) == 0 else { throw WireReader.malformed("header field \(code) appears twice") }
                seen |= 1 << UInt32(code)
            }
            func expect(_ wanted: String) throws(DBusError) {
                guard valueType == wanted else {
                    throw WireReader.malformed("header field \(code) has type '\(valueType)', not '\(wanted)'")
                }
            }
            switch code {
            case WireHeader.path:
                try expect("o")
                path = try reader.objectPath()
            case WireHeader.interface:
                try expect("s")
                let name = try reader.string()
                guard NameRules.dotted(name, allowHyphen: false) == nil else { throw WireReader.malformed("an invalid interface name") }
                interface = name
            case WireHeader.member:
                try expect("s")
                let name = try reader.string()
                guard NameRules.member(name) == nil else { throw WireReader.malformed("an invalid member name") }
                member = name
            case WireHeader.errorName:
                try expect("s")
                let name = try reader.string()
                guard NameRules.dotted(name, allowHyphen: false) == nil else { throw WireReader.malformed("an invalid error name") }
                errorName = name
            case WireHeader.replySerial:
                try expect("u")
                let value = try reader.uint32()
                guard value != 0 else { throw WireReader.malformed("reply serial 0") }
                replySerial = value
            case WireHeader.destination, WireHeader.sender:
                try expect("s")
                guard NameRules.busName(try reader.string()) == nil else { throw WireReader.malformed("an invalid bus name") }
            case WireHeader.signature:
                try expect("g")
                signature = try reader.signatureText()
            case WireHeader.unixFDs:
                try expect("u")
                unixFDs = try reader.uint32()
            case WireHeader.containerInstance:
                // Not in the specification; libdbus 1.14 defines it as an object path and checks it.
                try expect("o")
                _ = try reader.objectPath()
            default:
                // Unknown fields are skipped, as the specification requires; their value must still parse.
                let types = Array(valueType.utf8)
                var index = 0
                guard !types.isEmpty else { throw WireReader.malformed("a header field without a type") }
                _ = try reader.value(types, &index, depth: 1)
                guard index == types.count else { throw WireReader.malformed("a header field of more than one type") }
            }
        }
        guard reader.offset == fieldsEnd else { throw WireReader.malformed("the header fields overrun their length") }
        reader.end = bodyStart
        try reader.align(8)  // the padding before the body must be zero too

        switch type {
        case WireHeader.methodCall:
            guard path != nil, member != nil else { throw WireReader.malformed("a method call without a path or member") }
        case WireHeader.signal:
            guard path != nil, interface != nil, member != nil else {
                throw WireReader.malformed("a signal without a path, interface or member")
            }
        case WireHeader.methodReturn:
            guard replySerial != nil else { throw WireReader.malformed("a method return without a reply serial") }
        case WireHeader.error:
            guard replySerial != nil, errorName != nil else {
                throw WireReader.malformed("an error without a reply serial or error name")
            }
        default: break
        }
        if signature.isEmpty && bytes.count > bodyStart { throw WireReader.malformed("a body without a signature") }
        return WireMessage(type: type, serial: serial, replySerial: replySerial, errorName: errorName,
                           signature: signature, carriesUnixFDs: unixFDs > 0, bytes: bytes, bodyStart: bodyStart,
                           bigEndian: bigEndian)
    }
}

/// A bounds-checked cursor over one message's bytes (which start at index 0, so offsets are
/// also what alignment is measured from).
package struct WireReader {
    let bytes: ByteBuffer
    package private(set) var offset: Int
    package fileprivate(set) var end: Int
    let bigEndian: Bool

    init(bytes: ByteBuffer, offset: Int, end: Int, bigEndian: Bool) {
        (self.bytes, self.offset, self.end, self.bigEndian) = (bytes, offset, end, bigEndian)
    }

    package var isAtEnd: Bool { offset == end }

    package mutating func int64() throws(DBusError) -> Int64 { Int64(bitPattern: try unsigned(8)) }

    /// Reads an array's length and padding, then `element` until its end; `alignment` is the
    /// element type's (8 for dictionary entries, which `element` must align to itself).
    package mutating func array(alignment: Int, _ element: (inout WireReader) throws(DBusError) -> Void) throws(DBusError) {
        let length = Int(try uint32())
        guard length <= DBusLimits.maximumArrayLength else { throw Self.malformed("an array of \(length) bytes") }
        try align(alignment)
        guard end - offset >= length else { throw Self.malformed("an array runs past its end") }
        let outerEnd = end
        end = offset + length
        defer { end = outerEnd }
        while offset < end { try element(&self) }
    }

    /// The value of a complete type given by its signature (a variant's, or one to pass over).
    package mutating func value(ofType signature: String) throws(DBusError) -> DBusValue {
        let types = Array(signature.utf8)
        var index = 0
        let value = try self.value(types, &index, depth: 1)
        guard index == types.count else { throw Self.malformed("'\(signature)' is not one complete type") }
        return value
    }

    static func malformed(_ why: String) -> DBusError { .invalidValue("a malformed message: \(why)") }

    static func uint32(_ bytes: ByteBuffer, at index: Int, bigEndian: Bool) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 {
            let byte = UInt32(bytes[index + (bigEndian ? i : 3 - i)])
            value = value << 8 | byte
        }
        return value
    }

    private mutating func take(_ count: Int) throws(DBusError) -> Int {
        guard count >= 0, end - offset >= count else { throw Self.malformed("a value runs past its end") }
        defer { offset += count }
        return offset
    }

    package mutating func align(_ boundary: Int) throws(DBusError) {
        while offset % boundary != 0 {
            guard offset < end else { throw Self.malformed("padding runs past its end") }
            guard bytes[offset] == 0 else { throw Self.malformed("non-zero padding") }
            offset += 1
        }
    }

    mutating func byte() throws(DBusError) -> UInt8 { bytes[try take(1)] }

    private mutating func unsigned(_ size: Int) throws(DBusError) -> UInt64 {
        try align(size)
        let at = try take(size)
        var value: UInt64 = 0
        for i in 0..<size { value = value << 8 | UInt64(bytes[at + (bigEndian ? i : size - 1 - i)]) }
        return value
    }

    package mutating func uint32() throws(DBusError) -> UInt32 { UInt32(truncatingIfNeeded: try unsigned(4)) }

    private mutating func text(length: Int) throws(DBusError) -> String {
        let at = try take(length + 1)
        guard bytes[at + length] == 0 else { throw Self.malformed("a string is not NUL-terminated") }
        let slice = bytes.span(at..<(at + length))
        var ascii = true
        for byte in slice {
            if byte == 0 { throw Self.malformed("a string contains NUL") }
            if byte >= 0x80 { ascii = false }
        }
        // ASCII (tokens, names, paths) needs no validation; the generic validating initializer
        // costs a one-shot process a runtime type lookup.
        if ascii { return String(decoding: slice, as: UTF8.self) }
        guard let text = String(validating: slice, as: UTF8.self) else { throw Self.malformed("a string is not valid UTF-8") }
        return text
    }

    package mutating func string() throws(DBusError) -> String {
        let length = Int(try uint32())
        guard length < DBusLimits.maximumMessageLength else { throw Self.malformed("a string longer than a message") }
        return try text(length: length)
    }

    mutating func objectPath() throws(DBusError) -> String {
        let path = try string()
        guard NameRules.objectPath(path) == nil else { throw Self.malformed("an invalid object path") }
        return path
    }

    package mutating func signatureText() throws(DBusError) -> String {
        let signature = try text(length: Int(try byte()))
        do { try SignatureParser.validate(signature) } catch { throw Self.malformed("an invalid signature") }
        return signature
    }

    /// The value of the complete type that starts at `types[index]`; moves `index` past it.
    mutating func value(_ types: [UInt8], _ index: inout Int, depth: Int) throws(DBusError) -> DBusValue {
        guard depth <= 64 else { throw Self.malformed("values nested deeper than 64 containers") }
        guard index < types.count else { throw Self.malformed("a signature ends in the middle of a type") }
        let code = types[index]
        index += 1
        switch code {
        case UInt8(ascii: "y"): return .byte(try byte())
        case UInt8(ascii: "b"):
            let value = try uint32()
            guard value <= 1 else { throw Self.malformed("a boolean of \(value)") }
            return .bool(value == 1)
        case UInt8(ascii: "n"): return .int16(Int16(truncatingIfNeeded: try unsigned(2)))
        case UInt8(ascii: "q"): return .uint16(UInt16(truncatingIfNeeded: try unsigned(2)))
        case UInt8(ascii: "i"): return .int32(Int32(truncatingIfNeeded: try unsigned(4)))
        case UInt8(ascii: "u"): return .uint32(try uint32())
        case UInt8(ascii: "x"): return .int64(Int64(bitPattern: try unsigned(8)))
        case UInt8(ascii: "t"): return .uint64(try unsigned(8))
        case UInt8(ascii: "d"): return .double(Double(bitPattern: try unsigned(8)))
        case UInt8(ascii: "s"): return .string(try string())
        case UInt8(ascii: "o"): return .objectPath(ObjectPath(unchecked: try objectPath()))
        case UInt8(ascii: "g"): return .signature(Signature(unchecked: try signatureText()))
        case UInt8(ascii: "h"): throw .invalidValue(Message.unixFDRefusal)
        case UInt8(ascii: "v"):
            let signature = try signatureText()
            let inner = Array(signature.utf8)
            var innerIndex = 0
            guard !inner.isEmpty else { throw Self.malformed("a variant without a type") }
            let value = try self.value(inner, &innerIndex, depth: depth + 1)
            guard innerIndex == inner.count else { throw Self.malformed("a variant of more than one type") }
            return .variant(value)
        case UInt8(ascii: "("):
            try align(8)
            var fields: [DBusValue] = []
            while index < types.count, types[index] != UInt8(ascii: ")") {
                fields.append(try value(types, &index, depth: depth + 1))
            }
            guard index < types.count else { throw Self.malformed("a struct type is not closed") }
            index += 1
            return .structure(fields)
        case UInt8(ascii: "a"):
            guard index < types.count else { throw Self.malformed("an array without an element type") }
            let elementStart = index
            let elementEnd = try Self.skip(types, elementStart)
            index = elementEnd
            if types[elementStart] == UInt8(ascii: "{") {
                // `{KV}`: every entry is 8-aligned, its key then its value.
                var entries: [DBusValue.DictionaryEntry] = []
                try array(alignment: 8) { (reader: inout WireReader) throws(DBusError) in
                    try reader.align(8)
                    var cursor = elementStart + 1
                    let key = try reader.value(types, &cursor, depth: depth + 2)
                    let value = try reader.value(types, &cursor, depth: depth + 2)
                    entries.append(.init(key: key, value: value))
                }
                let key = Signature(unchecked: String(decoding: types[(elementStart + 1)..<(elementStart + 2)], as: UTF8.self))
                let valueSignature = Signature(unchecked: String(decoding: types[(elementStart + 2)..<(elementEnd - 1)], as: UTF8.self))
                return .dictionary(keySignature: key, valueSignature: valueSignature, entries)
            }
            var values: [DBusValue] = []
            try array(alignment: WireHeader.alignment(of: types[elementStart])) { (reader: inout WireReader) throws(DBusError) in
                var cursor = elementStart
                values.append(try reader.value(types, &cursor, depth: depth + 1))
            }
            return .array(elementSignature: Signature(unchecked: String(decoding: types[elementStart..<elementEnd], as: UTF8.self)),
                          values)
        default:
            throw Self.malformed("'\(Character(Unicode.Scalar(code)))' is not a D-Bus type code")
        }
    }

    /// The index just past the complete type at `types[index]` (the signature is already valid).
    static func skip(_ types: [UInt8], _ index: Int) throws(DBusError) -> Int {
        guard index < types.count else { throw malformed("a signature ends in the middle of a type") }
        switch types[index] {
        case UInt8(ascii: "a"): return try skip(types, index + 1)
        case UInt8(ascii: "("), UInt8(ascii: "{"):
            let close = types[index] == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "}")
            var cursor = index + 1
            while cursor < types.count, types[cursor] != close { cursor = try skip(types, cursor) }
            guard cursor < types.count else { throw malformed("a container type is not closed") }
            return cursor + 1
        default: return index + 1
        }
    }
}
