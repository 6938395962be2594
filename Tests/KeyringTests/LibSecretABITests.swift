import CLibSecret
import CLibSecretHeaders
import Testing

/// Sources/CLibSecret declares the GLib/libsecret types and constants it needs by hand, so that
/// nothing links libsecret (its headers need pkg-config, which would link it). Each one must equal
/// the real headers' — a wrong value would misfile errors or corrupt a call.
@Suite struct LibSecretABITests {
    @Test func constantsMatchTheHeaders() {
        let pairs: [(String, Int64, Int64)] = [
            ("SECRET_SCHEMA_ATTRIBUTE_STRING", Int64(TESSERA_SECRET_ATTRIBUTE_STRING), Int64(SECRET_SCHEMA_ATTRIBUTE_STRING.rawValue)),
            ("SECRET_SCHEMA_ATTRIBUTE_INTEGER", Int64(TESSERA_SECRET_ATTRIBUTE_INTEGER), Int64(SECRET_SCHEMA_ATTRIBUTE_INTEGER.rawValue)),
            ("SECRET_SEARCH_ALL", Int64(TESSERA_SECRET_SEARCH_ALL), Int64(SECRET_SEARCH_ALL.rawValue)),
            ("SECRET_ERROR_IS_LOCKED", Int64(TESSERA_SECRET_ERROR_IS_LOCKED), Int64(SECRET_ERROR_IS_LOCKED.rawValue)),
            ("SECRET_ERROR_NO_SUCH_OBJECT", Int64(TESSERA_SECRET_ERROR_NO_SUCH_OBJECT), Int64(SECRET_ERROR_NO_SUCH_OBJECT.rawValue)),
            ("G_DBUS_ERROR_SERVICE_UNKNOWN", Int64(TESSERA_G_DBUS_ERROR_SERVICE_UNKNOWN), Int64(G_DBUS_ERROR_SERVICE_UNKNOWN.rawValue)),
            ("G_DBUS_ERROR_NAME_HAS_NO_OWNER", Int64(TESSERA_G_DBUS_ERROR_NAME_HAS_NO_OWNER), Int64(G_DBUS_ERROR_NAME_HAS_NO_OWNER.rawValue)),
            ("G_DBUS_ERROR_ACCESS_DENIED", Int64(TESSERA_G_DBUS_ERROR_ACCESS_DENIED), Int64(G_DBUS_ERROR_ACCESS_DENIED.rawValue)),
            ("G_DBUS_ERROR_AUTH_FAILED", Int64(TESSERA_G_DBUS_ERROR_AUTH_FAILED), Int64(G_DBUS_ERROR_AUTH_FAILED.rawValue)),
            ("G_DBUS_ERROR_DISCONNECTED", Int64(TESSERA_G_DBUS_ERROR_DISCONNECTED), Int64(G_DBUS_ERROR_DISCONNECTED.rawValue)),
            ("G_DBUS_ERROR_SPAWN_EXEC_FAILED", Int64(TESSERA_G_DBUS_ERROR_SPAWN_EXEC_FAILED), Int64(G_DBUS_ERROR_SPAWN_EXEC_FAILED.rawValue)),
            ("G_DBUS_ERROR_SPAWN_CHILD_EXITED", Int64(TESSERA_G_DBUS_ERROR_SPAWN_CHILD_EXITED), Int64(G_DBUS_ERROR_SPAWN_CHILD_EXITED.rawValue)),
            ("G_DBUS_ERROR_SPAWN_FAILED", Int64(TESSERA_G_DBUS_ERROR_SPAWN_FAILED), Int64(G_DBUS_ERROR_SPAWN_FAILED.rawValue)),
            ("G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND", Int64(TESSERA_G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND),
             Int64(G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND.rawValue)),
            ("G_IO_ERROR_FAILED", Int64(TESSERA_G_IO_ERROR_FAILED), Int64(G_IO_ERROR_FAILED.rawValue)),
            ("G_IO_ERROR_NOT_FOUND", Int64(TESSERA_G_IO_ERROR_NOT_FOUND), Int64(G_IO_ERROR_NOT_FOUND.rawValue)),
            ("G_IO_ERROR_PERMISSION_DENIED", Int64(TESSERA_G_IO_ERROR_PERMISSION_DENIED), Int64(G_IO_ERROR_PERMISSION_DENIED.rawValue)),
            ("G_IO_ERROR_CLOSED", Int64(TESSERA_G_IO_ERROR_CLOSED), Int64(G_IO_ERROR_CLOSED.rawValue)),
            ("G_IO_ERROR_CANCELLED", Int64(TESSERA_G_IO_ERROR_CANCELLED), Int64(G_IO_ERROR_CANCELLED.rawValue)),
            ("G_IO_ERROR_CONNECTION_REFUSED", Int64(TESSERA_G_IO_ERROR_CONNECTION_REFUSED), Int64(G_IO_ERROR_CONNECTION_REFUSED.rawValue)),
            ("G_IO_ERROR_BROKEN_PIPE", Int64(TESSERA_G_IO_ERROR_BROKEN_PIPE), Int64(G_IO_ERROR_BROKEN_PIPE.rawValue)),
        ]
        for (name, declared, real) in pairs {
            #expect(declared == real, "\(name): declared \(declared), the header says \(real)")
        }
        #expect(TESSERA_SECRET_COLLECTION_DEFAULT == SECRET_COLLECTION_DEFAULT)
    }

    @Test func structLayoutsMatchTheHeaders() {
        #expect(MemoryLayout<tessera_gerror>.size == MemoryLayout<GError>.size)
        #expect(MemoryLayout<tessera_gerror>.offset(of: \.domain) == MemoryLayout<GError>.offset(of: \.domain))
        #expect(MemoryLayout<tessera_gerror>.offset(of: \.code) == MemoryLayout<GError>.offset(of: \.code))
        #expect(MemoryLayout<tessera_gerror>.offset(of: \.message) == MemoryLayout<GError>.offset(of: \.message))
        #expect(MemoryLayout<UInt32>.size == MemoryLayout<GQuark>.size)
        #expect(MemoryLayout<tessera_glist>.size == MemoryLayout<GList>.size)
        #expect(MemoryLayout<tessera_glist>.offset(of: \.data) == MemoryLayout<GList>.offset(of: \.data))
        #expect(MemoryLayout<tessera_glist>.offset(of: \.next) == MemoryLayout<GList>.offset(of: \.next))
        #expect(MemoryLayout<tessera_glist>.offset(of: \.prev) == MemoryLayout<GList>.offset(of: \.prev))
    }
}
