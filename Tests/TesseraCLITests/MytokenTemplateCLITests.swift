import Foundation
import Testing
import TestSupport

/// `tessera mytoken` with the server's templates and profiles, the default server, the client's
/// `--token-type` spellings and tokeninfo, end to end: the real binaries, tesserad, the mytoken
/// test server (which follows the real server's template resolution and tokeninfo).
@Suite(.serialized, .exclusiveSession) struct MytokenTemplateCLITests {
    static let mytokenPath = "/api/v0/token/my"

    /// A stored root account on `server` and a fresh agent (its own account file).
    static func world(_ server: MytokenServer, capabilities: [String] = ["AT", "create_mytoken", "tokeninfo", "settings"])
        async throws -> (RunningAgent, String)
    {
        let agent = try await MytokenCLITests.agent()
        let root = try await server.mint(capabilities: capabilities)
        let name = MytokenCLITests.unique("mtp")
        let imported = try await CLI.run(["mytoken", "import", name, "--mytoken-env", "MT_ROOT"], environment: ["MT_ROOT": root])
        #expect(imported.status == 0, "\(imported)")
        return (agent, name)
    }

    static func token(_ run: CLIRun) -> String { run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

    @Test func eachRestrictionFormReachesTheServerAsTheClientSendsIt() async throws {
        let server = try await MytokenServer.start()
        let (agent, name) = try await Self.world(server)
        defer { withExtendedLifetime(agent) {} }
        let home = try makeTemporaryDirectory("mytoken-home")
        try #"{"exp":"+2d","scope":"openid"}"#.write(toFile: "\(home)/r.json", atomically: true, encoding: .utf8)
        let now = Int(Date().timeIntervalSince1970)

        // (arguments, body the server receives, restrictions it stores with `exp` relative to now)
        let cases: [([String], String, String)] = [
            (["--restriction", #"{"exp":"+1d","usages_AT":2}"#], #"[{"exp":"+1d","usages_AT":2}]"#, #"[{"exp":+86400,"usages_AT":2}]"#),
            (["--restriction", "1d"], #"[{"include":"1d"}]"#, #"[{"exp":+86400}]"#),
            (["--restriction", "1d ip-this"], #"[{"include":["1d","ip-this"]}]"#, #"[{"exp":+86400,"hosts":["127.0.0.1"]}]"#),
            (["--restriction", #"[{"include":"web-default","scope":"openid"}]"#],
             #"[{"include":"web-default","scope":"openid"}]"#,
             #"[{"exp":+43200,"hosts":["127.0.0.1"],"scope":"openid","usages_AT":15}]"#),
            (["--restriction", "~/r.json"], #"[{"exp":"+2d","scope":"openid"}]"#, #"[{"exp":+172800,"scope":"openid"}]"#),
            (["--restriction", "\(home)/r.json"], #"[{"exp":"+2d","scope":"openid"}]"#, #"[{"exp":+172800,"scope":"openid"}]"#),
        ]
        for (options, body, stored) in cases {
            let run = try await CLI.run(["mytoken", "create", name] + options, environment: ["HOME": home])
            #expect(run.status == 0, "\(options): \(run)")
            let sent = try #require(try await server.receivedBodies(path: Self.mytokenPath).last)
            #expect(sent.contains(#""restrictions":\#(body)"#), "\(options): \(sent)")
            let token = try #require(try await server.lookup(Self.token(run)), "\(options)")
            #expect(Self.relative(token.restrictionsJSON, now: now) == stored, "\(options): \(token.restrictionsJSON)")
        }

        // A ./ path is relative to the working directory.
        let dotted = try await Command.run("/bin/sh", ["-c", "cd \(home) && exec \(try Binaries.path("tessera")) mytoken create \(name) --restriction ./r.json"])
        #expect(dotted.status == 0, "\(dotted)")
        #expect(try await server.receivedBodies(path: Self.mytokenPath).last?.contains(#""restrictions":[{"exp":"+2d","scope":"openid"}]"#) == true)

        // Capabilities and rotation as templates, a profile by name; the server resolves them.
        let templated = try await CLI.run(["mytoken", "create", name, "--capability", "@default", "--rotation", "at-other-daily-auto-revoke",
                                           "--rotation-lifetime", "600"])
        #expect(templated.status == 0, "\(templated)")
        let sent = try #require(try await server.receivedBodies(path: Self.mytokenPath).last)
        #expect(sent.contains(#""capabilities":["@default"]"#) && sent.contains(#""rotation":{"include":"at-other-daily-auto-revoke","lifetime":600}"#),
                "\(sent)")
        let rotating = try #require(try await server.lookup(Self.token(templated)))
        #expect(rotating.capabilities == ["AT", "tokeninfo"])
        // The flags beat the template (the client's precedence): lifetime 600, not the template's 86400.
        #expect(rotating.rotationJSON == #"{"auto_revoke":true,"lifetime":600,"on_AT":true,"on_other":true}"#)

        let profiled = try await CLI.run(["mytoken", "create", name, "--profile", "agent"])
        #expect(profiled.status == 0, "\(profiled)")
        #expect(try await server.receivedBodies(path: Self.mytokenPath).last?.contains(#""include":"agent""#) == true)
        #expect(Set(try #require(try await server.lookup(Self.token(profiled))).capabilities) == ["AT", "tokeninfo", "create_mytoken", "settings"])
        // Explicit options win over a profile's fields.
        let both = try await CLI.run(["mytoken", "create", name, "--profile", #"{"capabilities":["AT","tokeninfo"]}"#, "--capability", "AT"])
        #expect(both.status == 0, "\(both)")
        #expect(try #require(try await server.lookup(Self.token(both))).capabilities == ["AT"])
    }

    @Test func badTemplateInputIsNamedAndLosesNothing() async throws {
        let server = try await MytokenServer.start()
        let (agent, name) = try await Self.world(server)
        let directory = try makeTemporaryDirectory("mytoken-bad")
        try "1d ip-this".write(toFile: "\(directory)/names.txt", atomically: true, encoding: .utf8)
        try #"{"exp": "#.write(toFile: "\(directory)/broken.json", atomically: true, encoding: .utf8)
        let before = try await server.tokens().count

        let unknown = try await CLI.run(["mytoken", "create", name, "--restriction", "1d 2x"])
        #expect(unknown.status == 1 && unknown.stderr.contains("unknown include name: '2x'")
                && unknown.stderr.contains("tessera mytoken profiles"), "\(unknown)")
        let unknownProfile = try await CLI.run(["mytoken", "create", name, "--profile", "nobody"])
        #expect(unknownProfile.status == 1 && unknownProfile.stderr.contains("'nobody'"), "\(unknownProfile)")
        let unknownCapability = try await CLI.run(["mytoken", "create", name, "--capability", "@nothing"])
        #expect(unknownCapability.status == 1 && unknownCapability.stderr.contains("'nothing'"), "\(unknownCapability)")
        let missing = try await CLI.run(["mytoken", "create", name, "--restriction", "\(directory)/absent.json"])
        #expect(missing.status == 2 && missing.stderr.contains("\(directory)/absent.json"), "\(missing)")
        let notJSON = try await CLI.run(["mytoken", "create", name, "--restriction", "\(directory)/names.txt"])
        #expect(notJSON.status == 2 && notJSON.stderr.contains("\(directory)/names.txt must contain a JSON object or array"), "\(notJSON)")
        let broken = try await CLI.run(["mytoken", "create", name, "--restriction", "\(directory)/broken.json"])
        #expect(broken.status == 2 && broken.stderr.contains("\(directory)/broken.json is not valid JSON"), "\(broken)")
        let contradicting = try await CLI.run(["mytoken", "create", name, "--restriction", "1d", "--exp", "+2d"])
        #expect(contradicting.status == 2 && contradicting.stderr.contains("not both"), "\(contradicting)")
        let badType = try await CLI.run(["mytoken", "create", name, "--token-type", "jwt_token"])
        #expect(badType.status == 2 && badType.stderr.contains("short_token"), "\(badType)")
        let badRotation = try await CLI.run(["mytoken", "create", name, "--rotation", #"{"on_at":true}"#])
        #expect(badRotation.status == 2 && badRotation.stderr.contains("unknown key 'on_at'"), "\(badRotation)")

        #expect(try await server.tokens().count == before, "no token was created by bad input")
        #expect(try await MytokenCLITests.storedMytoken(name) != nil, "the account keeps its mytoken")
        #expect(agent.process.isRunning)
    }

    @Test func profilesAreListed() async throws {
        let server = try await MytokenServer.start()
        try await server.addTemplate(group: "kit", kind: "rotation", name: "hourly", payloadJSON: #"{"include":"at","lifetime":3600}"#)
        let agent = try await MytokenCLITests.agent()
        defer { withExtendedLifetime(agent) {} }
        let url = server.url.absoluteString

        let profiles = try await CLI.run(["mytoken", "profiles", "--mytoken-server", url])
        #expect(profiles.status == 0 && profiles.stdout.hasPrefix("NAME"), "\(profiles)")
        #expect(profiles.stdout.contains("agent") && profiles.stdout.contains("web-default"), "\(profiles)")
        let restrictions = try await CLI.run(["mytoken", "profiles", "restrictions", "--mytoken-server", url])
        #expect(restrictions.stdout.contains("ip-this") && restrictions.stdout.contains(#"[{"hosts":["this"]}]"#), "\(restrictions)")
        let capabilities = try await CLI.run(["mytoken", "profiles", "capabilities", "--json"], environment: ["MYTOKEN_URL": url])
        #expect(capabilities.status == 0, "\(capabilities)")
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(capabilities.stdout.utf8)) as? [[String: Any]])
        #expect(listed.first { $0["name"] as? String == "default+MT" }?["payload"] as? [String] == ["AT", "tokeninfo", "create_mytoken"])
        let groups = try await CLI.run(["mytoken", "profiles", "groups", "--mytoken-server", url])
        #expect(groups.stdout == "_\nkit\n", "\(groups)")
        let kit = try await CLI.run(["mytoken", "profiles", "rotation", "--groups", "kit", "--mytoken-server", url])
        #expect(kit.stdout.contains("hourly") && kit.stdout.contains(#"{"lifetime":3600,"on_AT":true}"#), "\(kit)")
        let bad = try await CLI.run(["mytoken", "profiles", "templates", "--mytoken-server", url])
        #expect(bad.status == 2, "\(bad)")
        let noServer = try await CLI.run(["mytoken", "profiles"])
        #expect(noServer.status == 2 && noServer.stderr.contains("MYTOKEN_URL"), "\(noServer)")
    }

    @Test func theDefaultServerServesShortTokensAndTransferCodes() async throws {
        let server = try await MytokenServer.start()
        let (agent, name) = try await Self.world(server)
        defer { withExtendedLifetime(agent) {} }
        let directory = try makeTemporaryDirectory("mytoken-default")

        // Every client spelling of --token-type.
        let short = try await CLI.run(["mytoken", "create", name, "--token-type", "short_token", "--capability", "AT"])
        #expect(short.status == 0 && !Self.token(short).contains("."), "\(short)")
        let jwt = try await CLI.run(["mytoken", "create", name, "--token-type", "token"])
        #expect(jwt.status == 0 && Self.token(jwt).split(separator: ".").count == 3, "\(jwt)")
        let shortFile = "\(directory)/short.mt"
        try Self.token(short).write(toFile: shortFile, atomically: true, encoding: .utf8)
        let at = try await CLI.run(["mytoken", "at", "--mytoken-file", shortFile])
        #expect(at.status == 0 && at.stdout.hasPrefix("at_"), "the only mytoken account's server: \(at)")

        let code = try await CLI.run(["mytoken", "create", name, "--token-type", "transfer_code", "--capability", "AT"])
        #expect(code.status == 0, "\(code)")
        let exchanged = try await CLI.run(["mytoken", "exchange", "--transfer-code-stdin"], stdin: Self.token(code) + "\n")
        #expect(exchanged.status == 0 && Self.token(exchanged).split(separator: ".").count == 3, "\(exchanged)")
        #expect(!exchanged.stderr.contains("warning"), "\(exchanged)")
        let onArgv = try await CLI.run(["mytoken", "exchange", "--transfer-code", "not-a-code"])
        #expect(onArgv.stderr.contains("warning: --transfer-code puts the code on the command line"), "\(onArgv)")
        #expect(onArgv.status == 1, "\(onArgv)")

        // A second account at another server: no default any more, and the error names both.
        let other = try await MytokenServer.start()
        let second = MytokenCLITests.unique("mto")
        let imported = try await CLI.run(["mytoken", "import", second, "--mytoken-env", "MT_OTHER"],
                                         environment: ["MT_OTHER": try await other.mint()])
        #expect(imported.status == 0, "\(imported)")
        let ambiguous = try await CLI.run(["mytoken", "at", "--mytoken-file", shortFile])
        #expect(ambiguous.status == 2 && ambiguous.stderr.contains(name) && ambiguous.stderr.contains(second)
                && ambiguous.stderr.contains("--mytoken-server") && ambiguous.stderr.contains("MYTOKEN_URL"), "\(ambiguous)")
        let chosen = try await CLI.run(["mytoken", "at", "--mytoken-file", shortFile], environment: ["MYTOKEN_URL": server.url.absoluteString])
        #expect(chosen.status == 0 && chosen.stdout.hasPrefix("at_"), "\(chosen)")
    }

    @Test func tokeninfoActionsForAnAccountAndAPassedToken() async throws {
        let server = try await MytokenServer.start()
        let (agent, name) = try await Self.world(server, capabilities: ["AT", "create_mytoken", "tokeninfo", "manage_mytokens:list"])
        defer { withExtendedLifetime(agent) {} }
        #expect(try await CLI.run(["mytoken", "at", name]).status == 0)
        let child = try await CLI.run(["mytoken", "create", name, "--name", "job-42", "--capability", "AT tokeninfo"])
        #expect(child.status == 0, "\(child)")

        let introspect = try await CLI.run(["mytoken", "info", "introspect", name])
        #expect(introspect.status == 0 && introspect.stdout.contains("capabilities") && introspect.stdout.contains("create_mytoken"),
                "\(introspect)")
        let history = try await CLI.run(["mytoken", "info", "history", name])
        #expect(history.status == 0, "\(history)")
        let events = history.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true)[2] }
        #expect(events == ["created", "AT_created", "MT_created", "tokeninfo_introspect"], "\(history.stdout)")
        let subtokens = try await CLI.run(["mytoken", "info", "subtokens", name])
        #expect(subtokens.status == 0 && subtokens.stdout.contains("  job-42"), "\(subtokens)")
        let list = try await CLI.run(["mytoken", "info", "list", name, "--json"])
        #expect(list.status == 0, "\(list)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        #expect((object["mytokens"] as? [Any])?.count == 1)

        // A passed mytoken without the capability: the server's error with advice.
        let file = try makeTemporaryDirectory("mytoken-info") + "/child.mt"
        try Self.token(child).write(toFile: file, atomically: true, encoding: .utf8)
        let own = try await CLI.run(["mytoken", "info", "history", "--mytoken-file", file, "--json"])
        #expect(own.status == 0 && own.stdout.contains(#""event":"created""#), "\(own)")
        let refused = try await CLI.run(["mytoken", "info", "list", "--mytoken-file", file])
        #expect(refused.status == 1 && refused.stderr.contains("manage_mytokens:list"), "\(refused)")
        // The client's names: list-mytokens, tree.
        let aliases = try await CLI.run(["mytoken", "info", "list-mytokens", name])
        #expect(aliases.status == 0 && aliases.stdout.contains("job-42"), "\(aliases)")
        #expect(try await CLI.run(["mytoken", "info", "tree", name]).stdout.contains("job-42"))
        let bad = try await CLI.run(["mytoken", "info", "subtoken_tree", name])
        #expect(bad.status == 2, "\(bad)")
        #expect(!agent.log.contains(Self.token(child)))
    }

    /// The consent URI `tessera mytoken new` prints on stderr (stdout is the mytoken's).
    static func consentURI(_ live: LiveCLI) async throws -> URL {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let range = live.stderr.range(of: #"open (http://\S+)"#, options: .regularExpression) {
                return try #require(URL(string: String(live.stderr[range].dropFirst(5))))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError.timedOut("the consent URI; got: \(live.stdout) / \(live.stderr)")
    }

    static func keyringMytokens() async throws -> String {
        let result = try await Command.run("secret-tool", ["search", "--all", "kind", "mytoken"])
        return result.stdout + result.stderr
    }

    @Test func newPrintsTheMytokenOrWritesItAndStoresNothing() async throws {
        let server = try await MytokenServer.start()
        let agent = try await MytokenCLITests.agent()
        let url = server.url.absoluteString
        let keyringBefore = try await Self.keyringMytokens()

        let printing = try LiveCLI(["mytoken", "new", "--mytoken-server", url, "--restriction", "1d", "--capability", "AT",
                                    "--name", "job"])
        try await server.consent(try await Self.consentURI(printing))
        #expect(try await printing.wait() == 0, "\(printing.stdout) \(printing.stderr)")
        let token = printing.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.split(separator: ".").count == 3, "\(printing.stdout)")
        let stored = try #require(try await server.lookup(token))
        #expect(stored.capabilities == ["AT"] && stored.name == "job" && stored.parent == nil)
        #expect(stored.restrictionsJSON.contains(#""exp":"#))
        let login = try #require(try await server.receivedBodies(path: Self.mytokenPath).first { $0.contains("oidc_flow") })
        #expect(login.contains(#""restrictions":[{"include":"1d"}]"#) && login.contains(#""oidc_issuer":"https://op.example.org""#), "\(login)")

        // -o FILE (0600), a provider by the server's name for it, the client's token-type spelling.
        let file = try makeTemporaryDirectory("mytoken-new") + "/new.mytoken"
        let writing = try LiveCLI(["mytoken", "new", "--mytoken-server", url, "-i", "test", "--token-type", "short_token", "-o", file])
        try await server.consent(try await Self.consentURI(writing))
        #expect(try await writing.wait() == 0, "\(writing.stdout) \(writing.stderr)")
        #expect(writing.stdout.isEmpty)
        let written = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o600)
        #expect(!written.contains(".") && !written.isEmpty, "a short token")
        #expect(try await server.lookup(written)?.capabilities == ["AT", "create_mytoken", "tokeninfo"], "the default capabilities")

        // Nothing was stored, and the tokens are not in the service's log.
        #expect(try await Self.keyringMytokens() == keyringBefore)
        #expect(!(try await Self.keyringMytokens()).contains(token))
        #expect(!agent.log.contains(token) && !agent.log.contains(written))

        // Declined consent: no mytoken, an error; a bad provider name lists the server's.
        let declined = try LiveCLI(["mytoken", "new", "--mytoken-server", url])
        try await server.consent(try await Self.consentURI(declined), approve: false)
        #expect(try await declined.wait() != 0 && declined.stdout.isEmpty, "\(declined.stderr)")
        let unknown = try await CLI.run(["mytoken", "new", "--mytoken-server", url, "-i", "nowhere"])
        #expect(unknown.status == 2 && unknown.stderr.contains("Test provider"), "\(unknown)")
        // A known provider's short name that this server does not offer.
        let known = try await CLI.run(["mytoken", "new", "--mytoken-server", url, "-i", "egi"])
        #expect(known.status == 2 && known.stderr.contains("aai.egi.eu") && known.stderr.contains("is not offered"), "\(known)")
        let noServer = try await CLI.run(["mytoken", "new"])
        #expect(noServer.status == 2 && noServer.stderr.contains("MYTOKEN_URL"), "\(noServer)")
    }

    @Test func addKeepsTheLoginRequestForEachLogin() async throws {
        let server = try await MytokenServer.start()
        let agent = try await MytokenCLITests.agent()
        defer { withExtendedLifetime(agent) {} }
        let url = server.url.absoluteString
        let name = MytokenCLITests.unique("mta")
        let added = try await CLI.run(["mytoken", "add", name, "--mytoken-server", url, "-s", "openid", "--exp", "+7d",
                                       "--capability", "AT tokeninfo", "--rotation", "at", "--name", "laptop"])
        #expect(added.status == 0, "\(added)")
        let login = try LiveCLI(["login", name])
        try await server.consent(try #require(URL(string: try await login.waitFor("open (http://\\S+)"))))
        #expect(try await login.wait() == 0, "\(login.stdout) \(login.stderr)")
        let body = try #require(try await server.receivedBodies(path: Self.mytokenPath).first { $0.contains("oidc_flow") })
        // The relative time goes as typed, so each login counts from its own time.
        #expect(body.contains(#""restrictions":[{"exp":"+7d"}]"#) && body.contains(#""capabilities":["AT","tokeninfo"]"#)
                && body.contains(#""rotation":{"include":"at"}"#) && body.contains(#""name":"laptop""#), "\(body)")
        let mytoken = try #require(try await MytokenCLITests.storedMytoken(name))
        let stored = try #require(try await server.lookup(mytoken))
        #expect(stored.capabilities == ["AT", "tokeninfo"] && stored.rotationJSON == #"{"on_AT":true}"#)
        #expect(Self.relative(stored.restrictionsJSON, now: Int(Date().timeIntervalSince1970)) == #"[{"exp":+604800}]"#)
        // -s is the account's default scope, not part of the login's restriction.
        #expect(try await CLI.run(["account", "list", "--json"]).stdout.contains("openid"))

        let wrong = try await CLI.run(["mytoken", "add", MytokenCLITests.unique("mtw"), "--mytoken-server", url, "--token-type", "short"])
        #expect(wrong.status == 2 && wrong.stderr.contains("does not apply to an account's login"), "\(wrong)")
        let badTemplate = try await CLI.run(["mytoken", "add", MytokenCLITests.unique("mtw"), "--mytoken-server", url,
                                             "--restriction", #"{"exp":"soon"}"#])
        #expect(badTemplate.status == 2 && badTemplate.stderr.contains("soon"), "\(badTemplate)")
    }

    /// Restrictions JSON with `exp` written relative to `now` (as `+SECONDS`, rounded to 100 s) so
    /// a comparison does not depend on the second the token was made.
    static func relative(_ json: String, now: Int) -> String {
        var out = json
        let pattern = try! NSRegularExpression(pattern: #""exp":(\d+)"#)
        for match in pattern.matches(in: json, range: NSRange(json.startIndex..., in: json)).reversed() {
            let range = Range(match.range(at: 1), in: json)!
            let delta = Int(json[range])! - now
            let rounded = Int((Double(delta) / 100).rounded()) * 100
            out.replaceSubrange(Range(match.range(at: 1), in: out)!, with: "+\(rounded)")
        }
        return out
    }
}
