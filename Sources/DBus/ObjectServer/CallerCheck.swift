import Posix
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
    /// The whole `GetConnectionCredentials` answer the uid came from, kept until the service asks
    /// for it (`takeVouchedCredentials`): a new caller then costs one trip to the bus daemon, not
    /// two — for a one-shot client like `tessera token` that trip is most of the call's latency.
    var vouched: [BusName: VouchedCredentials] = [:]
    /// Calls that arrived while their sender's uid was being asked, in arrival order.
    var waiting: [BusName: [HeldMessage]] = [:]
}

/// A `GetConnectionCredentials` answer held for the service, with the bus's `ProcessFD` if any
/// (owned here; closed when the handle goes, if nobody took it). For a peer-to-peer caller, the
/// kernel's credentials in the same form.
public struct VouchedCredentials: Sendable {
    public let credentials: [String: Variant]
    /// A pidfd taken when the caller connected (the bus's ProcessFD, SO_PEERPIDFD), if any.
    public let process: ProcessHandle?
}

/// One reference to a received message, kept while a call waits for its caller's uid.
final class HeldMessage: Sendable {
    private let handle: CHandle
    let context: ReplyContext
    init(_ message: Message, _ context: ReplyContext) {
        handle = message.releaseOwnership()
        self.context = context
    }
    deinit { dbus_message_unref(handle.pointer) }
    var message: Message { Message(retaining: handle.pointer) }
}

extension Connection {
    /// From now on, every method call to an object of this connection runs only for a caller
    /// whose Unix uid (from `GetConnectionCredentials`, asked once per connection) is `userID`; any other
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
                                  vouched: callerCheck?.vouched ?? [:], waiting: callerCheck?.waiting ?? [:])
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
        let held = HeldMessage(message, context)
        if check.waiting[sender] != nil {
            callerCheck?.waiting[sender]?.append(held)
            return false
        }
        callerCheck?.waiting[sender] = [held]
        busCallOnLoop("GetConnectionCredentials", [.string(sender.rawValue)], takingProcessFD: true) { connection, result in
            connection.callerLookedUp(sender, result)
        }
        return false
    }

    /// Runs on the loop in message order, so a departure seen before this answer was an error
    /// answer (never cached), and one after it removes the entry.
    private func callerLookedUp(_ sender: BusName, _ result: Result<[DBusValue], DBusError>) {
        let values = try? result.get()
        // The ProcessFD (if the bus sent one) is owned from here on, whatever happens next.
        var process: ProcessHandle?
        if let values, values.count == 2, case .unixFD(let fd) = values[1] { process = ProcessHandle(takingOwnership: fd) }
        guard let held = callerCheck?.waiting.removeValue(forKey: sender), let check = callerCheck else { return }
        let credentials = values.flatMap { try? Array($0.prefix(1)).decode([String: Variant].self) }
        let userID = try? credentials?["UnixUserID"]?.get(UInt32.self)
        if let userID, let credentials {
            callerCheck?.known[sender] = userID
            if userID == check.userID {
                callerCheck?.vouched[sender] = VouchedCredentials(credentials: credentials, process: process)
            }
        }
        for entry in held {
            let message = entry.message
            if userID == check.userID {
                dispatchMethodCall(message, entry.context)
            } else {
                refuse(message, entry.context, sender: sender, userID: userID)
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
        callerCheck?.vouched[name] = nil
    }

    /// The credentials the caller check was given for `sender`, once (the ProcessFD's owner moves
    /// to the caller); nil when it holds none, e.g. no check is installed or they were taken. A
    /// peer-to-peer caller's come from the kernel and are given every time.
    /// What the object server already knows of `sender` without asking anyone, left in place.
    func vouchedCredentials(of sender: BusName) -> VouchedCredentials? {
        peerCredentials(of: sender) ?? callerCheck?.vouched[sender]
    }

    func takeVouchedCredentials(of sender: BusName) -> VouchedCredentials? {
        if let peer = peerCredentials(of: sender) { return peer }
        return callerCheck?.vouched.removeValue(forKey: sender)
    }
}

extension ReplyContext {
    init(_ call: Message, peer: PeerLink? = nil) {
        self.init(serial: call.serial, sender: call.sender, expectsReply: call.expectsReply, peer: peer)
    }
}
