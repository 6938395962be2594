// The bus daemon's own methods (org.freedesktop.DBus): names, owners, callers' credentials.

import Posix

/// Options for `Connection.requestName`; DO_NOT_QUEUE is always set.
public struct NameRequestOptions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Let a later `requestName(…, options: .replaceExisting)` take the name from us.
    public static let allowReplacement = NameRequestOptions(rawValue: 0x1)
    /// Take the name from its owner if that owner allowed replacement.
    public static let replaceExisting = NameRequestOptions(rawValue: 0x2)
}

/// A `NameOwnerChanged` signal: `oldOwner`/`newOwner` are nil when the name had/has no owner.
public struct NameOwnerChange: Sendable, Hashable {
    public let name: BusName
    public let oldOwner: BusName?
    public let newOwner: BusName?
}

extension Connection {
    @discardableResult
    nonisolated func busCall(_ member: MemberName, _ arguments: [DBusValue]) async throws(DBusError) -> [DBusValue] {
        try await call(destination: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: member,
                       arguments: arguments, timeout: .seconds(25))
    }

    /// Claims `name` without queueing. Throws `DBusError.nameTaken` when another connection owns it
    /// (unless it allowed replacement and `options` holds `.replaceExisting`).
    public nonisolated func requestName(_ name: BusName, options: NameRequestOptions = []) async throws(DBusError) {
        let flags = options.rawValue | 0x4  // DBUS_NAME_FLAG_DO_NOT_QUEUE
        let reply = try await busCall("RequestName", [.string(name.rawValue), .uint32(flags)])
        switch try reply.decode(UInt32.self) {
        case 1, 4: return  // primary owner / already owner
        default: throw .nameTaken(name)
        }
    }

    /// Gives up `name`; false when we did not own it.
    @discardableResult
    public nonisolated func releaseName(_ name: BusName) async throws(DBusError) -> Bool {
        try await busCall("ReleaseName", [.string(name.rawValue)]).decode(UInt32.self) == 1
    }

    /// The unique name owning `name`, or nil when nobody does.
    public nonisolated func nameOwner(of name: BusName) async throws(DBusError) -> BusName? {
        do {
            return try await busCall("GetNameOwner", [.string(name.rawValue)]).decode(BusName.self)
        } catch where error.isRemote(.nameHasNoOwner) {
            return nil
        }
    }

    /// Every name currently on the bus.
    public nonisolated func listNames() async throws(DBusError) -> [String] {
        try await busCall("ListNames", []).decode([String].self)
    }

    /// The process ID of the connection `sender` (a caller's unique name), as the bus daemon saw it.
    public nonisolated func callerProcessID(of sender: BusName) async throws(DBusError) -> UInt32 {
        try await busCall("GetConnectionUnixProcessID", [.string(sender.rawValue)]).decode(UInt32.self)
    }

    /// The Unix user ID of the connection `sender`.
    public nonisolated func callerUserID(of sender: BusName) async throws(DBusError) -> UInt32 {
        try await busCall("GetConnectionUnixUser", [.string(sender.rawValue)]).decode(UInt32.self)
    }

    /// `GetConnectionCredentials`: `ProcessID` (u), `UnixUserID` (u), `LinuxSecurityLabel` (ay), … .
    /// A `ProcessFD` the bus offers is closed unused (see `credentialsAndProcess(of:)`).
    public nonisolated func credentials(of sender: BusName) async throws(DBusError) -> [String: Variant] {
        try await credentialsAndProcess(of: sender).credentials
    }

    /// `GetConnectionCredentials` with the bus's `ProcessFD` when it offers one (dbus-daemon 1.16,
    /// recent dbus-broker; not Debian 12's 1.14): a pidfd the bus took when `sender` connected, so a
    /// recycled pid cannot be mistaken for it. The only received fd this library takes; it is
    /// owned by the returned handle and closed with it.
    public nonisolated func credentialsAndProcess(of sender: BusName) async throws(DBusError)
        -> (credentials: [String: Variant], process: ProcessHandle?)
    {
        // The caller check (admitCallers) has usually just asked the same question for this sender.
        if let vouched = await takeVouchedCredentials(of: sender) { return (vouched.credentials, vouched.process) }
        let reply = try await call(destination: .bus, path: "/org/freedesktop/DBus", interface: .bus,
                                   member: "GetConnectionCredentials", arguments: [.string(sender.rawValue)],
                                   timeout: .seconds(25), takingProcessFD: true)
        var process: ProcessHandle?
        if reply.count == 2, case .unixFD(let fd) = reply[1] { process = ProcessHandle(takingOwnership: fd) }
        return (try Array(reply.prefix(1)).decode([String: Variant].self), process)
    }

    /// `NameOwnerChanged` for `name` (or every name when nil).
    public func nameOwnerChanges(for name: BusName? = nil) async throws(DBusError) -> AsyncStream<NameOwnerChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: NameOwnerChange.self, bufferingPolicy: .bufferingNewest(4096))
        try await subscribe(.nameOwnerChanged(of: name), continuation: continuation) { signal in
            guard let (name, old, new) = try? signal.arguments.decode(String.self, String.self, String.self),
                  let busName = try? BusName(name) else { return nil }
            return NameOwnerChange(name: busName, oldOwner: try? BusName(old), newOwner: try? BusName(new))
        }
        return stream
    }

    /// Names this connection loses (`NameLost`), e.g. to a `replaceExisting` request.
    public func namesLost() async throws(DBusError) -> AsyncStream<BusName> {
        let (stream, continuation) = AsyncStream.makeStream(of: BusName.self, bufferingPolicy: .bufferingNewest(256))
        let rule = MatchRule(sender: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: "NameLost")
        try await subscribe(rule, continuation: continuation) { signal in
            try? signal.arguments.decode(BusName.self)
        }
        return stream
    }
}
