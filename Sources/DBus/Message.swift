import CDBus
#if canImport(Glibc)
import Glibc
#endif

/// An owned libdbus message (`dbus_message_unref` on deinit). Built and read only through
/// `DBusMessageIter`; never the variadic `append_args`/`get_args`.
public final class Message {
    let raw: OpaquePointer

    /// Adopts a reference the caller owns.
    init(takingOwnership raw: OpaquePointer) { self.raw = raw }
    /// Adds a reference of our own.
    init(retaining raw: OpaquePointer) {
        dbus_message_ref(raw)
        self.raw = raw
    }
    deinit { dbus_message_unref(raw) }

    /// Gives up our reference to a caller that will unref it (used to move a message to the loop thread).
    func releaseOwnership() -> CHandle {
        dbus_message_ref(raw)
        return CHandle(raw)
    }

    public enum Kind: Sendable, Hashable { case methodCall, methodReturn, error, signal, other }

    public static func methodCall(
        destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName
    ) throws(DBusError) -> Message {
        guard let raw = dbus_message_new_method_call(destination?.rawValue, path.rawValue,
                                                     interface?.rawValue, member.rawValue) else { throw .outOfMemory }
        return Message(takingOwnership: raw)
    }

    public static func signal(path: ObjectPath, interface: InterfaceName, member: MemberName) throws(DBusError) -> Message {
        guard let raw = dbus_message_new_signal(path.rawValue, interface.rawValue, member.rawValue) else {
            throw .outOfMemory
        }
        return Message(takingOwnership: raw)
    }

    /// A reply to the call identified by `serial` from `destination`.
    static func methodReturn(to context: ReplyContext) throws(DBusError) -> Message {
        guard let raw = dbus_message_new(DBUS_MESSAGE_TYPE_METHOD_RETURN) else { throw .outOfMemory }
        let message = Message(takingOwnership: raw)
        try message.address(to: context)
        return message
    }

    static func error(to context: ReplyContext, name: ErrorName, message text: String) throws(DBusError) -> Message {
        guard let raw = dbus_message_new(DBUS_MESSAGE_TYPE_ERROR) else { throw .outOfMemory }
        let message = Message(takingOwnership: raw)
        try message.address(to: context)
        guard dbus_message_set_error_name(raw, name.rawValue) != 0 else { throw .outOfMemory }
        // NUL would be rejected by the validator; keep the readable rest instead of losing the reply.
        try message.append([.string(String(text.split(separator: "\0", omittingEmptySubsequences: false).joined()))])
        return message
    }

    private func address(to context: ReplyContext) throws(DBusError) {
        dbus_message_set_no_reply(raw, 1)
        guard dbus_message_set_reply_serial(raw, context.serial) != 0 else { throw .outOfMemory }
        // A peer-to-peer client has no bus name: its reply goes back on its own connection, unaddressed.
        if context.peer == nil, let destination = context.sender {
            guard dbus_message_set_destination(raw, destination.rawValue) != 0 else { throw .outOfMemory }
        }
    }

    public var kind: Kind {
        switch dbus_message_get_type(raw) {
        case DBUS_MESSAGE_TYPE_METHOD_CALL: .methodCall
        case DBUS_MESSAGE_TYPE_METHOD_RETURN: .methodReturn
        case DBUS_MESSAGE_TYPE_ERROR: .error
        case DBUS_MESSAGE_TYPE_SIGNAL: .signal
        default: .other
        }
    }

