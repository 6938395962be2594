import Foundation
import Testing
import TestSupport

/// `tessera mytoken …` end to end: the real binary, the real `tesserad`, the mytoken test server,
/// gnome-keyring (scripts/session.sh). Accounts get unique names; the session is shared.
@Suite(.serialized, .exclusiveSession) struct MytokenCLITests {
    /// A tesserad with a config directory of its own, so these accounts never show up in other suites' lists.
    static func agent() async throws -> RunningAgent {
        try await RunningAgent(environment: ["XDG_CONFIG_HOME": try makeTemporaryDirectory("mytoken-cli-config")])
    }

    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())" }

    static func storedMytoken(_ account: String) async throws -> String? {
        let result = try await Command.run("secret-tool", ["lookup", "account", account, "kind", "mytoken"])
        return result.succeeded && !result.stdout.isEmpty ? result.stdout : nil
    }

    /// The server's verdict on presenting `mytoken` for an access token, bypassing Tessera.
    static func serverError(_ server: MytokenServer, _ mytoken: String) async throws -> String? {
        try await server.postJSON("/api/v0/token/access", #"{"grant_type":"mytoken","mytoken":"\#(mytoken)"}"#)["error"] as? String
    }

    /// The mytoken (by jti) the server's last access token came from.
    static func lastUsedJTI(_ server: MytokenServer) async throws -> String? {
        try await server.accessTokens().last?.jti
    }

    @Test func loginAccessTokensWithScopesAndAudienceAndRotationPersisted() async throws {
        let server = try await MytokenServer.start()
        let agent = try await Self.agent()
        let url = server.url.absoluteString

        let name = Self.unique("mtl")
        let added = try await CLI.run(["mytoken", "add", name, "--mytoken-server", url])
        #expect(added.status == 0, "\(added)")
        let login = try LiveCLI(["login", name])
        let consent = try await login.waitFor("open (http://\\S+)")
        #expect(login.stdout.contains("give your consent"), "\(login.stdout)")
        try await server.consent(try #require(URL(string: consent)))
        #expect(try await login.wait() == 0, "\(login.stdout) \(login.stderr)")
        #expect(try await Self.storedMytoken(name) != nil)
        let fromLogin = try await CLI.run(["mytoken", "at", name])
        #expect(fromLogin.status == 0 && fromLogin.stdout.hasPrefix("at_"), "\(fromLogin)")

        // An imported, restricted, rotating mytoken: scopes and audience reach the server.
        let original = try await server.mint(
            restrictionsJSON: #"[{"scope":"openid storage.read storage.write","audience":["https://se.example.org"]}]"#,
            capabilities: ["AT", "create_mytoken"], rotationJSON: #"{"on_AT":true}"#)
        let imported = Self.unique("mti")
        let importRun = try await CLI.run(["mytoken", "import", imported, "--mytoken-env", "MT_IMPORT"],
                                          environment: ["MT_IMPORT": original])
        #expect(importRun.status == 0, "\(importRun)")
        let at = try await CLI.run(["mytoken", "at", imported, "-s", "openid", "-s", "storage.read",
                                    "--aud", "https://se.example.org", "--json"])
        #expect(at.status == 0, "\(at)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(at.stdout.utf8)) as? [String: Any])
        #expect((object["token"] as? String)?.hasPrefix("at_") == true)
        let issued = try #require(try await server.accessTokens().last)
        #expect(issued.scope == "openid storage.read" && issued.audience == ["https://se.example.org"])

        let rotated = try #require(try await Self.storedMytoken(imported))
        #expect(rotated != original, "the rotated mytoken is in the keyring")
        #expect(try await Self.serverError(server, original) == "invalid_token", "the old mytoken is rejected")
        #expect(try await server.lookup(rotated)?.current == true)
        #expect(!agent.log.contains(original) && !agent.log.contains(rotated))
    }

    @Test func createWithEachRestrictionOptionStoresTheExpectedClause() async throws {
        let server = try await MytokenServer.start()
        let agent = try await Self.agent()
        defer { withExtendedLifetime(agent) {} }
        let root = try await server.mint(capabilities: ["AT", "create_mytoken"])
        let name = Self.unique("mtc")
        #expect(try await CLI.run(["mytoken", "import", name, "--mytoken-env", "MT_ROOT"],
                                  environment: ["MT_ROOT": root]).status == 0)
        let directory = try makeTemporaryDirectory("mytoken-cli")
        let file = "\(directory)/restrictions.json"
        try #"[{"scope":"openid"},{"usages_other":4}]"#.write(toFile: file, atomically: true, encoding: .utf8)

        let cases: [([String], String)] = [
            (["--nbf", "1700000000"], #"[{"nbf":1700000000}]"#),
            (["--exp", "4102444800"], #"[{"exp":4102444800}]"#),
            (["-s", "openid", "-s", "storage.read"], #"[{"scope":"openid storage.read"}]"#),
            (["--aud", "https://a.example.org", "--aud", "https://b.example.org"],
             #"[{"audience":["https://a.example.org","https://b.example.org"]}]"#),
            (["--host", "127.0.0.1"], #"[{"hosts":["127.0.0.1"]}]"#),
            (["--geo-ip-allow", "DE"], #"[{"geoip_allow":["DE"]}]"#),
            (["--geo-ip-disallow", "US"], #"[{"geoip_disallow":["US"]}]"#),
            (["--usages-at", "3"], #"[{"usages_AT":3}]"#),
            (["--usages-other", "2"], #"[{"usages_other":2}]"#),
            (["--restriction", #"[{"scope":"openid","exp":4102444800},{"usages_AT":1}]"#],
             #"[{"exp":4102444800,"scope":"openid"},{"usages_AT":1}]"#),
            // A path (here absolute) is read as the file's JSON, as the mytoken client does.
            (["--restriction", file], #"[{"scope":"openid"},{"usages_other":4}]"#),
        ]
        for (options, expected) in cases {
            let run = try await CLI.run(["mytoken", "create", name] + options)
            #expect(run.status == 0, "\(options): \(run)")
            let token = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let stored = try await server.lookup(token)
            #expect(stored?.restrictionsJSON == expected, "\(options)")
        }

        // Relative time, and -o FILE with mode 0600.
        let output = "\(directory)/sub.mytoken"
        let relative = try await CLI.run(["mytoken", "create", name, "--exp", "+1h", "--capability", "AT", "-o", output])
        #expect(relative.status == 0 && relative.stdout.isEmpty, "\(relative)")
        let written = try String(contentsOfFile: output, encoding: .utf8).trimmingCharacters(in: .newlines)
        let attributes = try FileManager.default.attributesOfItem(atPath: output)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let sub = try #require(try await server.lookup(written))
        #expect(sub.capabilities == ["AT"])
        let exp = try #require(try JSONSerialization.jsonObject(with: Data(sub.restrictionsJSON.utf8)) as? [[String: Int]]).first?["exp"]
        let now = Int(Date().timeIntervalSince1970)
        #expect(exp.map { abs($0 - (now + 3600)) < 60 } == true)

        let bad = try await CLI.run(["mytoken", "create", name, "--exp", "tomorrow"])
        #expect(bad.status == 2 && bad.stderr.contains("tomorrow"), "\(bad)")
        let both = try await CLI.run(["mytoken", "create", name, "--restriction", "[]", "--exp", "+1d"])
        #expect(both.status == 2, "\(both)")
    }

    @Test func transferCodeRoundTripAndRevoke() async throws {
        let server = try await MytokenServer.start()
        let agent = try await Self.agent()
        defer { withExtendedLifetime(agent) {} }
        let url = server.url.absoluteString
        let root = try await server.mint(capabilities: ["AT", "create_mytoken"])
        let name = Self.unique("mtt")
        #expect(try await CLI.run(["mytoken", "import", name, "--mytoken-env", "MT_ROOT"], environment: ["MT_ROOT": root]).status == 0)

        let code = try await CLI.run(["mytoken", "create", name, "--token-type", "transfer", "--capability", "AT"])
        #expect(code.status == 0, "\(code)")
        let stored = Self.unique("mtx")
        let exchanged = try await CLI.run(["mytoken", "exchange", "--transfer-code", code.stdout.trimmingCharacters(in: .newlines),
                                           "--mytoken-server", url, "--store", stored])
        #expect(exchanged.status == 0, "\(exchanged)")
        let child = try #require(try await Self.storedMytoken(stored))
        #expect(try await server.lookup(child)?.parent != nil)
        #expect(try await CLI.run(["token", stored]).status == 0)

        let printedCode = try await CLI.run(["mytoken", "create", name, "--token-type", "transfer"])
        let printed = try await CLI.run(["mytoken", "exchange", "--transfer-code", printedCode.stdout.trimmingCharacters(in: .newlines),
                                         "--mytoken-server", url])
        #expect(printed.status == 0, "\(printed)")
        let printedToken = printed.stdout.trimmingCharacters(in: .newlines)
        #expect(try await server.lookup(printedToken) != nil)

        // A passed sub-mytoken revoked, then the account's, recursively.
        let directory = try makeTemporaryDirectory("mytoken-revoke")
        try (printedToken + "\n").write(toFile: "\(directory)/t", atomically: true, encoding: .utf8)
        let revokePassed = try await CLI.run(["mytoken", "revoke", "--mytoken-file", "\(directory)/t"])
        #expect(revokePassed.status == 0, "\(revokePassed)")
        #expect(try await server.lookup(printedToken)?.revoked == true)
        let revoked = try await CLI.run(["mytoken", "revoke", name, "--recursive"])
        #expect(revoked.status == 0 && revoked.stdout.contains("Revoked"), "\(revoked)")
        #expect(try await server.lookup(root)?.revoked == true)
        #expect(try await server.lookup(child)?.revoked == true, "recursive: the exchanged child too")
        #expect(try await CLI.run(["token", name]).status == 3)
    }

    @Test func eachWayOfPassingAMytokenAndTheBearerDiscoveryOrder() async throws {
        let server = try await MytokenServer.start()
        let agent = try await Self.agent()
        defer { withExtendedLifetime(agent) {} }
        let directory = try makeTemporaryDirectory("mytoken-pass")
        let runtime = "\(directory)/runtime"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        let base = ["XDG_RUNTIME_DIR": runtime]

        func jti(_ token: String) async throws -> String { try #require(try await server.lookup(token)).jti }

        // --mytoken-file: the rotated token replaces the first line, the rest stays.
        let rotating = try await server.mint(rotationJSON: #"{"on_AT":true}"#)
        let file = "\(directory)/mytoken"
        try "\(rotating)\n# kept comment\n".write(toFile: file, atomically: true, encoding: .utf8)
        let viaFile = try await CLI.run(["mytoken", "at", "--mytoken-file", file], environment: base)
        #expect(viaFile.status == 0 && viaFile.stdout.hasPrefix("at_"), "\(viaFile)")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0] != rotating && lines[1] == "# kept comment")
        #expect(try await server.lookup(lines[0])?.current == true)
        #expect(!viaFile.stderr.contains(lines[0]), "written back, not shown")

        // --mytoken-env: a rotation cannot be written back, so it is shown on stderr with a warning.
        let rotatingEnv = try await server.mint(rotationJSON: #"{"on_AT":true}"#)
        let viaEnv = try await CLI.run(["mytoken", "at", "--mytoken-env", "MY_MT"], environment: base.merging(["MY_MT": rotatingEnv]) { $1 })
        #expect(viaEnv.status == 0, "\(viaEnv)")
        #expect(viaEnv.stderr.contains("warning") && viaEnv.stderr.contains("$MY_MT"), "\(viaEnv)")
        let shown = try #require(viaEnv.stderr.split(separator: "\n").last.map(String.init))
        #expect(try await server.lookup(shown)?.current == true)

        // --mytoken-prompt (standard input when it is not a terminal) and --mytoken (warned).
        let plain = try await server.mint()
        let viaPrompt = try await CLI.run(["mytoken", "at", "--mytoken-prompt"], stdin: plain + "\n", environment: base)
        #expect(viaPrompt.status == 0, "\(viaPrompt)")
        #expect(try await Self.lastUsedJTI(server) == (try await jti(plain)))
        let viaArgument = try await CLI.run(["mytoken", "at", "--mytoken", plain], environment: base)
        #expect(viaArgument.status == 0 && viaArgument.stderr.contains("other users can read it"), "\(viaArgument)")

        // Discovery order: BEARER_TOKEN, BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u$UID, /tmp/bt_u$UID.
        let first = try await server.mint(), second = try await server.mint(), third = try await server.mint()
        let bearerFile = "\(directory)/bearer"
        try (second + "\n").write(toFile: bearerFile, atomically: true, encoding: .utf8)
        let runtimeFile = "\(runtime)/bt_u\(getuid())"
        try (third + "\n").write(toFile: runtimeFile, atomically: true, encoding: .utf8)
        let steps: [([String: String], String)] = [
            (["BEARER_TOKEN": first, "BEARER_TOKEN_FILE": bearerFile], first),
            (["BEARER_TOKEN_FILE": bearerFile], second),
            ([:], third),
        ]
        for (environment, expected) in steps {
            let run = try await CLI.run(["mytoken", "at"], environment: base.merging(environment) { $1 })
            #expect(run.status == 0, "\(environment.keys.sorted()): \(run)")
            #expect(try await Self.lastUsedJTI(server) == (try await jti(expected)), "\(environment.keys.sorted())")
        }
        // The last step, /tmp/bt_u$UID, only when no one else's file is there (the machine is shared).
        let tmpFile = "/tmp/bt_u\(getuid())"
        try FileManager.default.removeItem(atPath: runtimeFile)
        if !FileManager.default.fileExists(atPath: tmpFile) {
            let fourth = try await server.mint()
            try (fourth + "\n").write(toFile: tmpFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: tmpFile) }
            let run = try await CLI.run(["mytoken", "at"], environment: base)
            #expect(run.status == 0, "\(run)")
            #expect(try await Self.lastUsedJTI(server) == (try await jti(fourth)))
        }
        let none = try await CLI.run(["mytoken", "at"], environment: ["XDG_RUNTIME_DIR": "/nonexistent", "BEARER_TOKEN_FILE": "\(directory)/missing"])
        #expect(none.status == 2, "\(none)")
        let twoWays = try await CLI.run(["mytoken", "at", "--mytoken-env", "A", "--mytoken-prompt"])
        #expect(twoWays.status == 2, "\(twoWays)")
    }
}
