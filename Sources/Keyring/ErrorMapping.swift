import CLibSecret

extension KeyringError {
    /// Classifies a GError from libsecret, GDBus or GIO. The D-Bus error name is checked first:
    /// it is what a Secret Service other than gnome-keyring (e.g. KeePassXC) also sends.
    init(_ error: UnsafePointer<tessera_gerror>) {
        let message = String(cString: error.pointee.message)
        let domain = error.pointee.domain
        let code = error.pointee.code

        if let remote = tessera_gerror_remote_name(error) {
            defer { tessera_g_free(remote) }
            if let mapped = KeyringError(dbusErrorName: String(cString: remote), message: message) {
                self = mapped
                return
            }
        }
        switch domain {
        case tessera_secret_error_quark():
            switch code {
            case TESSERA_SECRET_ERROR_IS_LOCKED: self = .locked
            case TESSERA_SECRET_ERROR_NO_SUCH_OBJECT where message.contains("default"): self = .noDefaultCollection
            default: self = .other(message)
            }
        case tessera_g_dbus_error_quark():
            switch code {
            case TESSERA_G_DBUS_ERROR_SERVICE_UNKNOWN, TESSERA_G_DBUS_ERROR_NAME_HAS_NO_OWNER,
                 TESSERA_G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND, TESSERA_G_DBUS_ERROR_SPAWN_EXEC_FAILED,
                 TESSERA_G_DBUS_ERROR_SPAWN_CHILD_EXITED, TESSERA_G_DBUS_ERROR_SPAWN_FAILED,
                 TESSERA_G_DBUS_ERROR_DISCONNECTED:
                self = .unavailable(message)
            case TESSERA_G_DBUS_ERROR_ACCESS_DENIED, TESSERA_G_DBUS_ERROR_AUTH_FAILED:
                self = .permissionDenied(message)
            default:
                self = .other(message)
            }
        case tessera_g_io_error_quark():
            switch code {
            // libsecret reports a dismissed unlock prompt as a cancelled operation.
            case TESSERA_G_IO_ERROR_CANCELLED: self = .locked
            case TESSERA_G_IO_ERROR_PERMISSION_DENIED: self = .permissionDenied(message)
            // No session bus at all (no DBUS_SESSION_BUS_ADDRESS) or its socket is gone.
            case TESSERA_G_IO_ERROR_NOT_FOUND, TESSERA_G_IO_ERROR_CONNECTION_REFUSED, TESSERA_G_IO_ERROR_CLOSED,
                 TESSERA_G_IO_ERROR_BROKEN_PIPE:
                self = .unavailable(message)
            // No DBUS_SESSION_BUS_ADDRESS and no X11 display to autolaunch a bus from: GIO has
            // no distinct code for this, only G_IO_ERROR_FAILED with this message.
            case TESSERA_G_IO_ERROR_FAILED where message.contains("autolaunch D-Bus"):
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
