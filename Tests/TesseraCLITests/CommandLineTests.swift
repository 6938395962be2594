import Foundation
import Testing
import TestSupport

/// `tessera` end to end: the real binary against the real `tesserad` on the session bus, with the
/// project's django-oauth-toolkit provider, gnome-keyring and dunst (scripts/session.sh).
@Suite(.serialized, .exclusiveSession) struct CommandLineTests {
    @Test func everyCommandAndOutputModeAgainstTheRealService() async throws {
        let provider = try await TestProvider.start()
        let agent = try await RunningAgent()
        let issuer = provider.issuer.absoluteString

        // account add / list / show
        let added = try await CLI.run(["account", "add", "wlcg", "--issuer", issuer,
                                       "--client-id", TestProvider.devicePublic.id,
                                       "-s", "openid offline_access", "--aud", "https://storage.example.org"])
        #expect(added.status == 0, "\(added)")
        #expect(added.stdout.contains("tessera login wlcg"))

        let list = try await CLI.run(["account", "list"])
        #expect(list.status == 0, "\(list)")
        #expect(list.stdout.contains("wlcg") && list.stdout.contains(issuer) && list.stdout.contains("login required"),
                "\(list)")
        let listJSON = try await CLI.run(["account", "list", "--json"])
        let accounts = try #require(try JSONSerialization.jsonObject(with: Data(listJSON.stdout.utf8)) as? [[String: Any]])
        #expect(accounts.first?["name"] as? String == "wlcg")
        #expect(accounts.first?["issuer"] as? String == issuer)

        let show = try await CLI.run(["account", "show", "wlcg"])
        #expect(show.status == 0 && show.stdout.contains(TestProvider.devicePublic.id), "\(show)")

        // Not logged in yet: exit 3 with the command to run.
        let early = try await CLI.run(["token", "wlcg"])
        #expect(early.status == 3, "\(early)")
        #expect(early.stderr.contains("tessera login wlcg"), "\(early)")

        // login without a terminal: code and URI, no QR code.
        let login = try LiveCLI(["login", "wlcg"])
        let code = try await login.waitFor("enter the code: ([A-Za-z0-9-]+)")
        #expect(login.stdout.contains("\(issuer)/"), "\(login.stdout)")
        try await provider.approve(userCode: code)
        #expect(try await login.wait() == 0, "\(login.stdout) \(login.stderr)")
        #expect(login.stdout.contains("Logged in to wlcg."))
        #expect(!login.stdout.contains("\u{2580}") && !login.stdout.contains("\u{2588}"), "no QR without a TTY")

        // token: plain, json, env (sourced by a shell), bearer file (read back by WLCG discovery).
        let plain = try await CLI.run(["token", "wlcg"])
        #expect(plain.status == 0, "\(plain)")
        let token = plain.stdout.trimmingCharacters(in: .newlines)
        #expect(!token.isEmpty && !token.contains("\n"))
        #expect(try await provider.tokenInfo(accessToken: token).active)

        let json = try await CLI.run(["token", "wlcg", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["token"] as? String == token, "cached: the same token")
        #expect(object["issuer"] as? String == issuer, "\(json.stdout)")
        #expect((object["expires_at"] as? Int ?? 0) > Int(Date().timeIntervalSince1970))
        #expect((object["scopes"] as? [String])?.contains("openid") == true)

        let tessera = try Binaries.path("tessera")
        let sourced = try await runShell("""
            eval "$('\(tessera)' token wlcg --env)" || exit 9
            printf '%s\\n%s\\n%s' "$OIDC_AT" "$OIDC_ISS" "$OIDC_EXP"
            """)
        let lines = sourced.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 3 && lines[0] == token, "\(sourced)")
        #expect(Int(lines.last ?? "") == object["expires_at"] as? Int)

        let bearer = try await CLI.run(["token", "wlcg", "--bearer-file"])
        #expect(bearer.status == 0, "\(bearer)")
        let runtime = try Requirement.environment("XDG_RUNTIME_DIR", hint: "scripts/session.sh sets it")
        #expect(bearer.stdout == "\(runtime)/bt_u\(getuid())\n")
        let discovered = try await runShell(wlcgDiscovery, environment: ["BEARER_TOKEN": "", "BEARER_TOKEN_FILE": ""])
        #expect(discovered == token, "WLCG discovery finds the token")
        let mode = try FileManager.default.attributesOfItem(atPath: "\(runtime)/bt_u\(getuid())")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        // Scoped and forced tokens are new ones.
        let forced = try await CLI.run(["token", "wlcg", "--force", "-t", "30"])
        #expect(forced.status == 0 && forced.stdout.trimmingCharacters(in: .newlines) != token, "\(forced)")

        // status: service, account, login state, expiry — never a token.
        let status = try await CLI.run(["status"])
        #expect(status.status == 0, "\(status)")
        #expect(status.stdout.contains("wlcg") && status.stdout.contains("logged in"), "\(status)")
        #expect(!status.stdout.contains(token))
        let statusJSON = try await CLI.run(["status", "--json"])
        #expect(try JSONSerialization.jsonObject(with: Data(statusJSON.stdout.utf8)) is [String: Any])

        // revoke: the provider forgets the login; the next token needs a new one (exit 3).
        let revoke = try await CLI.run(["revoke", "wlcg"])
        #expect(revoke.status == 0, "\(revoke)")
        #expect(revoke.stdout.contains("Revoked"), "\(revoke)")
        let after = try await CLI.run(["token", "wlcg"])
        #expect(after.status == 3 && after.stderr.contains("tessera login wlcg"), "\(after)")

