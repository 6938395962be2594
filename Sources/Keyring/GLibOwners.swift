import CLibSecret

// Small owning wrappers over the GLib/libsecret objects one keyring call needs. Each one is
// created, used and released on the worker thread that runs the call, after
// `LibSecretStore.loadLibrary()` succeeded there.

/// Turns a `GError **` out-parameter into a thrown `KeyringError`, freeing the GError at once.
func withGError<Result>(
    _ body: (UnsafeMutablePointer<UnsafeMutablePointer<tessera_gerror>?>) -> Result
) throws(KeyringError) -> Result {
    var error: UnsafeMutablePointer<tessera_gerror>?
    let result = body(&error)
    if let error {
        defer { tessera_gerror_free(error) }
        throw KeyringError(error)
    }
    return result
}

/// A `GHashTable` of string keys and string values (libsecret's attribute form), owned.
final class AttributeTable {
    let table: OpaquePointer

    init(_ pairs: [(String, String)]) {
        table = tessera_gtable_new_strings()
        for (key, value) in pairs { tessera_gtable_insert(table, key, value) }
    }

    /// Adopts a table libsecret returned with transfer full.
    init(takingOwnership table: OpaquePointer) { self.table = table }

    subscript(key: String) -> String? {
        tessera_gtable_lookup(table, key).map { String(cString: $0) }
    }

    deinit { tessera_gtable_unref(table) }
}

/// A libsecret schema, built with `secret_schema_newv`.
final class Schema {
    enum AttributeType {
        case string, integer

        var raw: Int32 {
            switch self {
            case .string: TESSERA_SECRET_ATTRIBUTE_STRING
            case .integer: TESSERA_SECRET_ATTRIBUTE_INTEGER
            }
        }
    }

    let schema: OpaquePointer

    init(name: String, attributes: KeyValuePairs<String, AttributeType>) {
        let types = tessera_secret_schema_types_new()
        defer { tessera_gtable_unref(types) }
        for (key, type) in attributes { tessera_secret_schema_types_insert(types, key, type.raw) }
        schema = tessera_secret_schema_newv(name, types)
    }

    deinit { tessera_secret_schema_unref(schema) }
}
