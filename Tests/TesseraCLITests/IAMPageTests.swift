import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport

/// Issue 13 as a user coming from INDIGO IAM's page "CLI support: obtaining an IAM access token"
/// meets it: known providers, `max`, public clients, editing, renaming, importing and ID tokens —
/// the real `tessera` and `tesserad` against the project's provider, gnome-keyring and dunst.
@Suite(.serialized, .exclusiveSession) struct IAMPageTests {
    /// A config directory of the test's own with a user providers file naming the test provider
    /// twice: with its public device client, and without a client (so Tessera registers one).
    static func configDirectory(provider: TestProvider) throws -> String {
        let config = try makeTemporaryDirectory("iam-config")
        try FileManager.default.createDirectory(atPath: "\(config)/tessera", withIntermediateDirectories: true)
        try """
            {"schema": 1, "providers": [
              {"short-name": "testidp", "display-name": "Test IdP (public client)", "issuer": "\(provider.issuer.absoluteString)",
               "public-client-id": "\(TestProvider.devicePublic.id)", "scopes": ["openid", "offline_access", "read"],
               "audience-parameter": "resource", "notes": "the project's django-oauth-toolkit"},
              {"short-name": "testreg", "display-name": "Test IdP (registration)", "issuer": "\(provider.issuer.absoluteString)",
               "audience-parameter": "resource"}
            ]}
            """.write(toFile: "\(config)/tessera/providers.json", atomically: true, encoding: .utf8)
        return config
    }

    static func account(_ name: String) async throws -> [String: Any]? {
        let list = try await CLI.run(["account", "list", "--json"])
        let accounts = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
        return accounts?.first { $0["name"] as? String == name }
    }

    static func login(_ name: String, at provider: TestProvider) async throws {
        let login = try LiveCLI(["login", name])
        let code = try await login.waitFor("enter the code: ([A-Za-z0-9-]+)")
        try await provider.approve(userCode: code)
        #expect(try await login.wait() == 0, "\(login.stdout) \(login.stderr)")
    }

