import Foundation
import Testing
import TestSupport

/// Issue 13's leftovers, each against the real `tessera` and `tesserad`, the project's provider
/// (also in IAM mode), gnome-keyring and dunst: edits that survive a restart, the terminal chooser
/// driven through a pseudo-terminal, an expired login in IAM mode, `-t` up to `u`'s limit.
@Suite(.serialized, .exclusiveSession) struct IAMFidelityTests {
    /// `account set` narrows the scopes of a logged-in account; tesserad restarts (twice); the
    /// refreshes still name the narrowed scopes (they used to go out unnamed after a restart, so
    /// the provider answered with the login's wider ones), and every other setting is still there.
    @Test func accountSetSurvivesARestart() async throws {
        let provider = try await TestProvider.start()
        let config = try IAMPageTests.configDirectory(provider: provider)
        var agent: RunningAgent? = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        #expect(try await CLI.run(["account", "add", "kept", "--provider", "testidp", "-s", "max"]).status == 0)
        try await IAMPageTests.login("kept", at: provider)
        let wide = try await CLI.run(["token", "kept"])
        #expect(try await provider.tokenInfo(accessToken: wide.stdout.trimmingCharacters(in: .newlines)).scopes
                    == ["openid", "offline_access", "read"], "\(wide)")

        let set = try await CLI.run(["account", "set", "kept", "-s", "openid offline_access",
                                     "--aud", "https://storage.example.org", "--audience-style", "resource"])
        #expect(set.status == 0, "\(set)")
        for round in 1...2 {
            agent = nil
            agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
            let kept = try #require(try await IAMPageTests.account("kept"))
            #expect(kept["scopes"] as? [String] == ["openid", "offline_access"], "round \(round): \(kept)")
            #expect(kept["audience"] as? [String] == ["https://storage.example.org"], "round \(round): \(kept)")
            #expect(kept["audience-style"] as? String == "resource", "round \(round): \(kept)")
            #expect(kept["logged-in"] as? Bool == true, "round \(round): \(kept)")
            let token = try await CLI.run(["token", "kept", "--force"])
            #expect(token.status == 0, "round \(round): \(token)")
            let info = try await provider.tokenInfo(accessToken: token.stdout.trimmingCharacters(in: .newlines))
            #expect(info.scopes == ["openid", "offline_access"], "round \(round): the narrowed scopes after a restart")
            #expect(info.resource == ["https://storage.example.org"], "round \(round): \(String(describing: info.resource))")
        }
        // A new login with the account's own scopes makes the record unneeded: the file drops it.
        try await IAMPageTests.login("kept", at: provider)
        let file = try String(contentsOfFile: "\(config)/tessera/accounts.json", encoding: .utf8)
        #expect(!file.contains("login-scopes"), "\(file)")
        _ = agent
    }

    /// A config directory whose providers file names the provider in IAM mode the way the built-in
    /// list names IAMs: IAM's audience parameter, no public client (Tessera registers one).
    static func iamConfigDirectory(provider: TestProvider) throws -> String {
        let config = try makeTemporaryDirectory("iam-mode-config")
        try FileManager.default.createDirectory(atPath: "\(config)/tessera", withIntermediateDirectories: true)
        try """
            {"schema": 1, "providers": [{"short-name": "iamtest", "display-name": "IAM-mode test provider",
              "issuer": "\(provider.issuer.absoluteString)", "audience-parameter": "audience"}]}
            """.write(toFile: "\(config)/tessera/providers.json", atomically: true, encoding: .utf8)
        return config
    }

    static func getToken(_ account: String) async throws -> CommandResult {
        try await Command.run("gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                                        "--method", "io.tessera.Agent1.GetToken", account, "{}"])
    }

    /// Issue 13.3 in IAM mode, as a user meets it: the refresh token has expired at IAM (401
    /// invalid_token "Refresh token for value … was not found"); the refresh token is deleted,
    /// LoginRequired signalled, GetToken answers LoginRequired, and the notification "Log in to
    /// NAME again" offers "Log in", which (chosen with `dunstctl action`) starts the device flow
    /// that ends in a token. Then an unknown refresh token (one IAM never issued) the same way.
    @Test func anExpiredLoginInIAMModeNotifiesAndItsActionLogsInAgain() async throws {
        // Refresh tokens die 2 s after their access token (2 s): a login is gone after 4 s.
        let provider = try await TestProvider.start(.iam(accessTokenLifetime: 2, refreshTokenLifetime: 2))
        let config = try Self.iamConfigDirectory(provider: provider)
        var agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        let added = try await CLI.run(["account", "add", "wlcg", "--provider", "iamtest", "-s", "max"])
        #expect(added.status == 0, "\(added)")
        try await IAMPageTests.login("wlcg", at: provider)
        #expect(try await CLI.run(["token", "wlcg"]).status == 0)

        let monitor = try IAMPageTests.notificationMonitor("iam-expired-monitor")
        defer { monitor.stop() }
        try await Task.sleep(for: .seconds(5))
        _ = try await Command.run("dunstctl", ["close-all"])

        let refused = try await CLI.run(["token", "wlcg", "--force"])
        #expect(refused.status == 3, "\(refused)")
        #expect(refused.stderr.contains("was not found") && refused.stderr.contains("tessera login wlcg"), "\(refused)")
        try await Self.expectLoginExpiredFlow(monitor: monitor, account: "wlcg", provider: provider, agent: agent)

        // An unknown refresh token (IAM never issued it), put in the keyring under the account:
        // the same 401, the same way back.
        let item = try await Command.run("secret-tool", ["search", "--all", "account", "wlcg", "kind", "refresh_token"])
        // secret-tool prints the attributes on stderr.
        let attributes = (item.stdout + "\n" + item.stderr).split(separator: "\n").compactMap { line -> (String, String)? in
            guard line.hasPrefix("attribute."), let equals = line.firstIndex(of: "=") else { return nil }
            let key = line[line.index(line.startIndex, offsetBy: 10)..<equals].trimmingCharacters(in: .whitespaces)
            return (key, line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces))
        }
        #expect(!attributes.isEmpty, "\(item)")
        // The same attributes and schema: the Secret Service replaces the item.
        let replaced = try await Command.run("secret-tool", ["store", "--label", "unknown refresh token", "xdg:schema", "io.tessera.Secret"]
                                                 + attributes.flatMap { [$0.0, $0.1] }, stdin: "never-issued-by-iam")
        #expect(replaced.succeeded, "\(replaced)")
        // A new tesserad: nothing of the old login is held in memory.
        _ = try await Command.run("dunstctl", ["close-all"])
        agent.tesserad.stop()
        agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        let unknown = try await CLI.run(["token", "wlcg"])
        #expect(unknown.status == 3 && unknown.stderr.contains("was not found"), "\(unknown)")
        try await Self.expectLoginExpiredFlow(monitor: monitor, account: "wlcg", provider: provider, agent: agent, occurrence: 2)
    }

    /// After a refused refresh: LoginRequired signalled, the refresh token gone, GetToken answering
    /// LoginRequired, the notification and its "Log in" action, then the device flow to a token.
    static func expectLoginExpiredFlow(monitor: BackgroundProcess, account: String, provider: TestProvider,
                                       agent: RunningAgent, occurrence: Int = 1) async throws {
        func count(_ text: String) -> Int { monitor.log().components(separatedBy: text).count - 1 }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline && count("Log in to \(account) again") < occurrence {
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = monitor.log()
        #expect(count("member=LoginRequired") >= occurrence, "\(log.suffix(2000))")
        #expect(count("Log in to \(account) again") >= occurrence && log.contains("string \"Log in\""), "\(log.suffix(2000))")
        let lookup = try await Command.run("secret-tool", ["lookup", "account", account, "kind", "refresh_token"])
        #expect(lookup.stdout.isEmpty, "the dead refresh token was deleted")
        let getToken = try await getToken(account)
        #expect(!getToken.succeeded && getToken.stderr.contains("io.tessera.Agent1.Error.LoginRequired"), "\(getToken)")

        // The notification's "Log in" action starts the device flow; its code is shown.
        let codesBefore = count("Enter the code")
        #expect(try await Command.run("dunstctl", ["action", "0"]).succeeded)
        let started = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < started && count("Enter the code") <= codesBefore {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(count("Enter the code") > codesBefore, "the login notification follows the action")
        #expect(agent.log.contains("\"Log in\" chosen on the notification for \(account)"), "\(agent.log.suffix(2000))")
        try await IAMPageTests.login(account, at: provider)
        let token = try await CLI.run(["token", account])
        #expect(token.status == 0, "\(token)")
        _ = try await Command.run("dunstctl", ["close-all"])
    }

    /// `-t` takes any `u` (issue 13.4): far above the provider's lifetime a fresh token comes back
    /// (the cached one cannot stay valid that long); what is no `u` is a usage error (exit 2).
    @Test func minValidTakesAnyUInt32() async throws {
        let provider = try await TestProvider.start()
        let config = try IAMPageTests.configDirectory(provider: provider)
        let agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        #expect(try await CLI.run(["account", "add", "t", "--provider", "testidp"]).status == 0)
        try await IAMPageTests.login("t", at: provider)
        let cached = try await CLI.run(["token", "t"])
        #expect(cached.status == 0, "\(cached)")
        for seconds in ["31622401", "4294967295"] {
            for form in [["token", "t", "-t", seconds], ["token", "t", "--min-valid=\(seconds)", "--json"]] {
                let long = try await CLI.run(form)
                #expect(long.status == 0, "\(form): \(long)")
                #expect(!long.stdout.contains(cached.stdout.trimmingCharacters(in: .newlines)), "\(form): a fresh token")
            }
        }
        for bad in [["-t", "4294967296"], ["-t", "-1"], ["--min-valid=-5"], ["-t", "99999999999"]] {
            let refused = try await CLI.run(["token", "t"] + bad)
            #expect(refused.status == 2, "\(bad): \(refused)")
            #expect(refused.stderr.contains("<seconds>") && refused.stdout.isEmpty, "\(bad): \(refused)")
            if bad.last != "-1" { #expect(refused.stderr.contains("from 0 to 4294967295"), "\(bad): \(refused)") }
        }
        _ = agent
    }

    // MARK: The terminal chooser, through a pseudo-terminal

    /// Runs `tessera ARGS` on a new pseudo-terminal (its controlling terminal, so `/dev/tty` is
    /// it) and answers prompts: each step waits for a pattern in the output, then types `send`
    /// (`{1}` is the pattern's first group) or, with `send` nil, Ctrl-D at a line start (EOF).
    static func onTerminal(_ arguments: [String], _ steps: [(expect: String, send: String?)]) async throws -> CLIRun {
        let directory = try makeTemporaryDirectory("pty")
        let driver = "\(directory)/drive.py"
        try Self.ptyDriver.write(toFile: driver, atomically: true, encoding: .utf8)
        let plan = try JSONSerialization.data(withJSONObject: steps.map { step -> [String: Any] in
            var object: [String: Any] = ["expect": step.expect]
            if let send = step.send { object["send"] = send }
            return object
        })
        let result = try await Command.run("/usr/bin/python3", [driver, String(decoding: plan, as: UTF8.self),
                                                                try Binaries.path("tessera")] + arguments,
                                           timeout: .seconds(60))
        // The driver exits with the program's status; everything the terminal showed is its stdout.
        return CLIRun(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    static let ptyDriver = #"""
        import json, os, pty, re, select, sys, time
        steps, command = json.loads(sys.argv[1]), sys.argv[2:]
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(command[0], command)
        seen, start = b"", 0
        def pump(deadline):
            global seen
            ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
            if not ready:
                return True
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return False
            seen += chunk
            return bool(chunk)
        for step in steps:
            pattern, deadline, match = re.compile(step["expect"].encode()), time.time() + 20, None
            while match is None and time.time() < deadline:
                match = pattern.search(seen, start)
                if match is None and not pump(deadline):
                    break
            if match is None:
                sys.stdout.write(seen.decode(errors="replace"))
                sys.stderr.write("pty driver: never saw %r\n" % step["expect"])
                os.kill(pid, 9)
                sys.exit(97)
            start = match.end()
            if "send" in step:
                text = step["send"]
                for index, group in enumerate(match.groups(), 1):
                    text = text.replace("{%d}" % index, group.decode())
                os.write(fd, text.encode())
            else:
                os.write(fd, b"\x04")
        deadline = time.time() + 30
        while time.time() < deadline and pump(deadline):
            pass
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(seen.decode(errors="replace"))
        sys.exit(os.waitstatus_to_exitcode(status))
        """#

    /// Issue 13.2: `tessera account add NAME` on a terminal, without --provider or --issuer: the
    /// numbered chooser and the scopes prompt, as oidc-gen users know them.
    @Test func theChooserOnATerminal() async throws {
        let provider = try await TestProvider.start()
        let config = try IAMPageTests.configDirectory(provider: provider)
        let agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        let issuer = provider.issuer.absoluteString

        // Pick by number, then `max`: the provider's public client and its published scopes.
        let picked = try await Self.onTerminal(["account", "add", "picked"], [
            (#"(?s)(\d+)\) testidp: .*Provider \[1-\d+\]: "#, "{1}\n"),
            (#"Scopes, separated by spaces \('max'[^\n]*\]: "#, "max\n"),
        ])
        #expect(picked.status == 0, "\(picked)")
        #expect(picked.stdout.contains("type an issuer URL") && picked.stdout.contains("wlcg: "), "\(picked)")
        #expect(picked.stdout.contains("Added account picked"), "\(picked)")
        let pickedAccount = try #require(try await IAMPageTests.account("picked"))
        #expect(pickedAccount["client-id"] as? String == TestProvider.devicePublic.id, "\(pickedAccount)")
        #expect(pickedAccount["scopes"] as? [String] == ["openid", "offline_access", "read"], "\(pickedAccount)")

        // "type an issuer": its number, then the URL; the scopes as typed. No client: one is registered.
        let typed = try await Self.onTerminal(["account", "add", "typed"], [
            (#"(?s)(\d+)\) type an issuer URL.*Provider \[1-\d+\]: "#, "{1}\n"),
            (#"Issuer URL: "#, "\(issuer)\n"),
            (#"Scopes, separated by spaces[^\n]*\]: "#, "openid offline_access read\n"),
        ])
        #expect(typed.status == 0, "\(typed)")
        let typedAccount = try #require(try await IAMPageTests.account("typed"))
        #expect(typedAccount["issuer"] as? String == issuer, "\(typedAccount)")
        #expect(typedAccount["scopes"] as? [String] == ["openid", "offline_access", "read"], "\(typedAccount)")
        #expect(typedAccount["registration-client-uri"] is String, "a registered client: \(typedAccount)")

        // An issuer URL typed straight at the provider prompt; the scopes' default on Enter.
        let direct = try await Self.onTerminal(["account", "add", "direct"], [
            (#"Provider \[1-\d+\]: "#, "\(issuer)\n"),
            (#"Scopes, separated by spaces[^\n]*\]: "#, "\n"),
        ])
        #expect(direct.status == 0, "\(direct)")
        #expect(try await IAMPageTests.account("direct")?["scopes"] as? [String] == ["openid", "offline_access"])

        // Out of range, zero, garbage, a bad issuer URL: each re-asked with a reason; then EOF
        // (Ctrl-D) ends it with a usage error and nothing added.
        let wrong = try await Self.onTerminal(["account", "add", "wrong"], [
            (#"Provider \[1-\d+\]: "#, "999\n"),
            (#"neither a number from the list nor a short name[^\n]*\n[^\n]*Provider \[1-\d+\]: "#, "0\n"),
            (#"neither a number[^\n]*\n[^\n]*Provider \[1-\d+\]: "#, "no such thing\n"),
            (#"'no such thing' is neither[^\n]*\n[^\n]*Provider \[1-\d+\]: "#, "ftp://example.org/\n"),
            (#"(?s)is not an http\(s\) URL.*Provider \[1-\d+\]: "#, nil),
        ])
        #expect(wrong.status == 2, "\(wrong)")
        #expect(wrong.stdout.contains("no input for provider"), "\(wrong)")
        #expect(try await IAMPageTests.account("wrong") == nil)

        // An empty answer: no provider chosen.
        let empty = try await Self.onTerminal(["account", "add", "empty"], [(#"Provider \[1-\d+\]: "#, "\n")])
        #expect(empty.status == 2 && empty.stdout.contains("no provider chosen"), "\(empty)")

        // At the scopes prompt: `max` with more words, and EOF — refused, nothing added.
        let mixed = try await Self.onTerminal(["account", "add", "mixed"], [
            (#"(?s)(\d+)\) testidp: .*Provider \[1-\d+\]: "#, "{1}\n"),
            (#"Scopes, separated by spaces[^\n]*\]: "#, "max openid\n"),
        ])
        #expect(mixed.status == 2 && mixed.stdout.contains("'max' stands alone"), "\(mixed)")
        let ended = try await Self.onTerminal(["account", "add", "ended"], [
            (#"(?s)(\d+)\) testidp: .*Provider \[1-\d+\]: "#, "{1}\n"),
            (#"Scopes, separated by spaces[^\n]*\]: "#, nil),
        ])
        #expect(ended.status == 2 && ended.stdout.contains("no input for scopes"), "\(ended)")
        // A short name typed instead of a number works too.
        let named = try await Self.onTerminal(["account", "add", "named"], [
            (#"Provider \[1-\d+\]: "#, "testidp\n"),
            (#"Scopes, separated by spaces[^\n]*\]: "#, "openid\n"),
        ])
        #expect(named.status == 0, "\(named)")
        let names = try await CLI.run(["account", "list", "--json"])
        for name in ["wrong", "empty", "mixed", "ended"] { #expect(!names.stdout.contains("\"\(name)\""), "\(name): \(names)") }
        _ = agent
    }

    /// Issue 13's bad input not covered by IAMPageTests: a providers file that is not JSON (the
    /// built-in list keeps working, the file's entries are unknown), and a registration the
    /// provider refuses (no account, no keyring item, no half of anything).
    @Test func aBrokenProvidersFileAndARefusedRegistration() async throws {
        let provider = try await TestProvider.start()
        let config = try IAMPageTests.configDirectory(provider: provider)
        let agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        let file = "\(config)/tessera/providers.json"
        try "{\"schema\": 1, \"providers\": [".write(toFile: file, atomically: true, encoding: .utf8)
        let list = try await CLI.run(["provider", "list"])
        #expect(list.status == 0 && list.stdout.contains("wlcg") && !list.stdout.contains("testidp"), "\(list)")
        #expect(list.stderr.contains("\(file): (file): is not valid JSON"), "\(list)")
        let unknown = try await CLI.run(["account", "add", "lost", "--provider", "testidp"])
        #expect(unknown.status == 2 && unknown.stderr.contains("testidp") && unknown.stderr.contains("wlcg"), "\(unknown)")
        #expect(try await IAMPageTests.account("lost") == nil)

        // The registration endpoint answers 400 invalid_client_metadata.
        let faults = try await FaultServer.start()
        let issuer = faults.issuer(for: "error-status=400:invalid_client_metadata").absoluteString
        let refused = try await CLI.run(["account", "add", "unregistered", "--issuer", issuer])
        #expect(refused.status != 0 && refused.stderr.contains("invalid_client_metadata"), "\(refused)\n\(agent.log)")
        #expect(try await IAMPageTests.account("unregistered") == nil, "not half-created")
        let items = try await Command.run("secret-tool", ["search", "--all", "account", "unregistered"])
        #expect(items.stdout.isEmpty && !items.stderr.contains("attribute"), "no keyring item: \(items)")
        let accounts = (try? String(contentsOfFile: "\(config)/tessera/accounts.json", encoding: .utf8)) ?? ""
        #expect(!accounts.contains("unregistered"), "\(accounts)")
        _ = agent
    }
}
