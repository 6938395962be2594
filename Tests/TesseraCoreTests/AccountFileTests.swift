import Foundation
import OIDC
import TesseraNames
import Testing
@testable import TesseraCore

@Suite struct AccountFileTests {
    func temporaryFile() throws -> String {
        let dir = NSTemporaryDirectory() + "tessera-accounts-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/tessera/accounts.json"
    }

    static let sample = [
        Account(name: "egi", issuer: URL(string: "https://aai.egi.eu/auth/realms/egi")!, clientID: "tessera",
                scopes: ["openid", "offline_access"], audience: ["https://storage.example"], audienceStyle: .audience),
        Account(name: "local ünïcode", issuer: URL(string: "http://127.0.0.1:8000/o")!),
        Account(name: "mt", kind: .mytoken, issuer: URL(string: "https://iam.example")!,
                mytokenServer: URL(string: "https://mytoken.example")!),
    ]

    @Test func saveThenLoadRoundTripsWithMode0600() throws {
        let file = AccountFile(path: try temporaryFile())
        try file.save(Self.sample)
        let loaded = file.load()
        #expect(loaded.problems.isEmpty)
        #expect(loaded.accounts == Self.sample)
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text.contains("\"schema\" : 1"))
        // Nothing but the file itself is left in the directory (the temp file was renamed).
        let dir = (file.path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["accounts.json"])
    }

    @Test func aMytokenAccountsLoginRequestRoundTrips() throws {
        let file = AccountFile(path: try temporaryFile())
        let account = Account(name: "mt", kind: .mytoken, issuer: URL(string: "https://iam.example")!,
                              mytokenServer: URL(string: "https://mytoken.example")!,
                              mytokenRequest: ["restrictions": .array([.object(["exp": .string("+7d")])]),
                                               "capabilities": .array([.string("AT")])])
        try file.save([account])
        let loaded = file.load()
        #expect(loaded.problems.isEmpty && loaded.accounts == [account])
    }

    /// What a login was granted after `account set` changed the scopes (issue 13: forgotten at a
    /// restart while it lived only in memory); a wrong type is reported by field.
    @Test func theLoginsGrantedScopesRoundTrip() throws {
        let file = AccountFile(path: try temporaryFile())
        var account = Account(name: "edited", issuer: URL(string: "https://iam.example")!, scopes: ["openid"])
        account.loginScopes = ["openid", "offline_access", "read"]
        try file.save([account])
        #expect(try String(contentsOfFile: file.path, encoding: .utf8).contains("\"login-scopes\""))
        let loaded = file.load()
        #expect(loaded.problems.isEmpty && loaded.accounts == [account])
        try #"{"schema": 1, "accounts": [{"name": "x", "issuer": "https://iam.example", "login-scopes": "openid"}]}"#
            .write(toFile: file.path, atomically: true, encoding: .utf8)
        #expect(file.load().problems.map(\.field) == ["accounts[0].login-scopes"])
    }

    @Test func missingFileIsNoAccountsAndNoProblem() throws {
        let loaded = AccountFile(path: try temporaryFile()).load()
        #expect(loaded.accounts.isEmpty && loaded.problems.isEmpty)
    }

    @Test func corruptFileIsReportedWithItsName() throws {
        let path = try temporaryFile()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "{not json".write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = AccountFile(path: path).load()
        #expect(loaded.accounts.isEmpty)
        #expect(loaded.problems.map(\.description) == ["\(path): (file): is not valid JSON"])
    }

    @Test func badEntriesAreNamedByFieldAndGoodOnesKept() throws {
        let path = try temporaryFile()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let json = """
        {"schema": 1, "accounts": [
          {"name": "good", "issuer": "https://example.org"},
          {"name": "plain-http", "issuer": "http://example.org"},
          {"name": "", "issuer": "https://example.org"},
          {"name": "kind", "issuer": "https://example.org", "kind": "saml"},
          {"name": "scopes", "issuer": "https://example.org", "scopes": "openid"},
          {"name": "extra", "issuer": "https://example.org", "refresh_token": "x"},
          {"name": "good", "issuer": "https://other.example"},
          {"name": "mt", "issuer": "https://example.org", "kind": "mytoken"},
          42
        ]}
        """
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = AccountFile(path: path).load()
        #expect(loaded.accounts.map(\.name) == ["good"])
        let fields = loaded.problems.map(\.field)
        #expect(fields == [
            "accounts[1].issuer", "accounts[2].name", "accounts[3].kind", "accounts[4].scopes",
            "accounts[5].refresh_token", "accounts[6].name", "accounts[7].mytoken-server", "accounts[8]",
        ])
        #expect(loaded.problems.allSatisfy { $0.file == path })
    }

    @Test func unsupportedSchemaIsReported() throws {
        let path = try temporaryFile()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try #"{"schema": 7, "accounts": []}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = AccountFile(path: path).load()
        #expect(loaded.problems.map(\.field) == ["schema"])
    }

    @Test func savingAfterProblemsKeepsTheOldFileAside() throws {
        let path = try temporaryFile()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "garbage".write(toFile: path, atomically: true, encoding: .utf8)
        try AccountFile(path: path).save(Self.sample, keepInvalid: true)
        #expect(try String(contentsOfFile: path + ".invalid", encoding: .utf8) == "garbage")
        #expect(AccountFile(path: path).load().accounts == Self.sample)
    }

    @Test func standardPathFollowsXDG() {
        #expect(AccountFile.standard(environment: ["XDG_CONFIG_HOME": "/x/cfg", "HOME": "/h"]).path == "/x/cfg/tessera/accounts.json")
        #expect(AccountFile.standard(environment: ["HOME": "/h"]).path == "/h/.config/tessera/accounts.json")
    }
}