    // libdbus validates every header field of a received message (and refuses ours unless valid),
    // so they are wrapped without a second check.
    public var path: ObjectPath? { dbus_message_get_path(raw).map { ObjectPath(unchecked: String(cString: $0)) } }
    public var interface: InterfaceName? {
        dbus_message_get_interface(raw).map { InterfaceName(unchecked: String(cString: $0)) }
    }
    public var member: MemberName? { dbus_message_get_member(raw).map { MemberName(unchecked: String(cString: $0)) } }
    public var sender: BusName? { dbus_message_get_sender(raw).map { BusName(unchecked: String(cString: $0)) } }
    public var destination: BusName? {
        dbus_message_get_destination(raw).map { BusName(unchecked: String(cString: $0)) }
    }
    public var errorName: ErrorName? {
        dbus_message_get_error_name(raw).map { ErrorName(unchecked: String(cString: $0)) }
    }
    public var signature: Signature {
        dbus_message_get_signature(raw).map { Signature(unchecked: String(cString: $0)) } ?? .empty
    }
    public var serial: UInt32 { dbus_message_get_serial(raw) }
    /// True when the peer attached Unix file descriptors. libdbus holds them open until the
    /// message is freed; `arguments()` refuses such a body, so none is ever duplicated out of it.
    public var carriesUnixFDs: Bool { dbus_message_contains_unix_fds(raw) != 0 }
    public var expectsReply: Bool { dbus_message_get_no_reply(raw) == 0 }

    func isSignal(_ interface: String, _ member: String) -> Bool {
        dbus_message_is_signal(raw, interface, member) != 0
    }

    // MARK: Body

    /// Appends `values` after validating all of them (libdbus aborts on malformed input).
    public func append(_ values: [DBusValue]) throws(DBusError) {
        var size = 0
        for value in values { size += try value.validate() }
        if size >= DBusLimits.maximumMessageLength {
            throw .invalidValue("a message body of about \(size) bytes exceeds the D-Bus limit of \(DBusLimits.maximumMessageLength) bytes")
        }
        _ = try Signature(signature.rawValue + values.signature.rawValue)
        var iter = DBusMessageIter()
        dbus_message_iter_init_append(raw, &iter)
        for value in values {
            guard Self.append(value, to: &iter) else { throw .outOfMemory }
        }
    }

    /// Appends `values` to an empty body whose complete `signature` (theirs) was already checked,
    /// e.g. a reply matching its method's declared outputs: skips re-parsing it.
    func append(_ values: [DBusValue], checkedSignature signature: Signature) throws(DBusError) {
        guard dbus_message_get_signature(raw).map({ $0.pointee == 0 }) ?? true else { return try append(values) }
        var size = 0
        for value in values { size += try value.validate() }
        if size >= DBusLimits.maximumMessageLength {
            throw .invalidValue("a message body of about \(size) bytes exceeds the D-Bus limit of \(DBusLimits.maximumMessageLength) bytes")
        }
        var iter = DBusMessageIter()
        dbus_message_iter_init_append(raw, &iter)
        for value in values {
            guard Self.append(value, to: &iter) else { throw .outOfMemory }
        }
    }

    /// The body, decoded. A body carrying Unix file descriptors is refused: nothing here takes one,
    /// and reading one would hand out a duplicate that somebody must remember to close.
    public func arguments() throws(DBusError) -> [DBusValue] {
        if carriesUnixFDs { throw .invalidValue(Self.unixFDRefusal) }
        var iter = DBusMessageIter()
        guard dbus_message_iter_init(raw, &iter) != 0 else { return [] }
        var values: [DBusValue] = []
        values.reserveCapacity(4)
        while dbus_message_iter_get_arg_type(&iter) != TESSERA_DBUS_TYPE_INVALID {
            values.append(try Self.read(&iter))
            dbus_message_iter_next(&iter)
        }
        return values
    }

