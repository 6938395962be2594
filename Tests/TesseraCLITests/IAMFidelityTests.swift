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

        let directory = try makeTemporaryDirectory("iam-expired-monitor")
        let monitor = try BackgroundProcess(
            "dbus-monitor", ["--session", "interface='org.freedesktop.Notifications'", "interface='io.tessera.Agent1'"],
            logPath: "\(directory)/monitor.log")
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
}
