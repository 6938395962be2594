import CLibSecret
import Secrets

/// `SecretStore` over libsecret's non-variadic `secret_password_*v_sync` functions, in the
/// default collection under schema `io.tessera.Secret`.
///
/// The blocking calls run on a few dedicated threads. Each caller waits at most `timeout`: a
/// keyring stuck behind an unanswered unlock prompt gives `.timeout`, the prompt stays up for
/// the user (it is not dismissed, see `BlockingWorkers.run`), and the other calls go on.
public final class LibSecretStore: SecretStore {
    public static let schemaName = "io.tessera.Secret"
    /// The `gen` attribute written with every item: the format generation of the stored value.
    public static let generation = 1

    public let timeout: Duration
    private let workers: BlockingWorkers

    /// - Parameters:
    ///   - timeout: the longest a caller waits for one keyring call.
    ///   - threads: how many keyring calls may block at once.
    public init(timeout: Duration = .seconds(10), threads: Int = 4) {
        self.timeout = timeout
        workers = BlockingWorkers(threads: max(1, threads), name: "tessera-keyring")
        // libsecret's GTasks run on GLib's thread pool, whose spare workers wait 15 s for work and
        // then retire: one wake-up of an idle service after every keyring call. With no time
        // limit the spares (at most two, GLib's default) stay parked instead. Process-wide; GLib
        // is only here for libsecret.
        g_thread_pool_set_max_idle_time(0)
        Self.registerEnumTypes()
    }

    /// libsecret 0.20 (Debian 12) registers its enum GTypes without a once-guard: its generated
    /// `*_get_type` reads a static, and if it is 0 registers the type and stores the result. Two
    /// threads making their first keyring call at the same moment both register; the loser gets
    /// G_TYPE_INVALID and stores it, and from then on every schema built in the process has
    /// attributes of invalid type ("cannot register existing type 'SecretSchemaAttributeType'"),
    /// so every store fails without a GError until tesserad restarts. Registering them all here,
    /// before any worker runs a job, closes that window; a `static let` runs it once per process.
    private static let enumTypes: [GType] = [
        secret_schema_attribute_type_get_type(), secret_schema_flags_get_type(), secret_schema_type_get_type(),
        secret_search_flags_get_type(), secret_service_flags_get_type(), secret_collection_flags_get_type(),
        secret_collection_create_flags_get_type(), secret_item_flags_get_type(),
        secret_item_create_flags_get_type(), secret_backend_flags_get_type(), secret_error_get_type(),
    ]

    private static func registerEnumTypes() { _ = enumTypes }

    /// The names of libsecret's enum types the GLib type system does not know yet. Looking them
    /// up registers nothing, so a fresh process can check that creating a store registered them.
    public static func unregisteredEnumTypes() -> [String] {
        ["SecretSchemaAttributeType", "SecretSchemaFlags", "SecretSearchFlags", "SecretServiceFlags",
         "SecretCollectionFlags", "SecretItemFlags", "SecretError"]
            .filter { g_type_from_name($0) == 0 }
    }

    /// Fails for a value libsecret cannot keep intact: empty or containing a NUL character.
    public func store(_ secret: Secret, for key: SecretKey) async throws(KeyringError) {
        try Self.validate(key)
        guard !secret.isEmpty else { throw .invalidArgument("a secret cannot be empty") }
        guard !secret.containsNUL else { throw .invalidArgument("a secret cannot contain a NUL character") }
        try await workers.run(timeout: timeout) { () throws(KeyringError) in
            let schema = Self.makeSchema()
            let attributes = Self.attributes(of: key, generation: true)
            let stored = try secret.withUTF8CString { password throws(KeyringError) in
                try withGError { error in
                    secret_password_storev_sync(
                        schema.schema, attributes.table, SECRET_COLLECTION_DEFAULT, key.label, password, nil, error)
                }
            }
            guard stored != 0 else { throw .other("the Secret Service did not store the item") }
        }
    }

    public func load(_ key: SecretKey) async throws(KeyringError) -> Secret? {
        try Self.validate(key)
        return try await workers.run(timeout: timeout) { () throws(KeyringError) in
            let schema = Self.makeSchema()
            let attributes = Self.attributes(of: key, generation: true)
            let password = try withGError { error in
                secret_password_lookupv_nonpageable_sync(schema.schema, attributes.table, nil, error)
            }
            guard let password else {
                // libsecret answers "nothing" when the item exists but its collection stayed
                // locked (unlock prompt dismissed or impossible): tell the two apart.
                if try Self.countItems(matching: Self.pairs(of: key, generation: true), schema) > 0 {
                    throw .locked
                }
                return nil
            }
            // secret_password_free wipes the C copy before freeing it.
            defer { secret_password_free(password) }
            return Secret(copyingCString: password)
        }
    }

