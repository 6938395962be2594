import ArgumentParser
import Testing
@testable import TesseraCLI
import Secrets

/// `tessera token` with oidc-token's flags: what they parse to and what they print.
@Suite struct OIDCTokenFlagTests {
    let issued = IssuedToken(token: Secret("eyJ.tok.sig"), expiresAt: 1_900_000_000, issuer: "https://iam.example.org/")

    func command(_ words: String...) throws -> TokenCommand {
        let parsed = try Tessera.parseAsRoot(["token"] + words)
        return try #require(parsed as? TokenCommand)
    }

    @Test func singleFieldsPrintTheirValueSeveralPrintExports() {
        #expect(TokenFormat.fields([.expiresAt]).render(issued) == "1900000000\n")
        #expect(TokenFormat.fields([.issuer]).render(issued) == "https://iam.example.org/\n")
        #expect(TokenFormat.fields([.token]).render(issued) == "eyJ.tok.sig\n")
        #expect(TokenFormat.fields([.expiresAt, .token]).render(issued)
            == "OIDC_AT=eyJ.tok.sig; export OIDC_AT;\nOIDC_EXP=1900000000; export OIDC_EXP;\n")
        #expect(TokenFormat.all.render(issued) == "eyJ.tok.sig\nhttps://iam.example.org/\n1900000000\n")
        #expect(TokenFormat.authorizationHeader.render(issued) == "Authorization: Bearer eyJ.tok.sig\n")
        #expect(TokenFormat.fields([.token, .issuer, .expiresAt]).render(issued) == TokenFormat.env.render(issued))
    }

    @Test func oidcTokenFlagsParse() throws {
        let forced = try command("-f", "-c", "egi")
        #expect(forced.force && forced.format == .env)
        #expect(try command("--force-new", "egi").force)
        #expect(try command("-e", "egi").format == .fields([.expiresAt]))
        #expect(try command("-o", "-i", "egi").format == .fields([.token, .issuer]))
        #expect(try command("-a", "egi").format == .all)
        #expect(try command("--auth-header", "egi").format == .authorizationHeader)
        #expect(try command("--bearer", "egi").format == .authorizationHeader)
        #expect(try command("--name", "fedcloud", "egi").applicationName == "fedcloud")
        #expect(try command("egi").format == .plain)
    }

    @Test func conflictingOutputsAreUsageErrors() {
        for words in [["-a", "-c", "egi"], ["--json", "-e", "egi"], ["--bearer", "-o", "egi"], ["--name", "", "egi"]] {
            #expect(throws: (any Error).self, "\(words)") {
                var parsed = try Tessera.parseAsRoot(["token"] + words)
                try parsed.validate()
            }
        }
    }

    /// oidc-token's optional variable names, as argp reads them (attached to the short option,
    /// after `=` on the long one), and what they print; compared with the real oidc-token in
    /// OIDCTokenCompatibilityTests.
    @Test func variableNamesParseAndPrintAsOidcTokens() throws {
        func format(_ words: String...) throws -> TokenFormat {
            var parsed = try Tessera.parseAsRoot(TokenCommand.normalizeVariableNames(["token"] + words))
            try parsed.validate()
            return try #require(parsed as? TokenCommand).format
        }
        #expect(try format("-oMY_AT", "egi") == .exports([.token], names: [.token: "MY_AT"]))
        #expect(try format("--token=MY_AT", "egi") == .exports([.token], names: [.token: "MY_AT"]))
        #expect(try format("-oie", "egi") == .exports([.token], names: [.token: "ie"]), "argp: -oie names the variable")
        #expect(try format("-c", "-eX", "egi") == .exports([.token, .issuer, .expiresAt], names: [.expiresAt: "X"]))
        #expect(try format("-c", "-o", "egi") == .env)
        #expect(try format("-oA", "-oB", "egi") == .exports([.token], names: [.token: "B"]), "the last name wins")
        #expect(TokenFormat.exports([.token, .issuer, .expiresAt], names: [.token: "MY_AT"]).render(issued)
            == "MY_AT=eyJ.tok.sig; export MY_AT;\nOIDC_ISS=https://iam.example.org/; export OIDC_ISS;\nOIDC_EXP=1900000000; export OIDC_EXP;\n")
        // Meant for eval: a name that is no shell variable is refused, never printed.
        for bad in ["-o1X", "--token=a;b", "-e$(id)", "--issuer=", "-oA-B"] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try format(bad, "egi") }
        }
        #expect(TokenCommand.normalizeVariableNames(["account", "-oX"]) == ["account", "-oX"], "token only")
    }

    @Test func fastPathLeavesTheNewFlagsToArgumentParser() {
        for flag in ["-f", "-c", "-e", "-i", "-o", "-a", "--bearer", "--auth-header"] {
            #expect(TokenFastPath.parse(["token", flag, "egi"]) == nil, "\(flag)")
        }
        #expect(TokenFastPath.parse(["token", "--name", "x", "egi"]) == nil)
    }
}
