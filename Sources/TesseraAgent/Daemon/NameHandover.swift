import DBus
import Logging
import TesseraAPI

/// How `tesserad --replace` takes io.tessera.Agent1 over from a running tesserad, while no
/// tesserad holds its name with ALLOW_REPLACEMENT for longer than a handover: the newcomer asks
/// the owner (a call the object server admits only from our own uid), the owner re-requests its
/// name allowing replacement (the bus updates an owner's flags), and the newcomer replaces it.
/// Anybody else asking for the name with REPLACE_EXISTING is refused by the bus.
enum NameHandover {
    static let path: ObjectPath = "/io/tessera/Daemon"
    static let interface: InterfaceName = "io.tessera.Daemon1"
    static let member: MemberName = "Handover"
    /// How long the owner allows replacement after a request before it takes that back.
    static let window: Duration = .seconds(10)

    /// The owner's side.
    static func export(on connection: Connection, logger: Logger) async throws(DBusError) {
        var handover = ExportedInterface(interface)
        handover.method(member) { call in
            logger.notice("\(call.sender) (tesserad --replace) asks to take over \(AgentBus.name)")
            try await connection.requestName(AgentContract.busName, options: .allowReplacement)
            Task {
                try? await Task.sleep(for: window)
                // Still ours, so nobody took it: stop allowing replacement.
                _ = try? await connection.requestName(AgentContract.busName)
            }
            return []
        }
        try await connection.export(handover, at: path)
    }

    /// The newcomer's side: claims the name, and with `replace` asks its owner to hand it over.
    /// Throws `.nameTaken` when the name stays with another process.
    static func claim(on connection: Connection, replace: Bool) async throws(DBusError) {
        do {
            try await connection.requestName(AgentContract.busName)
        } catch .nameTaken where replace {
            // An owner that does not answer (an older tesserad, another program) may still allow
            // replacement; the bus decides.
            _ = try? await connection.call(destination: AgentContract.busName, path: path, interface: interface,
                                           member: member, timeout: .seconds(10))
            try await connection.requestName(AgentContract.busName, options: .replaceExisting)
        }
    }
}
