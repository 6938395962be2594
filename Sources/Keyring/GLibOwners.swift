import CLibSecret

// Small owning wrappers over the GLib/libsecret objects one keyring call needs. Each one is
// created, used and released on the worker thread that runs the call.

/// Turns a `GError **` out-parameter into a thrown `KeyringError`, freeing the GError at once.
func withGError<Result>(
    _ body: (UnsafeMutablePointer<UnsafeMutablePointer<GError>?>) -> Result
) throws(KeyringError) -> Result {
    var error: UnsafeMutablePointer<GError>?
    let result = body(&error)
    if let error {
        defer { g_error_free(error) }
        throw KeyringError(error)
    }
    return result
}

/// A `GHashTable` of string keys and string values (libsecret's attribute form), owned.
final class AttributeTable {
    let table: OpaquePointer

    init(_ pairs: [(String, String)]) {
        table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free)
        for (key, value) in pairs { g_hash_table_insert(table, g_strdup(key), g_strdup(value)) }
    }

    /// Adopts a table libsecret returned with transfer full.
    init(takingOwnership table: OpaquePointer) { self.table = table }

    subscript(key: String) -> String? {
        guard let value = g_hash_table_lookup(table, key) else { return nil }
        return String(cString: value.assumingMemoryBound(to: CChar.self))
    }

    deinit { g_hash_table_unref(table) }
}

/// The `io.tessera.Secret` schema, built with `secret_schema_newv`.
final class Schema {
    let schema: UnsafeMutablePointer<SecretSchema>

    init(name: String, attributes: KeyValuePairs<String, SecretSchemaAttributeType>) {
        // The table maps attribute names to GINT_TO_POINTER(type); STRING is 0, i.e. NULL.
        let types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, nil)
        defer { g_hash_table_unref(types) }
        for (key, type) in attributes {
            g_hash_table_insert(types, g_strdup(key), UnsafeMutableRawPointer(bitPattern: Int(type.rawValue)))
        }
        schema = secret_schema_newv(name, SECRET_SCHEMA_NONE, types)
    }

    deinit { secret_schema_unref(schema) }
}
