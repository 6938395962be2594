import Foundation
import Testing
@testable import TesseraCLI
import Secrets

/// The pieces of the CLI that need no service: output formats, the bearer token file, argument
/// handling. The end-to-end suite (`CommandLineTests`) drives the real binary against tesserad.
@Suite struct OutputFormatTests {
    let issued = IssuedToken(token: Secret("eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl"), expiresAt: 1_900_000_000,
                             tokenType: "Bearer", scopes: ["openid", "storage.read:/"],
                             audience: ["https://dcache.example.org"], issuer: "https://iam.example.org/")

    @Test func plainIsTheBareTokenAndANewline() {
        #expect(TokenFormat.plain.render(issued) == "eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl\n")
    }

    @Test func envLinesHaveOidcTokensNamesAndOrder() {
        #expect(TokenFormat.env.render(issued) == """
            OIDC_AT=eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl; export OIDC_AT;
            OIDC_ISS=https://iam.example.org/; export OIDC_ISS;
            OIDC_EXP=1900000000; export OIDC_EXP;

            """)
    }

    @Test func jsonHasEveryFieldAndParses() throws {
        let text = TokenFormat.json.render(issued)
        let object = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["token"] as? String == issued.token.reveal())
        #expect(object["expires_at"] as? Int == 1_900_000_000)
        #expect(object["token_type"] as? String == "Bearer")
        #expect(object["scopes"] as? [String] == ["openid", "storage.read:/"])
        #expect(object["audience"] as? [String] == ["https://dcache.example.org"])
        #expect(object["issuer"] as? String == "https://iam.example.org/")
    }

    @Test func jsonEscapesControlCharactersAndQuotes() throws {
        let value = JSONValue.object([("k", .string("a\"b\\c\n\u{1}é"))]).rendered(indent: nil)
        #expect(value == #"{"k":"a\"b\\c\n\u0001é"}"#)
        let parsed = try #require(JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: String])
        #expect(parsed["k"] == "a\"b\\c\n\u{1}é")
    }

    @Test(arguments: ["plain-token_1.2", "https://x.example/p?q=1&r", "it's", "", "a b", "$(rm -rf ~)", "`x`"])
    func shellWordsReadBackUnchanged(_ text: String) async throws {
        let result = try await runShell("printf %s \(shellWord(text))")
        #expect(result == text)
    }

    @Test func secretsAreRedactedWhenPrinted() {
        let secret = Secret("hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "Secret(<redacted>)")
        #expect(!"\(issued)".contains("hunter2") && !"\(issued)".contains(issued.token.reveal()))
    }
}

@Suite struct BearerTokenFileTests {
    @Test func defaultPathFollowsTheWLCGDiscoveryOrder() {
        #expect(BearerTokenFile.defaultPath(runtimeDirectory: "/run/user/1000", uid: 1000) == "/run/user/1000/bt_u1000")
        #expect(BearerTokenFile.defaultPath(runtimeDirectory: nil, uid: 1000) == "/tmp/bt_u1000")
        #expect(BearerTokenFile.defaultPath(runtimeDirectory: "relative", uid: 7) == "/tmp/bt_u7")
    }

    @Test func writesAtomicallyWithOwnerOnlyModeAndLeavesNoTemporaryFile() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bt_u\(getuid())"
        _ = FileManager.default.createFile(atPath: path, contents: Data("old\n".utf8),
                                           attributes: [.posixPermissions: 0o644])
        try BearerTokenFile.write(Secret("new-token"), to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new-token\n")
        let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["bt_u\(getuid())"])
    }

    @Test func anUnwritableDirectoryIsARuntimeErrorNamingIt() throws {
        #expect(throws: CLIError.self) { try BearerTokenFile.write(Secret("t"), to: "/nonexistent-dir/bt") }
        do {
            try BearerTokenFile.write(Secret("t"), to: "/nonexistent-dir/bt")
        } catch {
            #expect(error.exitCode == 1)
            #expect(error.description.contains("/nonexistent-dir"))
            #expect(!error.description.contains("t\n"))
        }
    }
}

@Suite struct ArgumentTests {
    @Test func bareBearerFileUsesTheDefaultAndKeepsTheAccount() throws {
        let normalized = TokenCommand.normalizeBearerFileArgument(["token", "--bearer-file", "wlcg"])
        #expect(normalized == ["token", "--bearer-file-default", "wlcg"])
        let command = try #require(try Tessera.parseAsRoot(normalized) as? TokenCommand)
        #expect(command.account == "wlcg")
        #expect(command.bearerFile == BearerTokenFile.defaultPath())
    }

    @Test func bearerFileTakesAPathThatLooksLikeOne() throws {
        let normalized = TokenCommand.normalizeBearerFileArgument(["token", "wlcg", "--bearer-file", "./bt"])
        let command = try #require(try Tessera.parseAsRoot(normalized) as? TokenCommand)
        #expect(command.bearerFile == "./bt")
        let explicit = try #require(try Tessera.parseAsRoot(["token", "wlcg", "--bearer-file=bt"]) as? TokenCommand)
        #expect(explicit.bearerFile == "bt")
    }

    @Test func scopesRepeatAndSplitLikeOidcToken() throws {
        let command = try #require(
            try Tessera.parseAsRoot(["token", "x", "-s", "openid profile", "--scope", "storage.read:/"]) as? TokenCommand)
        #expect(command.scopes == ["openid", "profile", "storage.read:/"])
    }

    @Test(arguments: [
        ["token"], ["token", "x", "--json", "--env"], ["token", "x", "--env", "--bearer-file-default"],
        ["token", "x", "-t", "notanumber"], ["token", "x", "--no-qr"], ["token", "x", "--aud", ""],
        ["login", "x", "--username", "u"], ["account", "add", "x", "--issuer", "ftp://x"],
        ["account", "add", "x y", "--issuer", "https://x"], ["account", "add", "x", "--issuer", "https://x",
                                                             "--audience-style", "header"],
        ["account", "add", "x", "--issuer", "https://x", "--client-secret-stdin"], ["frobnicate"],
    ])
    func usageErrorsExitTwo(_ arguments: [String]) async {
        #expect(await TesseraMain.run(arguments) == 2)
    }

    @Test func commandPathPointsAtTheSubcommandsHelp() {
        #expect(TesseraMain.commandPath(["account", "add", "x", "--issuer", "y"]) == ["tessera", "account", "add"])
        #expect(TesseraMain.commandPath(["--version"]) == ["tessera"])
    }
}

func makeScratchDirectory() throws -> String {
    let base = ProcessInfo.processInfo.environment["TESSERA_SESSION_ROOT"] ?? NSTemporaryDirectory()
    let path = "\(base)/cli-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs `sh -c SCRIPT` and returns its stdout: a real shell is the judge of our quoting.
func runShell(_ script: String, environment: [String: String] = [:]) async throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