    /// The body of a `GetConnectionCredentials` reply: the one place a received Unix fd is taken,
    /// on purpose. A bus that offers `ProcessFD` (dbus-daemon 1.16, recent dbus-broker) sends a pidfd
    /// it took when the caller connected; that one entry comes back as a duplicate the caller owns
    /// (and must close). Every other entry holding an fd is left out without duplicating anything;
    /// libdbus closes the message's own copies when it is freed.
    func credentialsArguments() throws(DBusError) -> (entries: [DBusValue.DictionaryEntry], processFD: Int32?) {
        var iter = DBusMessageIter()
        guard dbus_message_iter_init(raw, &iter) != 0, signature.rawValue == "a{sv}" else {
            throw .invalidValue("GetConnectionCredentials answered with signature \(signature.rawValue), not a{sv}")
        }
        var entries: [DBusValue.DictionaryEntry] = []
        var processFD: Int32?
        var sub = DBusMessageIter()
        dbus_message_iter_recurse(&iter, &sub)
        while dbus_message_iter_get_arg_type(&sub) == TESSERA_DBUS_TYPE_DICT_ENTRY {
            defer { dbus_message_iter_next(&sub) }
            var entry = DBusMessageIter()
            dbus_message_iter_recurse(&sub, &entry)
            let key = Self.string(&entry)
            dbus_message_iter_next(&entry)
            var variant = DBusMessageIter()
            dbus_message_iter_recurse(&entry, &variant)
            if dbus_message_iter_get_arg_type(&variant) == TESSERA_DBUS_TYPE_UNIX_FD {
                guard key == "ProcessFD", processFD == nil else { continue }
                let duplicate = Self.basic(&variant, Int32(-1))
                if duplicate >= 0 { processFD = duplicate }
                continue
            }
            // An fd nested deeper is refused by `read` (its duplicate closed there): skip the entry.
            guard let value = try? Self.read(&variant) else { continue }
            entries.append(.init(key: .string(key), value: .variant(value)))
        }
        return (entries, processFD)
    }

    static let unixFDRefusal = "the message carries Unix file descriptors, which are not accepted here "
        + "(no method takes one); they were closed unread"

    /// The first string argument of an error reply, which is its human-readable message.
    var errorMessage: String {
        if case .string(let text)? = (try? arguments())?.first { return text }
        return ""
    }

    private static func appendBasic<T>(_ iter: inout DBusMessageIter, _ type: Int32, _ value: T) -> Bool {
        var copy = value
        return withUnsafePointer(to: &copy) { dbus_message_iter_append_basic(&iter, type, $0) } != 0
    }

    private static func appendString(_ iter: inout DBusMessageIter, _ type: Int32, _ string: String) -> Bool {
        string.withCString { cString in
            var pointer: UnsafePointer<CChar>? = cString
            return dbus_message_iter_append_basic(&iter, type, &pointer) != 0
        }
    }

    private static func container(
        _ iter: inout DBusMessageIter, _ type: Int32, _ signature: String?,
        _ body: (inout DBusMessageIter) -> Bool
    ) -> Bool {
        var sub = DBusMessageIter()
        let opened: Bool = if let signature {
            signature.withCString { dbus_message_iter_open_container(&iter, type, $0, &sub) } != 0
        } else {
            dbus_message_iter_open_container(&iter, type, nil, &sub) != 0
        }
        guard opened else { return false }
        guard body(&sub) else {
            dbus_message_iter_abandon_container(&iter, &sub)
            return false
        }
        return dbus_message_iter_close_container(&iter, &sub) != 0
    }

