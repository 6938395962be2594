/// Writes D-Bus messages in the wire format (little-endian), for the one-shot client
/// (`OneShotCall`): a process that makes one call and exits.
///
/// Why not libdbus here: building, validating, marshalling and demarshalling one message through
/// libdbus touched ~40 pages of libdbus code and data in a process that lives a millisecond, a
/// tenth of `tessera token`'s time (bench/RESULTS.md). Everything long-lived (tesserad, the CLI's
/// other commands) keeps using libdbus; `WireCodecTests` checks every message written here with
/// libdbus's own validator (`dbus_message_demarshal`), and every message read here against
/// libdbus's reading of the same bytes.
///
/// Values must have passed `DBusValue.validate()`, which `methodCall` does: after it, writing
/// cannot fail. Alignment is relative to the message's first byte, as the specification says.
package struct WireEncoder {
    package let buffer: ByteBuffer
    private let origin: Int

    /// Appends a message to `buffer` (which may already hold the authentication lines).
    init(appendingTo buffer: ByteBuffer) {
        self.buffer = buffer
        origin = buffer.count
    }

    /// A method call with its header fields and body, as an array (tests); `serial` must not be 0.
    package static func methodCall(
        serial: UInt32, destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
        arguments: [DBusValue], appendingTo prefix: [UInt8] = []
    ) throws(DBusError) -> [UInt8] {
        try methodCall(serial: serial, destination: destination, path: path, interface: interface, member: member,
                       arguments: arguments, appendingTo: ByteBuffer(prefix)).array
    }

    /// A method call with its header fields and body, appended to `buffer`.
    package static func methodCall(
        serial: UInt32, destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
        arguments: [DBusValue], appendingTo buffer: ByteBuffer
    ) throws(DBusError) -> ByteBuffer {
        var size = 0
        for argument in arguments { size += try argument.validate() }
        if size >= DBusLimits.maximumMessageLength {
            throw .invalidValue("a message body of about \(size) bytes exceeds the D-Bus limit of \(DBusLimits.maximumMessageLength) bytes")
        }
        if arguments.containsUnixFD {
            throw .invalidValue("a one-shot call cannot pass Unix file descriptors")
        }
        return methodCall(serial: serial, destination: destination, path: path, interface: interface, member: member,
                          signature: arguments.signatureString, appendingTo: buffer) { body in
            for argument in arguments { body.append(argument) }
        }
    }

    /// A method call whose body `write` writes directly, typed, with no `DBusValue` in between
    /// (the one-shot `tessera token`); `signature` must be what it writes: callers test that
    /// their bytes equal the `DBusValue` form's.
    package static func methodCall(
        serial: UInt32, destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
        signature: String, appendingTo buffer: ByteBuffer, body write: (inout WireEncoder) -> Void
    ) -> ByteBuffer {
        var encoder = WireEncoder(appendingTo: buffer)
        encoder.buffer.append(UInt8(ascii: "l"))
        encoder.buffer.append(WireHeader.methodCall)
        encoder.buffer.append(0)  // flags: a reply is expected, auto-start allowed
        encoder.buffer.append(1)  // protocol version
        let bodyLengthAt = encoder.buffer.count
        encoder.uint32(0)
        encoder.uint32(serial)
        let fieldsLengthAt = encoder.buffer.count
        encoder.uint32(0)
        let fieldsStart = encoder.buffer.count
        encoder.field(WireHeader.path, "o") { $0.string(path.rawValue) }
        if let interface { encoder.field(WireHeader.interface, "s") { $0.string(interface.rawValue) } }
        encoder.field(WireHeader.member, "s") { $0.string(member.rawValue) }
        if let destination { encoder.field(WireHeader.destination, "s") { $0.string(destination.rawValue) } }
        if !signature.isEmpty { encoder.field(WireHeader.signature, "g") { $0.signature(signature) } }
        encoder.patch(UInt32(encoder.buffer.count - fieldsStart), at: fieldsLengthAt)
        encoder.align(8)
        let bodyStart = encoder.buffer.count
        write(&encoder)
        encoder.patch(UInt32(encoder.buffer.count - bodyStart), at: bodyLengthAt)
        return encoder.buffer
    }

    package mutating func append(_ value: DBusValue) {
        switch value {
        case .byte(let v): buffer.append(v)
        case .bool(let v): bool(v)
        case .int16(let v): uint16(UInt16(bitPattern: v))
        case .uint16(let v): uint16(v)
        case .int32(let v): uint32(UInt32(bitPattern: v))
        case .uint32(let v): uint32(v)
        case .int64(let v): uint64(UInt64(bitPattern: v))
        case .uint64(let v): uint64(v)
        case .double(let v): uint64(v.bitPattern)
        case .string(let v): string(v)
        case .objectPath(let v): string(v.rawValue)
        case .signature(let v): signature(v.rawValue)
        case .unixFD(let v): uint32(UInt32(bitPattern: v))  // refused by `methodCall` before any write
        case .array(let element, let values):
            array(elementAlignment: WireHeader.alignment(of: element.rawValue.utf8.first ?? 0)) {
                for value in values { $0.append(value) }
            }
        case .dictionary(_, _, let entries):
            array(elementAlignment: 8) {
                for entry in entries {
                    $0.align(8)
                    $0.append(entry.key)
                    $0.append(entry.value)
                }
            }
        case .structure(let fields):
            align(8)
            for field in fields { append(field) }
        case .variant(let inner):
            signature(inner.signatureString)
            append(inner)
        }
    }

    // MARK: Pieces

    private mutating func field(_ code: UInt8, _ type: StaticString, _ value: (inout WireEncoder) -> Void) {
        align(8)
        buffer.append(code)
        buffer.append(1)
        buffer.append(type.utf8Start.pointee)
        buffer.append(0)
        value(&self)
    }

    /// The length, the padding to the first element (not counted in the length), the elements.
    package mutating func array(elementAlignment: Int, _ elements: (inout WireEncoder) -> Void) {
        align(4)
        let lengthAt = buffer.count
        uint32(0)
        align(elementAlignment)
        let start = buffer.count
        elements(&self)
        patch(UInt32(buffer.count - start), at: lengthAt)
    }

    package mutating func align(_ boundary: Int) {
        while (buffer.count - origin) % boundary != 0 { buffer.append(0) }
    }

    private mutating func uint16(_ v: UInt16) {
        align(2)
        buffer.append(UInt8(truncatingIfNeeded: v))
        buffer.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    package mutating func bool(_ v: Bool) { uint32(v ? 1 : 0) }

    /// `v`: the value's signature, then the value.
    package mutating func variant(_ signature: StaticString, _ value: (inout WireEncoder) -> Void) {
        buffer.append(UInt8(signature.utf8CodeUnitCount))
        buffer.append(signature)
        buffer.append(0)
        value(&self)
    }

    package mutating func uint32(_ v: UInt32) {
        align(4)
        for shift in stride(from: 0, to: 32, by: 8) { buffer.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    private mutating func uint64(_ v: UInt64) {
        align(8)
        for shift in stride(from: 0, to: 64, by: 8) { buffer.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }

    package mutating func string(_ s: String) {
        uint32(UInt32(s.utf8.count))
        buffer.append(utf8: s)
        buffer.append(0)
    }

    package mutating func signature(_ s: String) {
        buffer.append(UInt8(s.utf8.count))
        buffer.append(utf8: s)
        buffer.append(0)
    }

    private mutating func patch(_ v: UInt32, at index: Int) {
        for i in 0..<4 { buffer.set(UInt8(truncatingIfNeeded: v >> UInt32(8 * i)), at: index + i) }
    }
}

/// The fixed parts of the format that the encoder and the decoder share.
enum WireHeader {
    static let methodCall: UInt8 = 1
    static let methodReturn: UInt8 = 2
    static let error: UInt8 = 3
    static let signal: UInt8 = 4

    static let path: UInt8 = 1
    static let interface: UInt8 = 2
    static let member: UInt8 = 3
    static let errorName: UInt8 = 4
    static let replySerial: UInt8 = 5
    static let destination: UInt8 = 6
    static let sender: UInt8 = 7
    static let signature: UInt8 = 8
    static let unixFDs: UInt8 = 9
    static let containerInstance: UInt8 = 10

    /// The alignment of a type by its first signature character.
    static func alignment(of code: UInt8) -> Int {
        switch code {
        case UInt8(ascii: "y"), UInt8(ascii: "g"), UInt8(ascii: "v"): 1
        case UInt8(ascii: "n"), UInt8(ascii: "q"): 2
        case UInt8(ascii: "x"), UInt8(ascii: "t"), UInt8(ascii: "d"), UInt8(ascii: "("), UInt8(ascii: "{"): 8
        default: 4  // b i u s o h a
        }
    }
}

extension Array where Element == DBusValue {
    /// True when a file descriptor is anywhere in the values.
    var containsUnixFD: Bool {
        for value in self where value.containsUnixFD { return true }
        return false
    }
}

extension DBusValue {
    var containsUnixFD: Bool {
        switch self {
        case .unixFD: true
        case .array(_, let values), .structure(let values): values.containsUnixFD
        case .dictionary(_, _, let entries): entries.contains { $0.key.containsUnixFD || $0.value.containsUnixFD }
        case .variant(let inner): inner.containsUnixFD
        default: false
        }
    }
}
