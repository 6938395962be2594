import DBus
import FoundationEssentials
import Glibc
import Logging
import Posix
import Synchronization
import TesseraCore

/// A caller as the bus daemon and the kernel vouch for it (GetConnectionCredentials or
/// SO_PEERCRED, then /proc through a pidfd), not as it describes itself: the `application` option
/// is a display hint anyone can fill in, this is not.
public struct VerifiedCaller: Sendable, Equatable, CustomStringConvertible {
    public let uniqueName: String
    public let userID: UInt32
    public let processID: UInt32?
    /// `/proc/PID/exe` when it could be read: the program that made the connection.
    public let executable: String?
    /// The Flatpak app id or Snap name when the caller runs in such a sandbox (`CallerIdentity`).
    public let sandbox: ApplicationID?

    public init(uniqueName: String, userID: UInt32, processID: UInt32?, executable: String?, sandbox: ApplicationID? = nil) {
        self.uniqueName = uniqueName
        self.userID = userID
        self.processID = processID
        self.executable = executable
        self.sandbox = sandbox
    }

    /// The one way a caller is built, for bus callers and oidc-agent socket peers alike: the
    /// identity is read through `CallerIdentity` from what the bus or the kernel reported.
    public static func identify(uniqueName: String, userID: UInt32, processID: UInt32?, handle: ProcessHandle?,
                                handleTakenAtConnect: Bool, securityLabel: [UInt8]?, askedAt: Duration?) -> VerifiedCaller {
        let identity = CallerIdentity.identify(processID: processID, handle: handle, handleTakenAtConnect: handleTakenAtConnect,
                                               securityLabel: securityLabel, askedAt: askedAt)
        return VerifiedCaller(uniqueName: uniqueName, userID: userID, processID: processID,
                              executable: identity.executable, sandbox: identity.sandbox)
    }

    /// What consent rules are keyed on: the sandbox identity when there is one (code inside the
    /// sandbox cannot choose it), else the executable; nil when neither could be read.
    public var application: ApplicationID? { sandbox ?? executable.map { .executable($0) } }

    /// For logs and notifications: `/usr/bin/foo (pid 42)`, or for a sandboxed caller
    /// `flatpak:org.example.App (/app/bin/foo, pid 42)`.
    public var description: String {
        let pid = processID.map { "pid \($0)" }
        if let sandbox {
            return "\(sandbox) (\([executable, pid].compactMap { $0 }.joined(separator: ", ")))"
        }
        switch (executable, pid) {
        case (let exe?, let pid?): return "\(exe) (\(pid))"
        case (let exe?, nil): return exe
        case (nil, let pid?): return pid
        case (nil, nil): return uniqueName
        }
    }

    /// "X (exe, pid N)" for questions and notifications: "rclone (/usr/bin/rclone, pid 42)",
    /// "flatpak:org.example.App (/app/bin/app, pid 42)", or "an unidentified program (pid 42)" —
    /// the kernel's and the bus's word, never the caller's (its hint goes through `shown(hint:)`,
    /// marked as its own claim).
    public var program: String {
        guard sandbox == nil, let path = executable else {
            return application == nil ? "an unidentified program (\(description))" : description
        }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return "\(name) (\(path)\(processID.map { ", pid \($0)" } ?? ""))"
    }

    /// Longest hint shown.
    public static let maxHint = 80

    /// The verified caller, then the caller's own `application` hint quoted as a claim (control
    /// characters dropped, at most `maxHint` characters): `/usr/bin/foo (pid 42) (calls itself “Foo”)`.
    /// What logs and notifications show; the hint never decides anything.
    public func describe(hint: String?) -> String {
        guard let hint else { return description }
        return "\(description) (calls itself “\(Self.shown(hint: hint))”)"
    }

    /// A caller's hint as it may be shown: control characters dropped, at most `maxHint` characters.
    public static func shown(hint: String) -> String {
        String(hint.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f && !(0x80..<0xa0).contains($0.value) }
            .map(Character.init).prefix(maxHint))
    }
}

/// Who may call the agent: connections of the Unix user the service runs as, nobody else.
///
/// Tokens are the user's; another user on the same bus (a bus configured to admit several users,
/// or root poking at the user's bus) must not get them. Credentials come from the bus daemon once
/// per connection and are cached by unique name — unique names are never reused on a bus — so a
/// cached GetToken costs no extra round trip. An entry goes when its name leaves the bus.
public final class CallerPolicy: Sendable {
    private struct State {
        var callers: [String: VerifiedCaller] = [:]
        /// Names that left while their credentials were being fetched, so a late answer is not
        /// cached for a connection that is already gone. Bounded: only the newest are kept.
        var departed: [String] = []
    }

    static let departedMemory = 256

    private let connection: Connection
    private let logger: Logger
    private let ownUserID: UInt32
    private let state = Mutex(State())

    public init(connection: Connection, logger: Logger, ownUserID: UInt32 = UInt32(getuid())) {
        self.connection = connection
        self.logger = logger
        self.ownUserID = ownUserID
    }