    /// Only called on validated values: the one failure left is out-of-memory.
    private static func append(_ value: DBusValue, to iter: inout DBusMessageIter) -> Bool {
        switch value {
        case .byte(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_BYTE, v)
        case .bool(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_BOOLEAN, dbus_bool_t(v ? 1 : 0))
        case .int16(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_INT16, v)
        case .uint16(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_UINT16, v)
        case .int32(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_INT32, v)
        case .uint32(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_UINT32, v)
        case .int64(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_INT64, v)
        case .uint64(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_UINT64, v)
        case .double(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_DOUBLE, v)
        case .unixFD(let v): return appendBasic(&iter, TESSERA_DBUS_TYPE_UNIX_FD, v)
        case .string(let v): return appendString(&iter, TESSERA_DBUS_TYPE_STRING, v)
        case .objectPath(let v): return appendString(&iter, TESSERA_DBUS_TYPE_OBJECT_PATH, v.rawValue)
        case .signature(let v): return appendString(&iter, TESSERA_DBUS_TYPE_SIGNATURE, v.rawValue)
        case .array(let element, let values):
            return container(&iter, TESSERA_DBUS_TYPE_ARRAY, element.rawValue) { sub in
                values.allSatisfy { append($0, to: &sub) }
            }
        case .dictionary(let key, let valueSignature, let entries):
            return container(&iter, TESSERA_DBUS_TYPE_ARRAY, "{\(key.rawValue)\(valueSignature.rawValue)}") { sub in
                entries.allSatisfy { entry in
                    container(&sub, TESSERA_DBUS_TYPE_DICT_ENTRY, nil) { entryIter in
                        append(entry.key, to: &entryIter) && append(entry.value, to: &entryIter)
                    }
                }
            }
        case .structure(let fields):
            return container(&iter, TESSERA_DBUS_TYPE_STRUCT, nil) { sub in fields.allSatisfy { append($0, to: &sub) } }
        case .variant(let inner):
            return container(&iter, TESSERA_DBUS_TYPE_VARIANT, inner.signatureString) { sub in append(inner, to: &sub) }
        }
    }

    private static func basic<T>(_ iter: inout DBusMessageIter, _ initial: T) -> T {
        var value = initial
        withUnsafeMutablePointer(to: &value) { dbus_message_iter_get_basic(&iter, $0) }
        return value
    }

    private static func string(_ iter: inout DBusMessageIter) -> String {
        var pointer: UnsafePointer<CChar>? = nil
        dbus_message_iter_get_basic(&iter, &pointer)
        return pointer.map { String(cString: $0) } ?? ""
    }

    private static func currentSignature(_ iter: inout DBusMessageIter) -> String {
        guard let pointer = dbus_message_iter_get_signature(&iter) else { return "" }
        defer { dbus_free(pointer) }
        return String(cString: pointer)
    }

    /// The signature of a basic type or a variant, from its type code; nil for containers.
    private static func singleLetterSignature(_ type: Int32) -> Signature? {
        switch type {
        case TESSERA_DBUS_TYPE_ARRAY, TESSERA_DBUS_TYPE_STRUCT, TESSERA_DBUS_TYPE_DICT_ENTRY, TESSERA_DBUS_TYPE_INVALID:
            return nil
        default:
            guard let scalar = Unicode.Scalar(UInt32(truncatingIfNeeded: type)) else { return nil }
            return Signature(unchecked: String(Character(scalar)))
        }
    }

