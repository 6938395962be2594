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
    }

    /// The library `loadLibrary` opens.
    public static let libraryName = "libsecret-1.so.0"

    /// Loads libsecret (and GLib, GObject, GIO with it) on the first keyring call, not at exec:
    /// a service answering cached tokens may not touch the keyring for a long while, and the
    /// libraries were 2 MiB of tesserad's memory at start. Once per process; later calls give the
    /// first outcome, whatever they name. The loader also registers libsecret's enum GTypes before
    /// any call can run: libsecret 0.20 (Debian 12) registers them without a once-guard, its
    /// generated `*_get_type` reads a static and, if it is 0, registers the type and stores the
    /// result. Two threads making their first keyring call at the same moment both register; the
    /// loser gets G_TYPE_INVALID and stores it, and from then on every schema built in the process
    /// has attributes of invalid type ("cannot register existing type 'SecretSchemaAttributeType'"),
    /// so every store fails without a GError until tesserad restarts.
    ///
    /// Every keyring call runs this first, on its worker thread (a `dlopen` does not belong on the
    /// caller's). A missing library is `.unavailable`, like a missing Secret Service.
    /// - Parameter library: tests name a library that does not exist.
    public static func loadLibrary(named library: String = libraryName) throws(KeyringError) {
        if let failure = tessera_secret_load(library) {
            throw .unavailable(String(cString: failure))
        }
    }

    /// The names of libsecret's enum types the GLib type system does not know yet (all of them
    /// when libsecret cannot be opened). Looking them up registers nothing, so a fresh process can
    /// check that `loadLibrary` registered them.
    public static func unregisteredEnumTypes() -> [String] {
        ["SecretSchemaAttributeType", "SecretSchemaFlags", "SecretSearchFlags", "SecretServiceFlags",
         "SecretCollectionFlags", "SecretItemFlags", "SecretError"]
            .filter { tessera_secret_type_is_registered(libraryName, $0) != 1 }
    }

    /// Fails for a value libsecret cannot keep intact: empty or containing a NUL character.
    public func store(_ secret: Secret, for key: SecretKey) async throws(KeyringError) {
        try Self.validate(key)
        guard !secret.isEmpty else { throw .invalidArgument("a secret cannot be empty") }
        guard !secret.containsNUL else { throw .invalidArgument("a secret cannot contain a NUL character") }
        try await workers.run(timeout: timeout) { () throws(KeyringError) in
            try Self.loadLibrary()
            let schema = Self.makeSchema()
            let attributes = Self.attributes(of: key, generation: true)
            let stored = try secret.withUTF8CString { password throws(KeyringError) in
                try withGError { error in
                    tessera_secret_password_storev_sync(
                        schema.schema, attributes.table, TESSERA_SECRET_COLLECTION_DEFAULT, key.label, password, error)
                }
            }
            guard stored != 0 else { throw .other("the Secret Service did not store the item") }
        }
    }

    public func load(_ key: SecretKey) async throws(KeyringError) -> Secret? {
        try Self.validate(key)
        return try await workers.run(timeout: timeout) { () throws(KeyringError) in
            try Self.loadLibrary()
            let schema = Self.makeSchema()
            let attributes = Self.attributes(of: key, generation: true)
            let password = try withGError { error in
                tessera_secret_password_lookupv_nonpageable_sync(schema.schema, attributes.table, error)
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
            defer { tessera_secret_password_free(password) }
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
            try Self.loadLibrary()
            let schema = Self.makeSchema()
            let query = AttributeTable([])
            // SECRET_SEARCH_ALL without UNLOCK/LOAD_SECRETS: locked items are listed too, and no
            // secret is unlocked or sent over the bus.
            let list = try withGError { error in
                tessera_secret_password_searchv_sync(schema.schema, query.table, TESSERA_SECRET_SEARCH_ALL, error)
            }
            defer { tessera_secret_list_free(list) }
            var keys: Set<SecretKey> = []
            var node = list
            while let current = node {
                node = current.pointee.next
                guard let item = current.pointee.data, let table = tessera_secret_retrievable_get_attributes(item)
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
            try Self.loadLibrary()
            let schema = Self.makeSchema()
            let attributes = AttributeTable(pairs)
            let cleared = try withGError { error in
                tessera_secret_password_clearv_sync(schema.schema, attributes.table, error)
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
            tessera_secret_password_searchv_sync(schema.schema, attributes.table, TESSERA_SECRET_SEARCH_ALL, error)
        }
        defer { tessera_secret_list_free(list) }
        var count = 0
        var node = list
        while let current = node {
            count += 1
            node = current.pointee.next
        }
        return count
    }

    /// Built per call on the worker thread: cheap next to the D-Bus round trip, and no GLib
    /// object is shared between threads.
    private static func makeSchema() -> Schema {
        Schema(name: schemaName, attributes: [
            "account": .string,
            "issuer": .string,
            "kind": .string,
            "gen": .integer,
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