        // Unknown account: runtime error (1) with what to do.
        let unknown = try await CLI.run(["token", "nope"])
        #expect(unknown.status == 1 && unknown.stderr.contains("tessera account list"), "\(unknown)")

        // account remove
        let removed = try await CLI.run(["account", "remove", "wlcg"])
        #expect(removed.status == 0, "\(removed)")
        let empty = try await CLI.run(["account", "list", "--json"])
        #expect(empty.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(empty)")

        // Nothing the CLI printed on stderr held a token.
        for run in [added, list, show, early, plain, json, bearer, forced, status, revoke, after, unknown, removed] {
            #expect(!run.stderr.contains(token))
        }
        _ = agent
    }

    @Test func loginInAPseudoTerminalDrawsTheQRCode() async throws {
        let provider = try await TestProvider.start()
        let agent = try await RunningAgent()
        let added = try await CLI.run(["account", "add", "qr", "--issuer", provider.issuer.absoluteString,
                                       "--client-id", TestProvider.devicePublic.id])
        #expect(added.status == 0, "\(added)")
        let login = try LiveCLI(["login", "qr"], pseudoTerminal: true)
        let code = try await login.waitFor("enter the code: ([A-Za-z0-9-]+)")
        _ = try await login.waitFor("Waiting for approval")
        #expect(login.stdout.contains("\u{2580}") || login.stdout.contains("\u{2588}"), "QR blocks: \(login.stdout)")
        try await provider.approve(userCode: code)
        #expect(try await login.wait() == 0, "\(login.stdout)")
        #expect(login.stdout.contains("Logged in to qr."))
        _ = agent
    }

    /// Ctrl-C during a login cancels the flow at the service (its `Cancel` is called and it reports
    /// `Cancelled`) and exits 130.
    @Test func interruptingALoginCancelsTheFlowAtTheService() async throws {
        let provider = try await TestProvider.start()
        let agent = try await RunningAgent()
        _ = try await CLI.run(["account", "add", "ctrlc", "--issuer", provider.issuer.absoluteString,
                               "--client-id", TestProvider.devicePublic.id])
        let monitor = try LiveMonitor()
        let login = try LiveCLI(["login", "ctrlc"])
        _ = try await login.waitFor("enter the code: ([A-Za-z0-9-]+)")
        try await Task.sleep(for: .milliseconds(100))
        kill(login.process.processIdentifier, SIGINT)
        #expect(try await login.wait() == 130, "\(login.stdout) \(login.stderr)")
        #expect(login.stdout.contains("cancelled"))
        _ = try await monitor.waitFor("member=Cancel")
        let failed = try await monitor.waitFor("member=Failed[^\\n]*\\n\\s*string \"([^\"]+)\"")
        #expect(failed == "io.tessera.Agent1.Error.Cancelled", "\(monitor.output)")
        _ = agent
    }

    /// The same login command answers with exit 3 when a login is required and --interactive
    /// was not given, and runs the device flow on stderr when it was.
    @Test func interactiveTokenRunsTheLoginOnStderr() async throws {
        let provider = try await TestProvider.start()
        let agent = try await RunningAgent()
        _ = try await CLI.run(["account", "add", "inter", "--issuer", provider.issuer.absoluteString,
                               "--client-id", TestProvider.devicePublic.id])
        let live = try LiveCLI(["token", "inter", "--interactive", "--json"])
        let deadline = ContinuousClock.now + .seconds(15)
        var code: String?
        while code == nil && ContinuousClock.now < deadline {
            if let range = live.stderr.range(of: #"enter the code: [A-Za-z0-9-]+"#, options: .regularExpression) {
                code = String(live.stderr[range].dropFirst("enter the code: ".count))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await provider.approve(userCode: try #require(code, "\(live.stderr)"))
        #expect(try await live.wait() == 0, "\(live.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(live.stdout.utf8)) as? [String: Any]
        #expect(object?["token"] is String, "stdout holds only the JSON: \(live.stdout)")
        _ = agent
    }
}

/// The WLCG Bearer Token Discovery order, as a consumer implements it.
let wlcgDiscovery = #"""
    if [ -n "$BEARER_TOKEN" ]; then printf %s "$BEARER_TOKEN"
    elif [ -n "$BEARER_TOKEN_FILE" ] && [ -f "$BEARER_TOKEN_FILE" ]; then tr -d '\n' < "$BEARER_TOKEN_FILE"
    elif [ -n "$XDG_RUNTIME_DIR" ] && [ -f "$XDG_RUNTIME_DIR/bt_u$(id -u)" ]; then tr -d '\n' < "$XDG_RUNTIME_DIR/bt_u$(id -u)"
    elif [ -f "/tmp/bt_u$(id -u)" ]; then tr -d '\n' < "/tmp/bt_u$(id -u)"
    else exit 1
    fi
    """#

/// `dbus-monitor` on the device-flow interface, as an independent witness of what the CLI did.
final class LiveMonitor {
    let process: BackgroundProcess

    init() throws {
        let directory = try makeTemporaryDirectory("monitor")
        process = try BackgroundProcess("dbus-monitor", ["--session", "interface='io.tessera.DeviceFlow1'"],
                                        logPath: "\(directory)/monitor.log")
        usleep(200_000) // dbus-monitor has no readiness signal; its match is in place within this.
    }

    var output: String { process.log() }

    func waitFor(_ pattern: String, timeout: Duration = .seconds(10)) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = output
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return String(text[Range(range, in: text)!])
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError.timedOut("dbus-monitor output matching \(pattern): \(output)")
    }
}
