import DBus
import Testing
import TesseraAPI
@testable import TesseraCLI

/// `tessera token` skips ArgumentParser for its plain forms (`TokenFastPath`). Whatever the fast
/// path accepts must mean exactly what ArgumentParser makes of it, and whatever ArgumentParser
/// rejects (usage errors, help) must be left to ArgumentParser.
@Suite struct TokenFastPathTests {
    /// What ArgumentParser (with `validate()`) makes of a command line, in the fast path's terms;
    /// nil when it is not a plain `token` call the fast path may take.
    static func argumentParserReading(_ arguments: [String]) -> TokenFastPath? {
        guard let parsed = try? Tessera.parseAsRoot(TokenCommand.normalizeBearerFileArgument(arguments)),
              let command = parsed as? TokenCommand, !command.interactive, command.bearerFile == nil
        else { return nil }
        return TokenFastPath(
            request: TokenQuery(account: command.account, scopes: command.scopes, audience: command.audiences,
                                  minValid: command.minValid, force: command.force),
            format: command.format)
    }

    /// Every line of up to three of these words after `token` is tried (4096 lines, ~2 s in debug).
    static let words = ["wlcg", "--json", "--env", "--force", "-s", "openid profile", "--aud", "-t", "300", "--",
                        "help", "-h", "--interactive", "--bearer-file", "", "-x"]

    @Test func everyAcceptedLineMeansWhatArgumentParserReads() {
        var lines: [[String]] = [[]]
        for _ in 1...3 { lines = lines.flatMap { line in Self.words.map { line + [$0] } } }
        lines = lines.map { ["token"] + $0 } + [
            ["token", "wlcg", "-s", "openid", "--scope", "storage.read:/ storage.modify:/", "--aud", "https://a.example",
             "--aud", "https://b.example", "-t", "0", "--force", "--json"],
            ["token", "--min-valid", "31622400", "wlcg"], ["token", "--min-valid", "31622401", "wlcg"],
            ["token", "-t", "007", "--env", "wlcg"], ["token", "wlcg", "--aud", "a b"], ["token", "wlcg", "-s", "  "],
            ["token", "wlcg", "--json", "--env"], ["token", "wlcg", "--force", "--force"], ["token", "-sopenid", "x"],
            ["token", "--json=1", "x"], ["token", "x", "-t", "+5"], ["token", "x", "-t", "99999999"],
            ["token", "x", "-t", "4294967295"], ["token", "x", "-t", "4294967296"], ["token", "x", "-t", "-1"],
            ["token", "x", "-t", "04294967295"],
            ["token", "https://iam.example.org/", "--scope", "openid"], ["token", "x", "--aud", " "],
        ]
        var accepted = 0
        for line in lines {
            guard let fast = TokenFastPath.parse(line) else { continue }
            accepted += 1
            #expect(Self.argumentParserReading(line) == fast, "\(line)")
        }
        #expect(accepted > 50)
    }

    @Test func thePlainFormsTakeTheFastPath() {
        #expect(TokenFastPath.parse(["token", "wlcg"]) == TokenFastPath(
            request: TokenQuery(account: "wlcg", scopes: [], audience: [], minValid: nil, force: false), format: .plain))
        #expect(TokenFastPath.parse(["token", "wlcg", "-s", "openid profile", "--aud", "x", "-t", "300", "--env"])
            == TokenFastPath(request: TokenQuery(account: "wlcg", scopes: ["openid", "profile"], audience: ["x"],
                                                   minValid: 300, force: false), format: .env))
        // Above a year too: min-valid is any `u`, as the bus and oidc-token take it.
        #expect(TokenFastPath.parse(["token", "wlcg", "-t", "4294967295"])?.request.minValid == UInt32.max)
    }

    @Test func usageErrorsAndOtherCommandsAreLeftToArgumentParser() {
        for line in [["token"], ["token", "-h"], ["token", "help"], ["token", "wlcg", "--json", "--env"],
                     // -t takes any `u` (issue 13): only what is no UInt32 is a usage error.
                     ["token", "wlcg", "-t", "4294967296"], ["token", "wlcg", "-t", "-1"],
                     ["token", "wlcg", "--aud", "a b"], ["token", "wlcg", "-s", " "],
                     ["token", "wlcg", "--interactive"], ["token", "wlcg", "--bearer-file"], ["token", "a", "b"],
                     ["token", "wlcg", "--", "x"], ["token", "--scope=openid", "wlcg"], ["status"], ["--version"], []] {
            #expect(TokenFastPath.parse(line) == nil, "\(line)")
        }
    }
}

/// `tessera --version` is answered before ArgumentParser is built (`TesseraMain.main`); it must
/// print exactly what ArgumentParser would.
@Suite struct VersionFastPathTests {
    @Test func versionLineIsArgumentParsersOwn() throws {
        var fromArgumentParser: String?
        do {
            _ = try Tessera.parseAsRoot(["--version"])
        } catch {
            fromArgumentParser = Tessera.fullMessage(for: error)
        }
        let expected = try #require(fromArgumentParser)
        #expect(!expected.isEmpty)
        #expect(TesseraMain.versionLine == expected)
    }

