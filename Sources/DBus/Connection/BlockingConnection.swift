import CDBus
import Glibc

/// A bus connection for a one-shot client that makes a call or two and exits: every call blocks
/// the calling thread in `dbus_connection_send_with_reply_and_block`. No loop thread, no executor,
/// no task hop: a process such as `tessera token NAME` then runs on its main thread alone, which
/// halves its startup cost on a busy machine (every thread handoff waits for a free core).
/// Use `Connection` for anything that serves, subscribes or runs calls concurrently.
public final class BlockingConnection {
    private let raw: OpaquePointer
    /// This connection's unique name on the bus (`:1.42`).
    public let uniqueName: BusName

    /// The session bus named by `DBUS_SESSION_BUS_ADDRESS`, on a private connection of our own.
    /// Fails exactly as `Connection.session()` does.
    public static func session() throws(DBusError) -> BlockingConnection {
        try BlockingConnection(address: sessionBusAddress())
    }

    /// Connects to the bus at `address` and registers with it (Hello).
    public init(address: String) throws(DBusError) {
        let (raw, unique) = try openRegisteredConnection(address)
        self.raw = raw
        self.uniqueName = (try? BusName(unique)) ?? BusName(uncheckedUnique: unique)
    }

    deinit {
        dbus_connection_close(raw)
        dbus_connection_unref(raw)
    }

    /// Calls a method and waits for its reply. A D-Bus error reply, a timeout (`NoReply`) and a
    /// lost bus all surface as `.remote`, with the same names `Connection.call` reports.
    public func call(
        destination: BusName?, path: ObjectPath, interface: InterfaceName?, member: MemberName,
        arguments: [DBusValue] = [], timeout: Duration = .seconds(25)
    ) throws(DBusError) -> [DBusValue] {
        let message = try Message.methodCall(destination: destination, path: path, interface: interface, member: member)
        try message.append(arguments)
        var error = CDBus.DBusError()
        dbus_error_init(&error)
        defer { dbus_error_free(&error) }
        guard let reply = dbus_connection_send_with_reply_and_block(
            raw, message.raw, Connection.milliseconds(timeout), &error) else {
            guard dbus_error_is_set(&error) != 0 else { throw .disconnected }
            let name = error.name.map { String(cString: $0) } ?? ""
            let text = error.message.map { String(cString: $0) } ?? ""
            throw .remote(name: (try? ErrorName(name)) ?? .failed, message: text)
        }
        return try Message(takingOwnership: reply).arguments()
    }
}

/// The address in `DBUS_SESSION_BUS_ADDRESS`; both connection kinds read it here so they fail alike.
func sessionBusAddress() throws(DBusError) -> String {
    guard let address = getenv("DBUS_SESSION_BUS_ADDRESS").map({ String(cString: $0) }), !address.isEmpty else {
        throw .connectionFailed("DBUS_SESSION_BUS_ADDRESS is not set (is there a desktop session bus?)")
    }
    return address
}

/// Opens a private connection to the bus at `address` and registers with it (Hello); the caller
/// owns the returned reference (close and unref it). Shared by `Connection` and `BlockingConnection`.
func openRegisteredConnection(_ address: String) throws(DBusError) -> (raw: OpaquePointer, uniqueName: String) {
    guard !address.utf8.contains(0) else { throw .connectionFailed("the bus address contains NUL") }
    let raw: OpaquePointer
    do { raw = try withCError { dbus_connection_open_private(address, $0) } } catch {
        throw .connectionFailed(error.libdbusDetail)
    }
    // A dying bus daemon must fail calls, not _exit(1) the process.
    dbus_connection_set_exit_on_disconnect(raw, 0)
    do {
        _ = try withCError { error -> Bool? in dbus_bus_register(raw, error) != 0 ? true : nil }
    } catch {
        dbus_connection_close(raw)
        dbus_connection_unref(raw)
        throw .connectionFailed("registering with the bus (Hello): \(error.libdbusDetail)")
    }
    return (raw, String(cString: dbus_bus_get_unique_name(raw)))
}

extension DBusError {
    /// libdbus's message with its error name, e.g. "Failed to connect to socket /x: No such file or
    /// directory (org.freedesktop.DBus.Error.FileNotFound)".
    var libdbusDetail: String {
        if case .library(let name, let message) = self { return "\(message) (\(name))" }
        return description
    }
}
