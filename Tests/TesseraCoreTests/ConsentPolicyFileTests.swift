import Foundation
import TesseraNames
import Testing
@testable import TesseraCore

/// Issue 17's policy store in the account file: schema 2 only when needed, older files still
/// load, and a damaged policy is reported and fails closed, never open.
@Suite struct ConsentPolicyFileTests {
    func temporaryFile() throws -> String {
        let dir = NSTemporaryDirectory() + "tessera-policy-\(UUID().uuidString.prefix(8))/tessera"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/accounts.json"
    }

    static let issuer = URL(string: "https://issuer.example")!

    func load(_ json: String) throws -> AccountFileContents {
        let path = try temporaryFile()
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return AccountFile(path: path).load()
    }

    @Test func aPolicyRoundTripsAsSchema2WithMode0600() throws {
        let file = AccountFile(path: try temporaryFile())
        var account = Account(name: "egi", issuer: Self.issuer)
        account.policy = AccountPolicy(defaultDecision: .ask, rules: [
            .executable("/usr/bin/rclone"): .allow, .flatpak("org.example.App"): .deny, .snap("tool"): .ask,
        ])
        try file.save([account, Account(name: "plain", issuer: Self.issuer)])
        let loaded = file.load()
        #expect(loaded.problems.isEmpty)
        #expect(loaded.accounts.first?.policy == account.policy)
        #expect(loaded.accounts.last?.policy == AccountPolicy())
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text.contains("\"schema\" : 2") && text.contains("\"exe:/usr/bin/rclone\" : \"allow\""))
        let mode = (try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
    }

    @Test func withoutAnyPolicyTheFileStaysSchema1() throws {
        let file = AccountFile(path: try temporaryFile())
        try file.save([Account(name: "egi", issuer: Self.issuer)])
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text.contains("\"schema\" : 1") && !text.contains("policy"))
    }

    @Test func anOlderFileWithoutPolicyLoadsAsAllow() throws {
        let loaded = try load(#"{"schema": 1, "accounts": [{"name": "a", "issuer": "https://issuer.example"}]}"#)
        #expect(loaded.problems.isEmpty)
        #expect(loaded.accounts.map(\.policy) == [AccountPolicy()])
        #expect(AccountPolicy().decision(for: .executable("/bin/sh")) == .allow)
    }

    @Test func aNewerSchemaIsRefusedByName() throws {
        let loaded = try load(#"{"schema": 3, "accounts": []}"#)
        #expect(loaded.problems.map(\.field) == ["schema"])
        #expect(loaded.problems.first?.reason.contains("reads 1 to 2") == true)
    }

    @Test func aDamagedPolicyIsReportedAndFailsClosed() throws {
        let loaded = try load("""
            {"schema": 2, "accounts": [
              {"name": "bad-default", "issuer": "https://issuer.example", "policy": {"default": "sometimes"}},
              {"name": "not-object", "issuer": "https://issuer.example", "policy": "allow"},
              {"name": "bad-rules", "issuer": "https://issuer.example",
               "policy": {"default": "allow", "applications": {"exe:relative": "allow", "exe:/bin/x": 7,
                                                               "flatpak:org.ok": "allow", "bogus:y": "deny"}, "extra": 1}},
              {"name": "rules-list", "issuer": "https://issuer.example", "policy": {"applications": ["exe:/bin/x"]}}
            ]}
            """)
        // Every account is kept: a policy problem never drops an account.
        #expect(loaded.accounts.map(\.name) == ["bad-default", "not-object", "bad-rules", "rules-list"])
        let byName = Dictionary(uniqueKeysWithValues: loaded.accounts.map { ($0.name, $0.policy) })
        #expect(byName["bad-default"]?.defaultDecision == .deny)
        #expect(byName["not-object"]?.defaultDecision == .deny)
        #expect(byName["rules-list"]?.defaultDecision == .deny)
        let rules = try #require(byName["bad-rules"])
        #expect(rules.defaultDecision == .allow)
        #expect(rules.rules == [.executable("/bin/x"): .deny, .flatpak("org.ok"): .allow])
        #expect(loaded.problems.map(\.field) == [
            "accounts[0].policy.default",
            "accounts[1].policy",
            "accounts[2].policy.extra",
            "accounts[2].policy.applications[\"bogus:y\"]",
            "accounts[2].policy.applications[\"exe:/bin/x\"]",
            "accounts[2].policy.applications[\"exe:relative\"]",
            "accounts[3].policy.applications",
        ])
        #expect(loaded.problems.allSatisfy { !$0.reason.isEmpty })
    }

    @Test func aRuleWinsOverTheDefaultAndAnUnknownCallerGetsTheDefault() {
        let policy = AccountPolicy(defaultDecision: .ask, rules: [.executable("/usr/bin/a"): .allow, .flatpak("b"): .deny])
        #expect(policy.decision(for: .executable("/usr/bin/a")) == .allow)
        #expect(policy.decision(for: .flatpak("b")) == .deny)
        #expect(policy.decision(for: .executable("/usr/bin/c")) == .ask)
        #expect(policy.decision(for: nil) == .ask)
    }

    @Test func tesseraBesideTheRunningBinaryIsTheOnlyExemption() {
        // In the test runner /proc/self/exe is the xctest binary; the build puts `tessera` beside it.
        let exempt = ConsentExemptions.programs
        #expect(exempt.count <= 1)
        for program in exempt {
            guard case .executable(let path) = program else { Issue.record("not an executable: \(program)"); continue }
            #expect(path.hasSuffix("/tessera"))
        }
    }
}
