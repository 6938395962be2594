import Foundation
import Keyring
import Secrets
import TestSupport
import Testing

/// LibSecretStore against the session's real gnome-keyring, checked with `secret-tool`, an
/// independent Secret Service client. Every test uses its own account names, so they may run
/// in parallel on the shared keyring.
@Suite struct LibSecretStoreTests {
    // Long enough for gnome-keyring to work through 200 concurrent requests on a loaded 2-core CI box.
    let store = LibSecretStore(timeout: .seconds(60))

    init() throws {
        try Requirement.session()
        _ = try Requirement.executable("secret-tool")
    }

    func uniqueAccount(_ name: String = #function) -> String {
        "\(name.prefix { $0 != "(" })-\(UUID().uuidString.prefix(8))"
    }

    /// `secret-tool search --all account NAME`, parsed into one dictionary per item.
    func searchWithSecretTool(account: String) async throws -> [[String: String]] {
        let result = try await Command.run("secret-tool", ["search", "--all", "account", account])
        // secret-tool prints the items on stdout and the fields of each after a "[/path]" line.
        var items: [[String: String]] = []
        for line in (result.stdout + "\n" + result.stderr).split(separator: "\n") {
            if line.hasPrefix("[/") { items.append([:]); continue }
            guard !items.isEmpty, let equals = line.range(of: " = ") else { continue }
            items[items.count - 1][String(line[..<equals.lowerBound])] = String(line[equals.upperBound...])
        }
        return items
    }

    @Test func storedItemIsVisibleToSecretToolWithSchemaLabelAndAttributes() async throws {
        let account = uniqueAccount()
        let key = SecretKey(account: account, issuer: "https://issuer.example/realms/x", kind: .refreshToken)
        try await store.store(Secret("rt-visible"), for: key)

        let items = try await searchWithSecretTool(account: account)
        #expect(items.count == 1)
        let item = try #require(items.first)
        #expect(item["schema"] == "io.tessera.Secret")
        #expect(item["label"] == "Tessera: \(account) (https://issuer.example/realms/x)")
        #expect(item["attribute.account"] == account)
        #expect(item["attribute.issuer"] == "https://issuer.example/realms/x")
        #expect(item["attribute.kind"] == "refresh_token")
        #expect(item["attribute.gen"] == "1")
        #expect(item["secret"] == "rt-visible")
    }

    @Test func itemWrittenBySecretToolIsReadBack() async throws {
        let account = uniqueAccount()
        try await Command.check(
            "secret-tool",
            ["store", "--label=Tessera: \(account) (https://i.example)", "xdg:schema", "io.tessera.Secret",
             "account", account, "issuer", "https://i.example", "kind", "mytoken", "gen", "1"],
            stdin: "mt-from-secret-tool")
        let loaded = try await store.load(SecretKey(account: account, issuer: "https://i.example", kind: .mytoken))
        #expect(loaded?.reveal() == "mt-from-secret-tool")
    }

    @Test func storingAgainReplacesAndKeepsExactlyOneItem() async throws {
        let key = SecretKey(account: uniqueAccount(), issuer: "https://i.example", kind: .refreshToken)
        for value in ["first", "second", "third"] { try await store.store(Secret(value), for: key) }
        #expect(try await store.load(key)?.reveal() == "third")
        #expect(try await searchWithSecretTool(account: key.account).count == 1)
    }

    @Test func deleteRemovesTheItemAndReportsWhetherOneExisted() async throws {
        let key = SecretKey(account: uniqueAccount(), issuer: "https://i.example", kind: .clientSecret)
        try await store.store(Secret("cs"), for: key)
        #expect(try await store.delete(key))
        #expect(try await searchWithSecretTool(account: key.account).isEmpty)
        #expect(try await store.load(key) == nil)
        #expect(try await store.delete(key) == false)
    }

    @Test func kindsAndIssuersAreSeparateItems() async throws {
        let account = uniqueAccount()
        let refresh = SecretKey(account: account, issuer: "https://a.example", kind: .refreshToken)
        let mytoken = SecretKey(account: account, issuer: "https://a.example", kind: .mytoken)
        let otherIssuer = SecretKey(account: account, issuer: "https://b.example", kind: .refreshToken)
        try await store.store(Secret("r"), for: refresh)
        try await store.store(Secret("m"), for: mytoken)
        try await store.store(Secret("o"), for: otherIssuer)
        #expect(try await store.load(refresh)?.reveal() == "r")
        #expect(try await store.load(mytoken)?.reveal() == "m")
        #expect(try await store.load(otherIssuer)?.reveal() == "o")
    }

    @Test(arguments: [
        "ünïcødé – 令牌 – 🔑🗝️ – \u{202E}rtl",
        String(repeating: "0123456789abcdef", count: 512),  // 8 KiB
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln" + String(repeating: "-_~+/=", count: 100),
    ])
    func valuesRoundTripExactly(_ value: String) async throws {
        let key = SecretKey(account: uniqueAccount("roundTrip"), issuer: "https://ü.example/ä", kind: .mytoken)
        try await store.store(Secret(value), for: key)
        let loaded = try #require(try await store.load(key))
        #expect(loaded.reveal() == value)
        #expect(loaded.byteCount == value.utf8.count)
    }

    @Test func unicodeAccountAndIssuerNamesWork() async throws {
        let key = SecretKey(account: uniqueAccount() + "-zürich-東京", issuer: "https://идп.example", kind: .refreshToken)
        try await store.store(Secret("v"), for: key)
        #expect(try await store.load(key)?.reveal() == "v")
        #expect(try await store.accountsWithSecrets().contains(key))
    }

    @Test func twoHundredConcurrentStoresAndLoadsKeepEveryValue() async throws {
        let prefix = uniqueAccount()
        let keys = (0..<200).map { index in
            SecretKey(account: "\(prefix)-\(index % 40)", issuer: "https://i\(index / 40).example", kind: .refreshToken)
        }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask {
                    try await store.store(Secret("value-\(index)"), for: key)
                    let loaded = try await store.load(key)
                    #expect(loaded?.reveal() == "value-\(index)")
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        // Read everything back afterwards too: no store was lost or crossed with another.
        try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask { (index, try await store.load(key)?.reveal()) }
            }
            for try await (index, value) in group { #expect(value == "value-\(index)") }
        }
        let listed = Set(try await store.accountsWithSecrets().filter { $0.account.hasPrefix(prefix) })
        #expect(listed == Set(keys))
        print("200 concurrent store+load pairs: \(elapsed)")
        for index in 0..<40 { try await store.deleteAll(account: "\(prefix)-\(index)") }
    }

    @Test func accountsWithSecretsListsKeysAndDeleteAllRemovesOnlyThatAccount() async throws {
        let gone = uniqueAccount() + "-gone", kept = uniqueAccount() + "-kept"
        let goneKeys = [
            SecretKey(account: gone, issuer: "https://a.example", kind: .refreshToken),
            SecretKey(account: gone, issuer: "https://a.example", kind: .clientSecret),
            SecretKey(account: gone, issuer: "https://b.example", kind: .mytoken),
        ]
        let keptKey = SecretKey(account: kept, issuer: "https://a.example", kind: .refreshToken)
        for key in goneKeys + [keptKey] { try await store.store(Secret("s"), for: key) }

        let before = try await store.accountsWithSecrets()
        #expect(Set(before.filter { $0.account == gone }) == Set(goneKeys))
        #expect(before.contains(keptKey))

        try await store.deleteAll(account: gone)
        let after = try await store.accountsWithSecrets()
        #expect(!after.contains { $0.account == gone })
        #expect(after.contains(keptKey))
        #expect(try await searchWithSecretTool(account: gone).isEmpty)
        #expect(try await store.load(keptKey)?.reveal() == "s")
    }

    @Test func itemsOfOtherSchemasAreNeitherListedNorRead() async throws {
        let account = uniqueAccount()
        try await Command.check(
            "secret-tool", ["store", "--label=not ours", "account", account, "issuer", "https://i.example", "kind", "refresh_token", "gen", "1"],
            stdin: "foreign")
        let key = SecretKey(account: account, issuer: "https://i.example", kind: .refreshToken)
        #expect(try await store.load(key) == nil)
        #expect(!(try await store.accountsWithSecrets()).contains(key))
        try await store.deleteAll(account: account)
        #expect(try await searchWithSecretTool(account: account).count == 1)
    }

    @Test func emptyOrNulValuesAndNamesAreRefusedBeforeReachingTheKeyring() async throws {
        let key = SecretKey(account: uniqueAccount(), issuer: "https://i.example", kind: .mytoken)
        await #expect(throws: KeyringError.invalidArgument("a secret cannot be empty")) {
            try await store.store(Secret(""), for: key)
        }
        await #expect(throws: KeyringError.self) { try await store.store(Secret("a\u{0}b"), for: key) }
        #expect(try await searchWithSecretTool(account: key.account).isEmpty)
        let nameless = SecretKey(account: "", issuer: "https://i.example", kind: .mytoken)
        await #expect(throws: KeyringError.self) { try await store.load(nameless) }
    }
}

@Suite struct SecretRedactionTests {
    @Test func printingASecretNeverShowsTheValue() throws {
        let secret = Secret("super-secret-refresh-token")
        var dumped = ""
        dump(secret, to: &dumped)
        for text in [secret.description, secret.debugDescription, "\(secret)", String(reflecting: secret), dumped,
                     "\([secret])", "\(Optional(secret) as Any)"] {
            #expect(!text.contains("super-secret"), "leaked in: \(text)")
        }
        #expect(secret.reveal() == "super-secret-refresh-token")
        #expect(secret.withUTF8CString { String(cString: $0) } == "super-secret-refresh-token")
    }

    @Test func errorMessagesSayWhatToDo() {
        #expect(KeyringError.locked.description.contains("unlock your keyring"))
        #expect(KeyringError.unavailable("x").description.contains("gnome-keyring"))
        #expect(KeyringError.noDefaultCollection.description.contains("default keyring"))
        #expect(KeyringError.timeout(.seconds(2)).description.contains("2"))
    }
}
