import CDBus

/// A method call that `Connection.admitCallers(ofUserID:refusing:)` turned away: what the refusal's
/// error and log line may say about it.
public struct RefusedCall: Sendable {
    public let sender: BusName
    /// The caller's uid as the bus daemon vouched for it; nil when the bus could not say.
    public let userID: UInt32?
    /// The uid that is admitted.
    public let admittedUserID: UInt32
    public let path: ObjectPath?
    public let interface: InterfaceName?
    public let member: MemberName?

    /// `org.freedesktop.DBus.Error.AccessDenied`, naming both uids.
    public static let accessDenied: @Sendable (RefusedCall) -> any Error = { refused in
        DBusError.remote(name: .accessDenied, message: refused.explanation)
    }

    /// Why, in words, e.g. "only uid 1000 may call this service; the caller :1.7 runs as uid 65534".
    public var explanation: String {
        let who = userID.map { "runs as uid \($0)" } ?? "could not be vouched for by the bus"
        return "only uid \(admittedUserID) may call this service; the caller \(sender) \(who)"
    }
}

/// The object server's caller check: every method call, on every object and every interface
/// (the standard ones too), comes from a connection of `userID` or is refused.
struct CallerCheck {
    let userID: UInt32
    let refusal: @Sendable (RefusedCall) -> any Error
    /// Unique name → uid as the bus daemon said. Unique names are never reused on a bus, and an
    /// entry goes with its name's NameOwnerChanged, so the cache cannot outlive its connection.
    var known: [BusName: UInt32] = [:]
    /// Calls that arrived while their sender's uid was being asked, in arrival order.
    var waiting: [BusName: [HeldMessage]] = [:]
}

/// One reference to a received message, kept while a call waits for its caller's uid.
final class HeldMessage: Sendable {
    private let handle: CHandle
    init(_ message: Message) { handle = message.releaseOwnership() }
    deinit { dbus_message_unref(handle.pointer) }
    var message: Message { Message(retaining: handle.pointer) }
}

extension Connection {
    /// From now on, every method call to an object of this connection runs only for a caller
    /// whose Unix uid (`GetConnectionUnixUser`, asked once per connection) is `userID`; any other
    /// is answered with `refusing`'s error before its arguments are read. Call it before exporting.
    public func admitCallers(ofUserID userID: UInt32,
                             refusing refusal: @escaping @Sendable (RefusedCall) -> any Error = RefusedCall.accessDenied)
        async throws(DBusError)
    {
        guard isOpen else { throw .disconnected }
        if callerCheck == nil {
            // Departures, so the cache forgets them (handled on the loop in `noteBusSignal`).
            try await busCall("AddMatch", [.string(MatchRule.nameOwnerChanged(of: nil).description)])
        }
        callerCheck = CallerCheck(userID: userID, refusal: refusal, known: callerCheck?.known ?? [:],
                                  waiting: callerCheck?.waiting ?? [:])
    }

    /// True when the call may run now. Otherwise it was refused, or is held until the bus says who
    /// its sender is (then it runs or is refused from `callerLookedUp`).
    func admit(_ message: Message, _ context: ReplyContext) -> Bool {
        guard let check = callerCheck else { return true }
        guard let sender = context.sender else {
            replyError(context, .accessDenied, "a method call without a sender is not accepted")
            return false
        }
        if let userID = check.known[sender] {
            if userID == check.userID { return true }
            refuse(message, context, sender: sender, userID: userID)
            return false
        }
        let held = HeldMessage(message)
        if check.waiting[sender] != nil {
            callerCheck?.waiting[sender]?.append(held)
            return false
        }
        callerCheck?.waiting[sender] = [held]
        busCallOnLoop("GetConnectionUnixUser", [.string(sender.rawValue)]) { connection, result in
            connection.callerLookedUp(sender, result)
        }
        return false
    }

    /// Runs on the loop in message order, so a departure seen before this answer was an error
    /// answer (never cached), and one after it removes the entry.
    private func callerLookedUp(_ sender: BusName, _ result: Result<[DBusValue], DBusError>) {
        guard let held = callerCheck?.waiting.removeValue(forKey: sender), let check = callerCheck else { return }
        let userID = try? result.get().decode(UInt32.self)
        if let userID { callerCheck?.known[sender] = userID }
        for entry in held {
            let message = entry.message
            if userID == check.userID {
                dispatchMethodCall(message, ReplyContext(message))
            } else {
                refuse(message, ReplyContext(message), sender: sender, userID: userID)
            }
        }
    }

    private func refuse(_ message: Message, _ context: ReplyContext, sender: BusName, userID: UInt32?) {
        guard let check = callerCheck else { return }
        let refused = RefusedCall(sender: sender, userID: userID, admittedUserID: check.userID, path: message.path,
                                  interface: message.interface, member: message.member)
        replyError(context, for: check.refusal(refused))
    }

    /// A caller left the bus: forget its uid.
    func forgetCaller(_ name: BusName) {
        callerCheck?.known[name] = nil
    }
}

extension ReplyContext {
    init(_ call: Message) {
        self.init(serial: call.serial, sender: call.sender, expectsReply: call.expectsReply)
    }
}
