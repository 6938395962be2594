import DBus
import Foundation
import TestSupport
import Testing
@testable import TesseraAgent

/// The tray reads the keyring only once something shows it: a service with no panel (a server, a
/// script's session, the benchmark) then never touches the keyring library at start.
@Suite(.serialized, .exclusiveSession) struct TrayKeyringTests {
    @Test func withNoTrayHostTheKeyringIsReadOnlyWhenTheMenuIsShown() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        try await world.login()

        // Every call to the keyring daemon on this bus, with its sender.
        let monitorLog = "\(world.directory)/secrets-calls.log"
        let monitor = try BackgroundProcess(
            "dbus-monitor", ["--session", "type='method_call',destination='org.freedesktop.secrets'"],
            environment: world.environment, logPath: monitorLog)
        defer { monitor.stop() }
        try await eventually("dbus-monitor sees keyring calls", timeout: .seconds(10)) {
            _ = try await world.storedRefreshToken()
            return monitor.log().contains("org.freedesktop.Secret")
        }

        // A fresh tesserad with a logged-in account and no panel on the bus. libsecret talks to the
        // keyring over its own GDBus connection (not tesserad's bus name), and nothing else in this
        // session calls the keyring from here on: any new call is tesserad's.
        let calls = { monitor.log().components(separatedBy: "method call ").count - 1 }
        let before = calls()
        try await world.restartAgent()
        try await eventually("the no-host line", timeout: .seconds(5)) { world.agent.log().contains("no tray host") }
        try await Task.sleep(for: .milliseconds(500))
        #expect(calls() == before, "tesserad read the keyring at start:\n\(monitor.log())")

        // A client shows the menu: the login state is read then, and is right.
        let layout = try await Command.run(
            "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", Tray.menuPath.rawValue,
                      "--method", "com.canonical.dbusmenu.GetLayout", "--", "0", "-1", "@as []"],
            environment: world.environment)
        #expect(layout.stdout.contains("'\(world.account) — logged in'"), "\(layout.stdout) \(layout.stderr)")
        try await eventually("tesserad read the keyring for the menu", timeout: .seconds(10)) { calls() > before }
    }
}
