import CDBus

/// Every failure of the DBus module. Each case says what went wrong and, where it helps, what to do.
public enum DBusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A name, path or signature that the D-Bus specification does not allow.
    case invalidName(kind: String, value: String, reason: String)
    /// A value whose D-Bus type is not the one expected (decoding, a property set, a handler's reply).
    case typeMismatch(expected: String, actual: String, context: String)
    /// A value that cannot be marshalled (e.g. a string holding NUL, an array whose elements differ).
    case invalidValue(String)
    /// The peer answered with a D-Bus error; both the wire name and its message are kept.
    case remote(name: ErrorName, message: String)
    /// Connecting to the bus failed (no daemon at the address, authentication refused, …).
    case connectionFailed(String)
    /// libdbus itself reported an error: its D-Bus error name (e.g. `…Error.FileNotFound`) and message.
    case library(name: ErrorName, message: String)
    /// The connection is closed or the bus went away; the call did not (or may not) complete.
    case disconnected
    /// The awaiting task was cancelled; the pending D-Bus call was cancelled with it.
    case cancelled
    /// `requestName` with DO_NOT_QUEUE: someone else owns the name.
    case nameTaken(BusName)
    /// An object path is already exported on this connection (unexport it first).
    case alreadyExported(ObjectPath)
    /// An interface declaration and its handlers do not fit together (missing or unknown handler).
    case invalidInterface(String)
    /// libdbus could not allocate memory.
    case outOfMemory

    public var description: String {
        switch self {
        case .invalidName(let kind, let value, let reason):
            "invalid D-Bus \(kind) '\(value.count > 80 ? String(value.prefix(80)) + "…" : value)': \(reason)"
        case .typeMismatch(let expected, let actual, let context):
            "\(context): expected D-Bus type '\(expected)', got '\(actual)'"
        case .invalidValue(let why): "invalid D-Bus value: \(why)"
        case .remote(let name, let message): "\(name): \(message)"
        case .connectionFailed(let why): "cannot connect to the D-Bus bus: \(why)"
        case .library(let name, let message): "libdbus: \(message) (\(name))"
        case .disconnected: "the D-Bus connection is closed (the bus went away or close() was called)"
        case .cancelled: "the D-Bus call was cancelled"
        case .nameTaken(let name): "the bus name \(name) is already owned by another connection"
        case .alreadyExported(let path): "an object is already exported at \(path); unexport it first"
        case .invalidInterface(let why): "invalid interface export: \(why)"
        case .outOfMemory: "libdbus ran out of memory"
        }
    }

    /// True when the peer's error has this name (e.g. `org.freedesktop.DBus.Error.ServiceUnknown`).
    public func isRemote(_ name: ErrorName) -> Bool {
        if case .remote(let remoteName, _) = self { return remoteName == name }
        return false
    }
}

/// An error a method handler can throw to answer with a chosen D-Bus error name and message.
/// Any other error thrown by a handler answers `org.freedesktop.DBus.Error.Failed`.
public protocol DBusErrorRepresentable: Error {
    var dbusErrorName: ErrorName { get }
    var dbusErrorMessage: String { get }
}

extension DBusError: DBusErrorRepresentable {
    public var dbusErrorName: ErrorName {
        switch self {
        case .remote(let name, _), .library(let name, _): name
        case .invalidName, .typeMismatch, .invalidValue: .invalidArgs
        case .outOfMemory: .noMemory
        default: .failed
        }
    }

    public var dbusErrorMessage: String {
        if case .remote(_, let message) = self { return message }
        return description
    }
}

/// Well-known error names from the D-Bus specification.
extension ErrorName {
    public static let failed: ErrorName = "org.freedesktop.DBus.Error.Failed"
    public static let noMemory: ErrorName = "org.freedesktop.DBus.Error.NoMemory"
    public static let invalidArgs: ErrorName = "org.freedesktop.DBus.Error.InvalidArgs"
    public static let unknownMethod: ErrorName = "org.freedesktop.DBus.Error.UnknownMethod"
    public static let unknownObject: ErrorName = "org.freedesktop.DBus.Error.UnknownObject"
    public static let unknownInterface: ErrorName = "org.freedesktop.DBus.Error.UnknownInterface"
    public static let unknownProperty: ErrorName = "org.freedesktop.DBus.Error.UnknownProperty"
    public static let propertyReadOnly: ErrorName = "org.freedesktop.DBus.Error.PropertyReadOnly"
    public static let serviceUnknown: ErrorName = "org.freedesktop.DBus.Error.ServiceUnknown"
    public static let nameHasNoOwner: ErrorName = "org.freedesktop.DBus.Error.NameHasNoOwner"
    public static let noReply: ErrorName = "org.freedesktop.DBus.Error.NoReply"
    public static let timeout: ErrorName = "org.freedesktop.DBus.Error.Timeout"
    public static let accessDenied: ErrorName = "org.freedesktop.DBus.Error.AccessDenied"
    public static let notSupported: ErrorName = "org.freedesktop.DBus.Error.NotSupported"
}

/// Runs a libdbus call that reports through a `DBusError*` out-parameter, freeing the C error at
/// once. Its failure is `.library` with libdbus's error name and message; a caller that knows
/// better what failed (e.g. connecting) says so, keeping both.
func withCError<T>(_ body: (UnsafeMutablePointer<CDBus.DBusError>) -> T?) throws(DBusError) -> T {
    var error = CDBus.DBusError()
    dbus_error_init(&error)
    defer { dbus_error_free(&error) }
    let result = body(&error)
    if let result, dbus_error_is_set(&error) == 0 { return result }
    let message = error.message.map { String(cString: $0) } ?? "libdbus reported a failure without a message"
    let name = error.name.flatMap { try? ErrorName(String(cString: $0)) } ?? .failed
    throw .library(name: name, message: message)
}