@Suite struct ValidationTests {
    @Test func accountNames() throws {
        #expect(try Validate.accountName("egi") == "egi")
        #expect(throws: AgentError.self) { try Validate.accountName("") }
        #expect(throws: AgentError.self) { try Validate.accountName(String(repeating: "n", count: 10_240)) }
        #expect(throws: AgentError.self) { try Validate.accountName("tab\there") }
        #expect(throws: AgentError.self) { try Validate.accountName(" padded") }
        #expect(throws: AgentError.self) { try Validate.accountName("https://issuer.example") }
    }

    @Test func issuerURLs() throws {
        #expect(try Validate.serverURL("https://aai.egi.eu/auth/realms/egi", field: "issuer").host == "aai.egi.eu")
        #expect(try Validate.serverURL("http://127.0.0.1:8000/o", field: "issuer").port == 8000)
        #expect(try Validate.serverURL("http://localhost/", field: "issuer").host == "localhost")
        for bad in ["", "not a url", "ftp://example.org", "http://example.org", "https://example.org/?q=1",
                    "https://user:pw@example.org", "https:///path"] {
            #expect(throws: AgentError.self, "\(bad)") { try Validate.serverURL(bad, field: "issuer") }
        }
    }

    @Test func scopeWords() throws {
        #expect(try Validate.words(["openid", "openid", "profile"], field: "scopes") == ["openid", "profile"])
        #expect(throws: AgentError.self) { try Validate.words(["two words"], field: "scopes") }
        #expect(throws: AgentError.self) { try Validate.words([""], field: "scopes") }
    }
}

@Suite struct ErrorTableTests {
    /// One example of every case; the test proves the table reaches every wire name exactly once.
    static let examples: [AgentError] = [
        .noSuchAccount("x"), .invalidArgument(field: "f", reason: "r"), .loginRequired(account: "x", reason: "r"),
        .accessDenied(account: "x"), .expiredToken(account: "x"), .provider(error: "invalid_scope", description: "d"),
        .network("n"), .keyringLocked("k"), .keyringUnavailable("k"), .cancelled("c"), .notPermitted("p"), .timeout("t"),
    ]

    @Test func everyErrorNameIsReachedOnce() {
        let names = Self.examples.map(\.name)
        #expect(Set(names) == Set(AgentErrorName.allCases))
        #expect(names.count == AgentErrorName.allCases.count)
    }

    @Test func wireNamesRoundTrip() {
        for name in AgentErrorName.allCases {
            #expect(name.wireName == "io.tessera.Agent1.Error.\(name.rawValue)")
            #expect(AgentErrorName(wireName: name.wireName) == name)
        }
        #expect(AgentErrorName(wireName: "org.freedesktop.DBus.Error.Failed") == nil)
    }

    @Test func messagesAreOneLineAndNameTheField() {
        for error in Self.examples { #expect(!error.message.contains("\n")) }
        #expect(AgentError.invalidArgument(field: "min-valid", reason: "must be u").message.contains("min-valid"))
        #expect(AgentError.provider(error: "invalid_scope", description: "bad").message.contains("invalid_scope"))
    }
}
