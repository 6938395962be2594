import Foundation
import Testing
import TestSupport

/// `tessera login --browser` end to end: the real tesserad opens the authorization URI with a fake
/// `xdg-open` (no portal on the private bus) that plays the user's browser (Tests/Provider/browser.py:
/// logs in as alice, answers the consent form, follows the redirect to tesserad's loopback listener).
@Suite(.serialized, .exclusiveSession) struct BrowserLoginTests {
    @Test func browserLoginThroughTesseradWithAFakeXdgOpen() async throws {
        let provider = try await TestProvider.start()
        let directory = try makeTemporaryDirectory("browser-login")
        let bin = "\(directory)/bin", browserLog = "\(directory)/browser.log", decision = "\(directory)/decision"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // The decision file lets one tesserad serve an approving and a denying "user".
        let fake = """
            #!/bin/sh
            exec '\(try TestBrowser.python())' '\(TestBrowser.script)' "$1" $(cat '\(decision)') >> '\(browserLog)' 2>&1
            """
        try fake.write(toFile: "\(bin)/xdg-open", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(bin)/xdg-open")
        try "".write(toFile: decision, atomically: true, encoding: .utf8)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let agent = try await RunningAgent(environment: ["PATH": "\(bin):\(path)", "PYTHONDONTWRITEBYTECODE": "1"])

        let added = try await CLI.run(["account", "add", "web", "--issuer", provider.issuer.absoluteString,
                                       "--client-id", TestProvider.browserPublic.id, "-s", "openid offline_access read"])
        #expect(added.status == 0, "\(added)")

        let login = try await CLI.run(["login", "web", "--browser", "--timeout", "60"], timeout: .seconds(60))
        #expect(login.status == 0, "\(login)\n\(agent.log)")
        #expect(login.stdout.contains("Logged in to web."), "\(login)")
        #expect(login.stdout.contains("\(provider.issuer.absoluteString)/o/authorize/?"), "the URI is shown as a fallback")
        let browser = try String(contentsOfFile: browserLog, encoding: .utf8)
        #expect(browser.contains("callback status=200 title=Tessera: Logged in"), "\(browser)")

        // The login is the account's: tokens come from its refresh token, issued to alice.
        let token = try await CLI.run(["token", "web", "--force"])
        #expect(token.status == 0, "\(token)")
        let info = try await provider.tokenInfo(accessToken: token.stdout.trimmingCharacters(in: .newlines))
        #expect(info.active && info.username == "alice" && info.clientId == TestProvider.browserPublic.id)
        let listed = try await CLI.run(["account", "list"])
        #expect(listed.stdout.contains("logged in"), "\(listed)")

        // The user declines: the flow fails as denied, and the CLI says so (exit 1).
        try "--deny".write(toFile: decision, atomically: true, encoding: .utf8)
        let denied = try await CLI.run(["login", "web", "--browser", "--timeout", "60"], timeout: .seconds(60))
        #expect(denied.status == 1 && denied.stderr.contains("denied"), "\(denied)")

        // Neither the code nor a token reaches the service's log or the browser's output.
        #expect(!agent.log.contains(token.stdout.trimmingCharacters(in: .newlines)))
        #expect(!agent.log.contains("code="), "\(agent.log)")
        #expect(!(try String(contentsOfFile: browserLog, encoding: .utf8)).contains("code="))
        // The session's account file is shared with the suites that follow.
        let removed = try await CLI.run(["account", "remove", "web"])
        #expect(removed.status == 0, "\(removed)")
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test func browserAndPasswordTogetherAreAUsageError() async throws {
        let run = try await CLI.run(["login", "web", "--browser", "--password"])
        #expect(run.status == 2 && run.stderr.contains("--browser"), "\(run)")
    }
}
