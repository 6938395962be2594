import DBus
import FoundationEssentials
import Glibc
import Logging
import Posix
import Synchronization
import TesseraCore

/// A caller as the bus daemon vouches for it (GetConnectionCredentials), not as it describes
/// itself: the `application` option is a display hint anyone can fill in, this is not.
public struct VerifiedCaller: Sendable, Equatable, CustomStringConvertible {
    public let uniqueName: String
    public let userID: UInt32
    public let processID: UInt32?
    /// `/proc/PID/exe` when it could be read: the program that made the connection.
    public let executable: String?

    /// What consent rules are keyed on. Today the executable; the sandbox identity (Flatpak app id,
    /// Snap name) takes precedence once the caller lookup reads it.
    public var application: ApplicationID? { executable.map { .executable($0) } }

    /// For logs and notifications, e.g. `/usr/bin/tessera (pid 4242)`.
    public var description: String {
        switch (executable, processID) {
        case (let exe?, let pid?): "\(exe) (pid \(pid))"
        case (let exe?, nil): exe
        case (nil, let pid?): "pid \(pid)"
        case (nil, nil): uniqueName
        }
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
        let caller = try await lookUp(sender)
        state.withLock { state in
            if !state.departed.contains(name) { state.callers[name] = caller }
        }
        return try admit(caller)
    }

    private func admit(_ caller: VerifiedCaller) throws(AgentError) -> VerifiedCaller {
        guard caller.userID == ownUserID else {
            logger.warning("refused a call from \(caller) of uid \(caller.userID): tesserad serves only uid \(ownUserID)")
            throw .notPermitted("tesserad serves only its own user (uid \(ownUserID)); this caller runs as uid \(caller.userID)")
        }
        return caller
    }

    private func lookUp(_ sender: BusName) async throws(AgentError) -> VerifiedCaller {
        let credentials: [String: Variant]
        do { credentials = try await connection.credentials(of: sender) } catch {
            logger.warning("cannot verify the caller \(sender): \(error)")
            throw .notPermitted("the bus could not vouch for the caller \(sender.rawValue): \(error)")
        }
        guard let userID = try? credentials["UnixUserID"]?.get(UInt32.self) else {
            throw .notPermitted("the bus does not know the Unix user of the caller \(sender.rawValue)")
        }
        let processID = try? credentials["ProcessID"]?.get(UInt32.self)
        let caller = VerifiedCaller(uniqueName: sender.rawValue, userID: userID, processID: processID,
                                    executable: processID.flatMap(Self.executable(of:)))
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

    /// The program behind a process: the target of `/proc/PID/exe`. Readable for our own user's
    /// processes (not for another user's or a non-dumpable one — then the pid alone is shown).
    static func executable(of processID: UInt32) -> String? {
        Posix.readLink("/proc/\(processID)/exe")
    }
}