    @Test func theBinaryPrintsIt() async throws {
        let run = try await CLI.run(["--version"])
        #expect(run.status == 0 && run.stdout == TesseraMain.versionLine + "\n" && run.stderr.isEmpty, "\(run)")
    }

    /// The fast path writes GetToken's options itself (no key paths); they must be exactly what
    /// the contract's codec makes of the same request, for every combination the CLI can send.
    @Test func directlyWrittenOptionsEqualTheContractCodecs() {
        let scopeChoices: [[String]] = [[], ["openid"], ["storage.read:/", "openid", "offline_access"]]
        let audienceChoices: [[String]] = [[], ["https://a.example"], ["b", "a"]]
        let minValidChoices: [UInt32?] = [nil, 0, 300, UInt32.max]
        var compared = 0
        for scopes in scopeChoices {
            for audience in audienceChoices {
                for minValid in minValidChoices {
                    for force in [false, true] {
                        for application in [nil, "my-script", ""] as [String?] {
                            let query = TokenQuery(account: "wlcg", scopes: scopes, audience: audience, minValid: minValid,
                                                   force: force, application: application)
                            let codec = GetTokenOptions(
                                scopes: scopes.isEmpty ? nil : scopes, audience: audience.isEmpty ? nil : audience,
                                minValid: minValid, force: force ? true : nil, application: application ?? "tessera")
                            #expect(AgentClient.tokenOptions(query) == codec.dbusOptions.dbusValue, "\(query)")
                            // The peer socket's call writes the same bytes straight to the wire.
                            let direct = PipelinedRequest(
                                destination: nil, path: AgentContract.objectPath, interface: AgentContract.interfaceName,
                                member: "GetToken", signature: AgentClient.tokenSignature, registering: false
                            ) { AgentClient.writeTokenArguments(query, to: &$0) }
                            let viaValues = try? PipelinedRequest(
                                destination: nil, path: AgentContract.objectPath, interface: AgentContract.interfaceName,
                                member: "GetToken", arguments: AgentClient.tokenArguments(query), registering: false)
                            #expect(direct.bytes == viaValues?.bytes, "\(query)")
                            compared += 1
                        }
                    }
                }
            }
        }
        #expect(compared == 216)
    }
}

/// `TokenReply(wire:)` (the peer socket's reply, read on the wire) must read every reply as
/// `TokenReply(body:)` reads its `DBusValue`s: the same values, or an error for the same ones.
@Suite struct TokenReplyWireTests {
    static func bothReadings(_ body: [DBusValue]) throws -> (wire: TokenReply?, values: TokenReply?) {
        let bytes = try WireEncoder.methodCall(serial: 1, destination: nil, path: "/r", interface: nil, member: "R",
                                               arguments: body)
        let message = try WireDecoder.message(bytes)
        return (try? TokenReply(wire: message), try? TokenReply(body: body))
    }

    @Test func everyReplyReadsAlike() throws {
        let full = TokenReply(token: "eyJ.a.b", expiresAt: 1_900_000_000, tokenType: "DPoP", scopes: ["openid", "storage.read:/"],
                              audience: ["https://a.example"], issuer: "https://iam.example/", account: "wlcg")
        var bodies: [[DBusValue]] = [full.body]
        let info: [String: DBusValue] = ["token-type": .string("Bearer"), "scopes": .array(of: "s", []),
                                         "audience": .array(of: "s", [.string("x"), .string("ÿ")]), "issuer": .string("i"),
                                         "account": .string("ä")]
        bodies.append([.string("t"), .int64(-1), .dictionary(info)])
        // Keys unknown to this CLI (a newer service), of any type, are passed over.
        var extended = info
        extended["future"] = .structure([.int32(1), .dictionary(["deep": .variant(.bool(true))])])
        extended["zz"] = .array(of: "ay", [.array(of: "y", [.byte(1)])])
        bodies.append([.string("t"), .int64(5), .dictionary(extended)])
        bodies.append([.string(""), .int64(0), .dictionary([:])])
        // Known keys of another type, and bodies of another shape: both refuse.
        bodies.append([.string("t"), .int64(5), .dictionary(["scopes": .string("openid")])])
        bodies.append([.string("t"), .int64(5), .dictionary(["issuer": .array(of: "s", [])])])
        bodies.append([.string("t"), .int64(5)])
        bodies.append([.string("t"), .int32(5), .dictionary([:])])
        bodies.append([.string("t"), .int64(5), .dictionary([:]), .string("extra")])
        bodies.append([.string("t"), .int64(5), .dictionary(keySignature: "s", valueSignature: "s", [])])
        var accepted = 0, refused = 0
        for body in bodies {
            let (wire, values) = try Self.bothReadings(body)
            #expect(wire == values, "\(body)")
            if values == nil { refused += 1 } else { accepted += 1 }
        }
        #expect(accepted == 4 && refused == 6)
        #expect(try Self.bothReadings(full.body).wire == full)
    }
}