    @discardableResult
    public func delete(_ key: SecretKey) async throws(KeyringError) -> Bool {
        try Self.validate(key)
        return try await clear(Self.pairs(of: key, generation: false))
    }

    public func deleteAll(account: String) async throws(KeyringError) {
        try Self.validate(field: "account", account)
        _ = try await clear([("account", account)])
    }

    public func accountsWithSecrets() async throws(KeyringError) -> [SecretKey] {
        try await workers.run(timeout: timeout) { () throws(KeyringError) in
            let schema = Self.makeSchema()
            let query = AttributeTable([])
            // SECRET_SEARCH_ALL without UNLOCK/LOAD_SECRETS: locked items are listed too, and no
            // secret is unlocked or sent over the bus.
            let list = try withGError { error in
                secret_password_searchv_sync(schema.schema, query.table, SECRET_SEARCH_ALL, nil, error)
            }
            defer { g_list_free_full(list, g_object_unref) }
            var keys: Set<SecretKey> = []
            var node = list
            while let current = node {
                node = current.pointee.next
                guard let item = current.pointee.data, let table = secret_retrievable_get_attributes(OpaquePointer(item))
                else { continue }
                let attributes = AttributeTable(takingOwnership: table)
                guard let account = attributes["account"], let issuer = attributes["issuer"],
                    let kind = attributes["kind"].flatMap(SecretKind.init(rawValue:))
                else { continue }
                keys.insert(SecretKey(account: account, issuer: issuer, kind: kind))
            }
            return keys.sorted { ($0.account, $0.issuer, $0.kind.rawValue) < ($1.account, $1.issuer, $1.kind.rawValue) }
        }
    }

    // MARK: - Shared pieces

    private func clear(_ pairs: [(String, String)]) async throws(KeyringError) -> Bool {
        try await workers.run(timeout: timeout) { () throws(KeyringError) in
            let schema = Self.makeSchema()
            let attributes = AttributeTable(pairs)
            let cleared = try withGError { error in
                secret_password_clearv_sync(schema.schema, attributes.table, nil, error)
            } != 0
            // libsecret silently skips items it could not unlock; any left over are locked.
            if try Self.countItems(matching: pairs, schema) > 0 { throw .locked }
            return cleared
        }
    }

    /// How many items match, locked or not, reading attributes only.
    private static func countItems(
        matching pairs: [(String, String)], _ schema: Schema
    ) throws(KeyringError) -> Int {
        let attributes = AttributeTable(pairs)
        let list = try withGError { error in
            secret_password_searchv_sync(schema.schema, attributes.table, SECRET_SEARCH_ALL, nil, error)
        }
        defer { g_list_free_full(list, g_object_unref) }
        return Int(g_list_length(list))
    }

    /// Built per call on the worker thread: cheap next to the D-Bus round trip, and no GLib
    /// object is shared between threads.
    private static func makeSchema() -> Schema {
        Schema(name: schemaName, attributes: [
            "account": SECRET_SCHEMA_ATTRIBUTE_STRING,
            "issuer": SECRET_SCHEMA_ATTRIBUTE_STRING,
            "kind": SECRET_SCHEMA_ATTRIBUTE_STRING,
            "gen": SECRET_SCHEMA_ATTRIBUTE_INTEGER,
        ])
    }

    private static func attributes(of key: SecretKey, generation: Bool) -> AttributeTable {
        AttributeTable(pairs(of: key, generation: generation))
    }

    private static func pairs(of key: SecretKey, generation: Bool) -> [(String, String)] {
        var pairs = [("account", key.account), ("issuer", key.issuer), ("kind", key.kind.rawValue)]
        if generation { pairs.append(("gen", String(Self.generation))) }
        return pairs
    }

    private static func validate(_ key: SecretKey) throws(KeyringError) {
        try validate(field: "account", key.account)
        try validate(field: "issuer", key.issuer)
    }

    private static func validate(field: String, _ value: String) throws(KeyringError) {
        guard !value.isEmpty else { throw .invalidArgument("the \(field) name is empty") }
        guard !value.utf8.contains(0) else { throw .invalidArgument("the \(field) name contains a NUL character") }
    }
}
