import CLibSecret

extension KeyringError {
    /// Classifies a GError from libsecret, GDBus or GIO. The D-Bus error name is checked first:
    /// it is what a Secret Service other than gnome-keyring (e.g. KeePassXC) also sends.
    init(_ error: UnsafePointer<GError>) {
        let message = String(cString: error.pointee.message)
        let domain = error.pointee.domain
        let code = error.pointee.code

        if let remote = g_dbus_error_get_remote_error(error) {
            defer { g_free(remote) }
            if let mapped = KeyringError(dbusErrorName: String(cString: remote), message: message) {
                self = mapped
                return
            }
        }
        switch domain {
        case secret_error_get_quark():
            switch SecretError(rawValue: UInt32(bitPattern: code)) {
            case SECRET_ERROR_IS_LOCKED: self = .locked
            case SECRET_ERROR_NO_SUCH_OBJECT where message.contains("default"): self = .noDefaultCollection
            default: self = .other(message)
            }
        case g_dbus_error_quark():
            switch GDBusError(rawValue: UInt32(bitPattern: code)) {
            case G_DBUS_ERROR_SERVICE_UNKNOWN, G_DBUS_ERROR_NAME_HAS_NO_OWNER, G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND,
                 G_DBUS_ERROR_SPAWN_EXEC_FAILED, G_DBUS_ERROR_SPAWN_CHILD_EXITED, G_DBUS_ERROR_SPAWN_FAILED,
                 G_DBUS_ERROR_DISCONNECTED:
                self = .unavailable(message)
            case G_DBUS_ERROR_ACCESS_DENIED, G_DBUS_ERROR_AUTH_FAILED:
                self = .permissionDenied(message)
            default:
                self = .other(message)
            }
        case g_io_error_quark():
            switch GIOErrorEnum(rawValue: UInt32(bitPattern: code)) {
            // libsecret reports a dismissed unlock prompt as a cancelled operation.
            case G_IO_ERROR_CANCELLED: self = .locked
            case G_IO_ERROR_PERMISSION_DENIED: self = .permissionDenied(message)
            // No session bus at all (no DBUS_SESSION_BUS_ADDRESS) or its socket is gone.
            case G_IO_ERROR_NOT_FOUND, G_IO_ERROR_CONNECTION_REFUSED, G_IO_ERROR_CLOSED, G_IO_ERROR_BROKEN_PIPE:
                self = .unavailable(message)
            // No DBUS_SESSION_BUS_ADDRESS and no X11 display to autolaunch a bus from: GIO has
            // no distinct code for this, only G_IO_ERROR_FAILED with this message.
            case G_IO_ERROR_FAILED where message.contains("autolaunch D-Bus"):
                self = .unavailable(message)
            default: self = .other(message)
            }
        default:
            self = .other(message)
        }
    }

    /// Errors named on the wire by the Secret Service API and the bus itself.
    init?(dbusErrorName name: String, message: String) {
        switch name {
        case "org.freedesktop.Secret.Error.IsLocked": self = .locked
        case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
             "org.freedesktop.DBus.Error.Spawn.ServiceNotFound", "org.freedesktop.DBus.Error.Spawn.ExecFailed",
             "org.freedesktop.DBus.Error.Spawn.ChildExited", "org.freedesktop.DBus.Error.Spawn.Failed":
            self = .unavailable(message)
        case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.portal.Error.NotAllowed":
            self = .permissionDenied(message)
        default: return nil
        }
    }
}