    /// The key and value signatures of the dictionary `iter` is on, read from its signature text
    /// `a{KV…}` (which a received message has in valid form) without string slicing.
    private static func entrySignatures(_ iter: inout DBusMessageIter) -> (key: Signature, value: Signature) {
        guard let pointer = dbus_message_iter_get_signature(&iter) else { return (.empty, .empty) }
        defer { dbus_free(pointer) }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: strlen(pointer))
        guard bytes.count >= 5 else { return (.empty, .empty) }
        return (Signature(unchecked: String(decoding: bytes[2..<3], as: UTF8.self)),
                Signature(unchecked: String(decoding: bytes[3..<(bytes.count - 1)], as: UTF8.self)))
    }

    /// A body is valid by the time we read it (libdbus checks received ones in full, and we check
    /// what we append), so its names and signatures are wrapped without a second parse.
    private static func read(_ iter: inout DBusMessageIter) throws(DBusError) -> DBusValue {
        let type = dbus_message_iter_get_arg_type(&iter)
        switch type {
        case TESSERA_DBUS_TYPE_BYTE: return .byte(basic(&iter, UInt8(0)))
        case TESSERA_DBUS_TYPE_BOOLEAN: return .bool(basic(&iter, dbus_bool_t(0)) != 0)
        case TESSERA_DBUS_TYPE_INT16: return .int16(basic(&iter, Int16(0)))
        case TESSERA_DBUS_TYPE_UINT16: return .uint16(basic(&iter, UInt16(0)))
        case TESSERA_DBUS_TYPE_INT32: return .int32(basic(&iter, Int32(0)))
        case TESSERA_DBUS_TYPE_UINT32: return .uint32(basic(&iter, UInt32(0)))
        case TESSERA_DBUS_TYPE_INT64: return .int64(basic(&iter, Int64(0)))
        case TESSERA_DBUS_TYPE_UINT64: return .uint64(basic(&iter, UInt64(0)))
        case TESSERA_DBUS_TYPE_DOUBLE: return .double(basic(&iter, Double(0)))
        case TESSERA_DBUS_TYPE_UNIX_FD:
            // Unreachable while `arguments()` refuses such bodies; libdbus returns a dup, close it.
            let duplicate = basic(&iter, Int32(-1))
            if duplicate >= 0 { close(duplicate) }
            throw .invalidValue(unixFDRefusal)
        case TESSERA_DBUS_TYPE_STRING: return .string(string(&iter))
        case TESSERA_DBUS_TYPE_OBJECT_PATH: return .objectPath(ObjectPath(unchecked: string(&iter)))
        case TESSERA_DBUS_TYPE_SIGNATURE: return .signature(Signature(unchecked: string(&iter)))
        case TESSERA_DBUS_TYPE_ARRAY:
            var sub = DBusMessageIter()
            dbus_message_iter_recurse(&iter, &sub)
            let elementType = dbus_message_iter_get_element_type(&iter)
            if elementType == TESSERA_DBUS_TYPE_DICT_ENTRY {
                let (key, value) = entrySignatures(&iter)
                var entries: [DBusValue.DictionaryEntry] = []
                while dbus_message_iter_get_arg_type(&sub) == TESSERA_DBUS_TYPE_DICT_ENTRY {
                    var entryIter = DBusMessageIter()
                    dbus_message_iter_recurse(&sub, &entryIter)
                    let k = try read(&entryIter)
                    dbus_message_iter_next(&entryIter)
                    let v = try read(&entryIter)
                    entries.append(.init(key: k, value: v))
                    dbus_message_iter_next(&sub)
                }
                return .dictionary(keySignature: key, valueSignature: value, entries)
            }
            // A basic or variant element is its own one-letter signature; only containers need
            // the signature text (libdbus allocates it).
            let elementSignature = singleLetterSignature(elementType)
                ?? Signature(unchecked: String(currentSignature(&iter).dropFirst()))  // "a…" → "…"
            var values: [DBusValue] = []
            while dbus_message_iter_get_arg_type(&sub) != TESSERA_DBUS_TYPE_INVALID {
                values.append(try read(&sub))
                dbus_message_iter_next(&sub)
            }
            return .array(elementSignature: elementSignature, values)
        case TESSERA_DBUS_TYPE_STRUCT:
            var sub = DBusMessageIter()
            dbus_message_iter_recurse(&iter, &sub)
            var fields: [DBusValue] = []
            while dbus_message_iter_get_arg_type(&sub) != TESSERA_DBUS_TYPE_INVALID {
                fields.append(try read(&sub))
                dbus_message_iter_next(&sub)
            }
            return .structure(fields)
        case TESSERA_DBUS_TYPE_VARIANT:
            var sub = DBusMessageIter()
            dbus_message_iter_recurse(&iter, &sub)
            return .variant(try read(&sub))
        default:
            throw .invalidValue("unsupported D-Bus type code \(type) in a received message")
        }
    }
}

/// What a reply needs from the call it answers, kept instead of the call message itself.
struct ReplyContext: Sendable {
    var serial: UInt32
    var sender: BusName?
    var expectsReply: Bool
    /// The peer-to-peer connection the call came in on (`Connection.servePeers`); nil for the bus.
    var peer: PeerLink? = nil
}

/// A libdbus pointer that crosses to the loop thread. The one `@unchecked Sendable` in the module:
/// libdbus objects are internally locked and refcounted, and the connection is only driven from
/// its loop thread, so moving the pointer itself is sound.
struct CHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