    /// Starts forgetting connections that leave the bus; call once, before serving.
    public func watchDepartures() async throws(DBusError) {
        let changes = try await connection.nameOwnerChanges()
        Task { [self] in
            for await change in changes where change.newOwner == nil && change.name.rawValue.hasPrefix(":") {
                forget(change.name.rawValue)
            }
        }
    }

    /// How many connections are cached (for tests and debugging).
    public var cachedCount: Int { state.withLock { $0.callers.count } }

    /// The verified caller, or `NotPermitted` for another user (or a caller the bus cannot vouch for).
    public func verify(_ sender: BusName) async throws(AgentError) -> VerifiedCaller {
        let name = sender.rawValue
        if let known = state.withLock({ $0.callers[name] }) { return try admit(known) }
        // The caller's message has arrived, so its process existed by now: one that started later
        // holds a recycled pid.
        let caller = try await lookUp(sender, askedAt: Posix.sinceBoot())
        state.withLock { state in
            if !state.departed.contains(name) { state.callers[name] = caller }
        }
        return try admit(caller)
    }

    /// The caller if it was verified before and is admitted; nil otherwise (not yet looked up, or
    /// refused: then `verify` answers, and logs a refusal). Synchronous, for the D-Bus thread's
    /// immediate answers, which only an already verified caller may get.
    public func admittedIfKnown(_ sender: BusName) -> VerifiedCaller? {
        guard let known = state.withLock({ $0.callers[sender.rawValue] }), isAdmitted(known) else { return nil }
        return known
    }

    /// `admittedIfKnown`, or for a caller not yet looked up whose credentials the object server
    /// already holds (`ImmediateCall.vouched`: a peer-to-peer caller, or a bus caller's first
    /// call), looked up now from them — the same reads `verify` makes, with no bus trip — and
    /// remembered. So a one-shot client's only call can be answered from the cache too.
    public func admitted(_ sender: BusName, vouched: VouchedCredentials?) -> VerifiedCaller? {
        if let known = admittedIfKnown(sender) { return known }
        guard let vouched, state.withLock({ $0.callers[sender.rawValue] == nil }) else { return nil }
        guard let caller = identify(sender, vouched.credentials, vouched.process, askedAt: Posix.sinceBoot()) else { return nil }
        state.withLock { state in
            if !state.departed.contains(sender.rawValue) { state.callers[sender.rawValue] = caller }
        }
        return isAdmitted(caller) ? caller : nil
    }

    /// Whether credentials the object server holds name this service's own user.
    public func isOwnUser(_ vouched: VouchedCredentials?) -> Bool {
        (try? vouched?.credentials["UnixUserID"]?.get(UInt32.self)) == ownUserID
    }

    /// The one rule both `verify` and `admittedIfKnown` apply.
    private func isAdmitted(_ caller: VerifiedCaller) -> Bool { caller.userID == ownUserID }

    private func admit(_ caller: VerifiedCaller) throws(AgentError) -> VerifiedCaller {
        guard isAdmitted(caller) else {
            logger.warning("refused a call from \(caller) of uid \(caller.userID): tesserad serves only uid \(ownUserID)")
            throw .notPermitted("tesserad serves only its own user (uid \(ownUserID)); this caller runs as uid \(caller.userID)")
        }
        return caller
    }

    private func lookUp(_ sender: BusName, askedAt: Duration) async throws(AgentError) -> VerifiedCaller {
        let credentials: [String: Variant], process: ProcessHandle?
        do { (credentials, process) = try await connection.credentialsAndProcess(of: sender) } catch {
            logger.warning("cannot verify the caller \(sender): \(error)")
            throw .notPermitted("the bus could not vouch for the caller \(sender.rawValue): \(error)")
        }
        guard let caller = identify(sender, credentials, process, askedAt: askedAt) else {
            throw .notPermitted("the bus does not know the Unix user of the caller \(sender.rawValue)")
        }
        return caller
    }

    /// Who the caller is, from its credentials; nil without a uid.
    private func identify(_ sender: BusName, _ credentials: [String: Variant], _ process: ProcessHandle?,
                          askedAt: Duration) -> VerifiedCaller? {
        guard let userID = try? credentials["UnixUserID"]?.get(UInt32.self) else { return nil }
        let processID = try? credentials["ProcessID"]?.get(UInt32.self)
        let label = try? credentials["LinuxSecurityLabel"]?.get([UInt8].self)
        let caller = VerifiedCaller.identify(uniqueName: sender.rawValue, userID: userID, processID: processID,
                                             handle: process, handleTakenAtConnect: process != nil, securityLabel: label,
                                             askedAt: askedAt)
        logger.debug("new caller \(sender): \(caller), uid \(userID)")
        return caller
    }

    private func forget(_ name: String) {
        state.withLock { state in
            if state.callers.removeValue(forKey: name) == nil {
                state.departed.append(name)
                if state.departed.count > Self.departedMemory { state.departed.removeFirst() }
            }
        }
    }
}