    @Test func providersMaxAndPublicClients() async throws {
        let provider = try await TestProvider.start()
        let config = try Self.configDirectory(provider: provider)
        let agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])

        // provider list: the built-in IAMs and the user's entries, as a table and as JSON.
        let list = try await CLI.run(["provider", "list"])
        #expect(list.status == 0, "\(list)")
        for word in ["wlcg", "https://wlcg.cloud.cnaf.infn.it/", "cms", "egi", "testidp", "testreg"] {
            #expect(list.stdout.contains(word), "\(word) in \(list.stdout)")
        }
        #expect(list.stderr.isEmpty, "\(list)")
        let json = try await CLI.run(["provider", "list", "--json"])
        let providers = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let wlcg = try #require(providers.first { $0["short-name"] as? String == "wlcg" })
        #expect(wlcg["audience-parameter"] as? String == "audience")
        #expect(wlcg["public-client-id"] as? String == "7d6ad1c2-6647-4846-b0d5-c9f6ad0987d0")
        #expect(providers.first { $0["short-name"] as? String == "testidp" }?["source"] as? String == "\(config)/tessera/providers.json")

        // An unknown short name: a usage error that lists the known ones; nothing added.
        let unknown = try await CLI.run(["account", "add", "nope", "--provider", "no-such-idp"])
        #expect(unknown.status == 2, "\(unknown)")
        #expect(unknown.stderr.contains("no-such-idp") && unknown.stderr.contains("wlcg, ") && unknown.stderr.contains("testidp"), "\(unknown)")
        #expect(try await Self.account("nope") == nil)

        // `max` with the provider's public client: the scopes published for that client.
        let added = try await CLI.run(["account", "add", "iam", "--provider", "testidp", "-s", "max"])
        #expect(added.status == 0, "\(added)")
        let iam = try #require(try await Self.account("iam"))
        #expect(iam["client-id"] as? String == TestProvider.devicePublic.id, "the public client, not a registered one")
        #expect(iam["scopes"] as? [String] == ["openid", "offline_access", "read"], "\(iam)")
        #expect(iam["issuer"] as? String == provider.issuer.absoluteString)

        // `max` without a public client: discovery's scopes_supported, and a registered client.
        let registered = try await CLI.run(["account", "add", "reg", "--provider", "testreg", "-s", "max"])
        #expect(registered.status == 0, "\(registered)")
        let reg = try #require(try await Self.account("reg"))
        let regClient = try #require(reg["client-id"] as? String)
        #expect(regClient != TestProvider.devicePublic.id)
        #expect(Set(reg["scopes"] as? [String] ?? []) == ["openid", "profile", "email", "offline_access", "read", "write"], "\(reg)")
        // The registration access token is in the keyring (checked as a boolean: never printed).
        #expect((reg["registration-client-uri"] as? String)?.contains(regClient) == true, "\(reg)")
        let stored = try await Command.run("secret-tool", ["lookup", "account", "reg", "kind", "registration_token"])
        #expect(!stored.stdout.isEmpty, "the registration access token is kept")
        #expect(try await Self.deviceAuthorizationStatus(provider, clientID: regClient) == 200, "the registered client works")

        // `max` against an issuer that publishes no scopes: a clear error, nothing added.
        let faults = try await FaultServer.start()
        let noScopes = try await CLI.run(["account", "add", "bare", "--issuer", faults.issuer(for: "ok").absoluteString,
                                          "--client-id", "x", "-s", "max"])
        #expect(noScopes.status == 2, "\(noScopes)")
        #expect(noScopes.stderr.contains("publishes none"), "\(noScopes)")
        #expect(try await Self.account("bare") == nil)

        // Log in, then a token valid for a week: the provider's tokens live an hour, so a fresh one.
        try await Self.login("iam", at: provider)
        let week = try await CLI.run(["token", "iam", "-t", "604800", "--json"])
        #expect(week.status == 0, "\(week)")
        let weekToken = try #require(try JSONSerialization.jsonObject(with: Data(week.stdout.utf8)) as? [String: Any])
        let expiresAt = try #require(weekToken["expires_at"] as? Int)
        #expect(expiresAt > Int(Date().timeIntervalSince1970) + 3000 && expiresAt < Int(Date().timeIntervalSince1970) + 604_800,
                "expires_at tells the truth")

        // Removing the account deletes the client Tessera registered (RFC 7592) and its token.
        let removed = try await CLI.run(["account", "remove", "reg"])
        #expect(removed.status == 0, "\(removed)")
        #expect(try await Self.deviceAuthorizationStatus(provider, clientID: regClient) != 200, "the client is gone at the provider")
        let gone = try await Command.run("secret-tool", ["lookup", "account", "reg", "kind", "registration_token"])
        #expect(gone.stdout.isEmpty)
        #expect(agent.log.contains("deleted the client registered for reg"), "\(agent.log.suffix(1500))")

        // A broken user file: reported by file and field; the built-in list keeps working.
        try #"{"schema": 1, "providers": [{"short-name": "x", "issuer": 42}]}"#
            .write(toFile: "\(config)/tessera/providers.json", atomically: true, encoding: .utf8)
        let broken = try await CLI.run(["provider", "list"])
        #expect(broken.status == 0, "\(broken)")
        #expect(broken.stderr.contains("\(config)/tessera/providers.json: providers[0].issuer: must be a string"), "\(broken)")
        #expect(broken.stdout.contains("wlcg") && !broken.stdout.contains("testidp"), "\(broken)")
        _ = agent
    }

    @Test func editRenameImportAndIdToken() async throws {
        let provider = try await TestProvider.start()
        let config = try Self.configDirectory(provider: provider)
        let agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        #expect(try await CLI.run(["account", "add", "edit", "--provider", "testidp", "-s", "max"]).status == 0)
        try await Self.login("edit", at: provider)
        let first = try await CLI.run(["token", "edit"])
        #expect(first.status == 0, "\(first)")

        // Edit the scopes: the login stays, the cached token goes, the next one has the new scopes.
        #expect(try await provider.tokenInfo(accessToken: first.stdout.trimmingCharacters(in: .newlines)).scopes
                    == ["openid", "offline_access", "read"])
        let set = try await CLI.run(["account", "set", "edit", "-s", "openid offline_access"])
        #expect(set.status == 0, "\(set)")
        #expect(try await Self.account("edit")?["scopes"] as? [String] == ["openid", "offline_access"])
        let narrowed = try await CLI.run(["token", "edit"])
        #expect(narrowed.status == 0, "\(narrowed)")
        let narrowedToken = narrowed.stdout.trimmingCharacters(in: .newlines)
        #expect(narrowedToken != first.stdout.trimmingCharacters(in: .newlines))
        #expect(try await provider.tokenInfo(accessToken: narrowedToken).scopes == ["openid", "offline_access"])
        let badStyle = try await CLI.run(["account", "set", "edit", "--audience-style", "sideways"])
        #expect(badStyle.status == 2, "\(badStyle)")
        let nothing = try await CLI.run(["account", "set", "edit"])
        #expect(nothing.status == 2 && nothing.stderr.contains("nothing to change"), "\(nothing)")

        // Rename: the login, the client and the cached token follow; the old name is gone.
        #expect(try await CLI.run(["account", "add", "other", "--provider", "testidp"]).status == 0)
        let onto = try await CLI.run(["account", "rename", "edit", "other"])
        #expect(onto.status == 2 && onto.stderr.contains("exists"), "\(onto)")
        let renamed = try await CLI.run(["account", "rename", "edit", "edited"])
        #expect(renamed.status == 0, "\(renamed)")
        let cached = try await CLI.run(["token", "edited"])
        #expect(cached.stdout.trimmingCharacters(in: .newlines) == narrowedToken, "the cached token followed: \(cached)")
        #expect(try await CLI.run(["token", "edit"]).status == 1)
        let items = try await Command.run("secret-tool", ["search", "--all", "account", "edit"])
        #expect(!items.stdout.contains("refresh_token") && !items.stderr.contains("refresh_token"), "no item left under the old name")
        let moved = try await Command.run("secret-tool", ["lookup", "account", "edited", "kind", "refresh_token"])
        let refreshToken = moved.stdout.trimmingCharacters(in: .newlines)
        #expect(!refreshToken.isEmpty, "the refresh token moved: \(moved.stderr)")

        // ID token: from a refresh with openid (the device grant brings none at this provider).
        let id = try await CLI.run(["token", "edited", "--id-token", "--json"])
        #expect(id.status == 0, "\(id)")
        let idObject = try #require(try JSONSerialization.jsonObject(with: Data(id.stdout.utf8)) as? [String: Any])
        let idToken = try #require(idObject["id_token"] as? String)
        let claims = try #require(Self.claims(idToken))
        #expect(claims["aud"] as? String == TestProvider.devicePublic.id || (claims["aud"] as? [String])?.contains(TestProvider.devicePublic.id) == true,
                "\(claims)")
        #expect((idObject["expires_at"] as? Int ?? 0) > Int(Date().timeIntervalSince1970))

        // Import the login's refresh token into a new account: tested by refreshing it.
        let imported = try await CLI.run(["account", "add", "imported", "--provider", "testidp", "--refresh-token-stdin"],
                                         stdin: refreshToken + "\n")
        #expect(imported.status == 0, "\(imported)")
        #expect(imported.stdout.contains("it works"), "\(imported)")
        #expect(try await CLI.run(["token", "imported"]).status == 0)
        // A refresh token the provider refuses: the account stays, the user learns why (exit 3).
        let refused = try await CLI.run(["account", "add", "refused", "--provider", "testidp", "--refresh-token-stdin"],
                                        stdin: "not-a-refresh-token\n")
        #expect(refused.status == 3, "\(refused)")
        #expect(refused.stderr.contains("refused the imported refresh token"), "\(refused)")
        #expect(try await Self.account("refused")?["logged-in"] as? Bool == false)
        for run in [imported, refused] { #expect(!run.stderr.contains(refreshToken) && !run.stdout.contains(refreshToken)) }
        _ = agent
    }

    /// An expired login: the refresh is refused, the refresh token deleted, LoginRequired
    /// emitted, and a notification "Log in to NAME again" whose "Log in" action (chosen with
    /// `dunstctl action`) starts the device flow that `tessera login` then picks up.
    @Test func anExpiredLoginNotifiesAndItsActionLogsInAgain() async throws {
        // Refresh tokens die 2 s after their access token (2 s): a login is gone after 4 s.
        let provider = try await TestProvider.start(.init(accessTokenLifetime: 2, refreshTokenLifetime: 2))
        let config = try Self.configDirectory(provider: provider)
        let agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        #expect(try await CLI.run(["account", "add", "lapsed", "--provider", "testidp"]).status == 0)
        try await Self.login("lapsed", at: provider)
        #expect(try await CLI.run(["token", "lapsed"]).status == 0)

        let monitor = try Self.notificationMonitor("expired-monitor")
        defer { monitor.stop() }
        try await Task.sleep(for: .seconds(5))
        _ = try await Command.run("dunstctl", ["close-all"])

        let refused = try await CLI.run(["token", "lapsed", "--force"])
        #expect(refused.status == 3, "\(refused)")
        #expect(refused.stderr.contains("tessera login lapsed"), "\(refused)")
        // LoginRequired, the notification, the deleted refresh token, its "Log in" action, the
        // device flow `tessera login` picks up, a token again.
        try await IAMFidelityTests.expectLoginExpiredFlow(monitor: monitor, account: "lapsed", provider: provider, agent: agent)
    }

    /// dbus-monitor on the test session: notifications and the agent's signals.
    static func notificationMonitor(_ stem: String) throws -> BackgroundProcess {
        let directory = try makeTemporaryDirectory(stem)
        return try BackgroundProcess(
            "dbus-monitor", ["--session", "interface='org.freedesktop.Notifications'", "interface='io.tessera.Agent1'"],
            logPath: "\(directory)/monitor.log")
    }

    /// The IAM page's commands in order against the provider in IAM mode: a provider entry with
    /// IAM's audience parameter and no public client (so Tessera registers one at IAM's
    /// registration endpoint), `max`, the device flow, `token`, `token -s`, and
    /// `token --aud example.audience -s …`, whose JWT carries the audience in `aud`.
    @Test func theIAMPageInOrderAgainstIAMMode() async throws {
        try await Self.iamPage(audienceParameter: "audience")
    }

    static func iamPage(audienceParameter: String) async throws {
        let provider = try await TestProvider.start(.iam())
        let config = try makeTemporaryDirectory("iam-mode-config")
        try FileManager.default.createDirectory(atPath: "\(config)/tessera", withIntermediateDirectories: true)
        try """
            {"schema": 1, "providers": [{"short-name": "iamtest", "display-name": "IAM-mode test provider",
              "issuer": "\(provider.issuer.absoluteString)", "audience-parameter": "\(audienceParameter)"}]}
            """.write(toFile: "\(config)/tessera/providers.json", atomically: true, encoding: .utf8)
        let agent = try await RunningAgent(environment: ["XDG_CONFIG_HOME": config])
        let added = try await CLI.run(["account", "add", "wlcg", "--provider", "iamtest", "-s", "max"])
        #expect(added.status == 0, "\(added)")
        let account = try #require(try await Self.account("wlcg"))
        #expect((account["scopes"] as? [String])?.contains("offline_access") == true, "\(account)")
        try await Self.login("wlcg", at: provider)
        let plain = try await CLI.run(["token", "wlcg"])
        #expect(plain.status == 0, "\(plain)")
        let narrow = try await CLI.run(["token", "wlcg", "-s", "openid", "-s", "offline_access"])
        #expect(narrow.status == 0, "\(narrow)")
        let audience = try await CLI.run(["token", "wlcg", "--aud", "example.audience", "-s", "openid", "-s", "offline_access"])
        #expect(audience.status == 0, "\(audience)")
        let claims = try #require(Self.claims(audience.stdout.trimmingCharacters(in: .newlines)), "a JWT: \(audience)")
        let aud = (claims["aud"] as? [String]) ?? (claims["aud"] as? String).map { [$0] } ?? []
        #expect(aud.contains("example.audience"), "\(claims)")
        let week = try await CLI.run(["token", "wlcg", "-t", "604800"])
        #expect(week.status == 0, "\(week)")
        let removed = try await CLI.run(["account", "remove", "wlcg"])
        #expect(removed.status == 0, "\(removed)")
        _ = agent
    }

    /// The provider's answer to a device authorization request by `clientID` (200 while it exists).
    static func deviceAuthorizationStatus(_ provider: TestProvider, clientID: String) async throws -> Int {
        var request = URLRequest(url: provider.issuer.appendingPathComponent("o/device-authorization/"))
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data("client_id=\(clientID)&scope=openid".utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    static func claims(_ jwt: String) -> [String: Any]? {
        let parts = jwt.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
}
