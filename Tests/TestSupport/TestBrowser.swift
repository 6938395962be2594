import Foundation

extension TestProvider {
    /// The seeded public client for the authorization code flow; its redirect URI is
    /// `http://127.0.0.1/callback`, any port (RFC 8252 §7.3).
    public static let browserPublic = Client(id: "tessera-browser-public", secret: nil)
}

/// A headless browser for authorization code tests (Tests/Provider/browser.py): logs in at the
/// provider as a seeded user, answers the consent form and follows the redirect to the loopback
/// listener, as the user's browser would.
public enum TestBrowser {
    /// The script, for tests that need it as a program (e.g. behind a fake `xdg-open`).
    public static var script: String { "\(PythonServer.providerDirectory)/browser.py" }

    /// The provider venv's python, which runs `script`.
    public static func python() throws -> String { try PythonServer.python() }

    /// Opens `url` as `user`, approving (or denying) the login. The result's stdout ends with
    /// `callback status=<HTTP status> title=<page title>` — what the loopback listener answered.
    public static func open(_ url: URL, as user: String = "alice", deny: Bool = false) async throws -> CommandResult {
        try await Command.run(try python(), [script, url.absoluteString, "--user", user] + (deny ? ["--deny"] : []),
                              environment: ["PYTHONDONTWRITEBYTECODE": "1"], timeout: .seconds(30))
    }
}
