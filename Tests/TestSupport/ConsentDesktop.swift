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

        let displayFile = "\(root)/display"
        xvfb = try BackgroundProcess("Xvfb", ["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                                     logPath: displayFile)
        var display = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if let number = xvfb.log().split(separator: "\n").first(where: { Int($0) != nil }) { display = ":\(number)"; break }
            guard xvfb.isRunning, ContinuousClock.now < deadline else { throw TestSupportError.failed("Xvfb did not start: \(xvfb.log())") }
            try await Task.sleep(for: .milliseconds(10))
        }
        let socket = "\(root)/bus"
        try """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>unix:path=\(socket)</listen>
              <policy context="default">
                <allow send_destination="*" eavesdrop="true"/>
                <allow eavesdrop="true"/>
                <allow own="*"/>
              </policy>
            </busconfig>
            """.write(toFile: "\(root)/bus.conf", atomically: true, encoding: .utf8)
        environment = [
            "DISPLAY": display, "DBUS_SESSION_BUS_ADDRESS": "unix:path=\(socket)", "HOME": home,
            "XDG_RUNTIME_DIR": runtime, "XDG_CONFIG_HOME": "\(home)/.config", "XDG_CACHE_HOME": "\(home)/.cache",
            "XDG_DATA_HOME": "\(home)/.local/share", "NO_AT_BRIDGE": "1",
        ]
        bus = try BackgroundProcess("dbus-daemon", ["--config-file=\(root)/bus.conf", "--nofork", "--nopidfile"],
                                    environment: environment, logPath: "\(root)/bus.log")
        while !FileManager.default.fileExists(atPath: socket) {
            guard bus.isRunning, ContinuousClock.now < deadline else { throw TestSupportError.failed("dbus-daemon did not start: \(bus.log())") }
            try await Task.sleep(for: .milliseconds(5))
        }
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

    /// For processes that are not our children (the daemonized keyring): SIGTERM, then wait.
    private static func terminate(_ pid: Int32) {
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")"), !stat[close...].hasPrefix(") Z") else { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
    }

    deinit {
        dunst?.stop()
        if let keyringPID { Self.terminate(keyringPID) }
        bus.stop(signal: SIGKILL)
        xvfb.stop()
    }
}
