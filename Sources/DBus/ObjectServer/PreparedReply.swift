import CDBus

/// A method reply's body marshalled once, to be sent any number of times — e.g. a cached answer
/// kept with what it answers and dropped with it.
///
/// Each send is one `dbus_message_copy` of the marshalled template (one copy of its bytes) plus
/// the reply serial and destination: no Swift value is built, validated or marshalled per reply.
/// The template is never sent or changed after `init`, so copying it from any thread is sound.
public final class PreparedReply: Sendable {
    /// The complete signature of the body, checked against the method's declared outputs per use.
    public let signature: Signature
    private let template: CHandle

    /// Marshals `values` (validated as every reply is).
    public init(_ values: [DBusValue]) throws(DBusError) {
        guard let raw = dbus_message_new(DBUS_MESSAGE_TYPE_METHOD_RETURN) else { throw .outOfMemory }
        let message = Message(takingOwnership: raw)
        try message.append(values)
        signature = message.signature
        template = message.releaseOwnership()
    }

    deinit { dbus_message_unref(template.pointer) }

    /// A new message (owned by the caller) answering `context`; nil when libdbus is out of memory.
    func reply(to context: ReplyContext) -> OpaquePointer? {
        guard let copy = dbus_message_copy(template.pointer) else { return nil }
        dbus_message_set_no_reply(copy, 1)
        var addressed = dbus_message_set_reply_serial(copy, context.serial) != 0
        if addressed, context.peer == nil, let destination = context.sender {
            addressed = dbus_message_set_destination(copy, destination.rawValue) != 0
        }
        guard addressed else {
            dbus_message_unref(copy)
            return nil
        }
        return copy
    }
}

/// What an immediate answer sees of a method call: who sent it (as the bus says) and its
/// arguments, already checked against the method's declared input signature.
public struct ImmediateCall {
    public let sender: BusName
    public let arguments: [DBusValue]
    /// The caller's credentials when the object server holds them already (a peer-to-peer
    /// caller's from the kernel; a bus caller's first call, from the caller check's own
    /// question): enough to identify a new caller without waiting. Nil otherwise.
    public let vouched: VouchedCredentials?

    public init(sender: BusName, arguments: [DBusValue], vouched: VouchedCredentials? = nil) {
        self.sender = sender
        self.arguments = arguments
        self.vouched = vouched
    }
}

/// A synchronous answer to a method call, tried on the connection's thread as the call arrives —
/// before any task exists and before any other message is read. It returns a ready reply, or nil
/// to decline: then the method's handler runs exactly as it would without one.
///
/// It must not block or wait for anything (it holds up every call on the connection while it
/// runs); a read under a short lock is fine. Its reply must carry the method's declared output
/// signature, or it counts as declined.
public typealias ImmediateAnswer = @Sendable (ImmediateCall) -> PreparedReply?
