import Foundation

/// A desktop for consent questions: Xvfb, a private session bus (eavesdropping allowed, so
/// dbus-monitor sees every Notify), an unlocked gnome-keyring and dunst — with a config whose
/// `dmenu` is a script that picks the action named in `choose(_:)`. dunst offers a notification's
/// actions through dmenu when there are several and none is "default"; `dunstctl action 0` opens
/// that menu, so the answer travels the real path: dunst → ActionInvoked → tesserad.
/// Every process it started is stopped by PID when the value is released.
public final class ConsentDesktop {
    public let root: String
    public let environment: [String: String]
    private let xvfb: BackgroundProcess
    private let bus: BackgroundProcess
    private var dunst: BackgroundProcess?
    private var keyringPID: Int32?
    private let choiceFile: String

    /// - Parameter notifications: false for a desktop without a notification server.
    public init(notifications: Bool = true) async throws {
        for tool in ["Xvfb", "dunst", "dunstctl", "dbus-daemon", "gnome-keyring-daemon"] { _ = try Requirement.executable(tool) }
        root = try makeTemporaryDirectory("consent-desktop")
        let home = "\(root)/home", runtime = "\(root)/run"
        for dir in [home, runtime, "\(home)/.config", "\(home)/.cache", "\(home)/.local/share"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: runtime)
        choiceFile = "\(root)/choice"
        try "".write(toFile: choiceFile, atomically: true, encoding: .utf8)
        // dmenu's stdin: one "#<label> (<summary>) [<id>,<key>]" line per action; print the chosen one.
        let dmenu = "\(root)/fake-dmenu"
        try "#!/bin/sh\nchoice=$(cat '\(choiceFile)')\ngrep -F -m1 \"#$choice (\"\n".write(toFile: dmenu, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dmenu)
        try "[global]\n    dmenu = \(dmenu)\n".write(toFile: "\(root)/dunstrc", atomically: true, encoding: .utf8)

        let deadline = ContinuousClock.now + .seconds(10)
        let display: String
        (xvfb, display) = try await DesktopParts.startXvfb(root: root, until: deadline)
        environment = DesktopParts.environment(root: root, display: display)
        bus = try await DesktopParts.startBus(root: root, environment: environment, until: deadline)
        keyringPID = try await KeyringSession.startKeyring(environment: environment, logPath: "\(root)/keyring.log")
        if notifications {
            let dunst = try BackgroundProcess("dunst", ["-config", "\(root)/dunstrc"], environment: environment,
                                              logPath: "\(root)/dunst.log")
            self.dunst = dunst
            while try await Command.run(
                "gdbus", ["call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                          "--method", "org.freedesktop.DBus.NameHasOwner", "org.freedesktop.Notifications"],
                environment: environment, timeout: .seconds(5)).stdout.contains("false") {
                guard dunst.isRunning, ContinuousClock.now < deadline else { throw TestSupportError.failed("dunst did not start: \(dunst.log())") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Answers the oldest notification's question with the action labelled `label` ("Allow once",
    /// "Always allow", "Deny"), through dunst's own action menu.
    public func choose(_ label: String) async throws {
        try label.write(toFile: choiceFile, atomically: true, encoding: .utf8)
        try await Command.check("dunstctl", ["action", "0"], environment: environment, timeout: .seconds(5))
    }

    /// `dunstctl` with this desktop's bus (e.g. `["close-all"]`).
    public func dunstctl(_ arguments: [String]) async throws {
        try await Command.check("dunstctl", arguments, environment: environment, timeout: .seconds(5))
    }

    /// How many notifications dunst shows now.
    public func displayedCount() async throws -> Int {
        let output = try await Command.check("dunstctl", ["count", "displayed"], environment: environment, timeout: .seconds(5))
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    deinit {
        dunst?.stop()
        if let keyringPID { DesktopParts.terminate(keyringPID) }
        bus.stop(signal: SIGKILL)
        xvfb.stop()
    }
}
