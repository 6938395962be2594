import Foundation

/// What the throw-away desktops (`TrayDesktop`, `ConsentDesktop`) and `KeyringSession` share:
/// an X server, a private session bus, and stopping processes that are not our children.
enum DesktopParts {
    /// Xvfb on the first free display; returns it with its name (":N"). `-displayfd` writes the
    /// display number it took to fd 1, which is `root/display` here.
    static func startXvfb(root: String, width: Int = 1024, height: Int = 768,
                          until deadline: ContinuousClock.Instant) async throws -> (BackgroundProcess, display: String) {
        let displayFile = "\(root)/display"
        _ = FileManager.default.createFile(atPath: displayFile, contents: nil)
        let xvfb = try BackgroundProcess("Xvfb", ["-displayfd", "1", "-screen", "0", "\(width)x\(height)x24", "-nolisten", "tcp"],
                                         logPath: displayFile)
        while true {
            if let number = xvfb.log().split(separator: "\n").first(where: { Int($0) != nil }) { return (xvfb, ":\(number)") }
            guard xvfb.isRunning, ContinuousClock.now < deadline else {
                throw TestSupportError.failed("Xvfb did not start: \(xvfb.log())")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The environment of a desktop session under `root`: a private HOME and XDG dirs, the bus at
    /// `root/bus`, the X display.
    static func environment(root: String, display: String) -> [String: String] {
        PrivateBusConfig.environment(bus: "unix:path=\(root)/bus", home: "\(root)/home", runtime: "\(root)/run")
            .merging(["DISPLAY": display, "NO_AT_BRIDGE": "1"]) { $1 }
    }

    /// A session dbus-daemon listening at `root/bus` (eavesdropping allowed, so dbus-monitor sees
    /// everything); `settings` such as a `<servicedir>` go into its configuration.
    static func startBus(root: String, settings: [String] = [], environment: [String: String],
                         until deadline: ContinuousClock.Instant) async throws -> BackgroundProcess {
        let socket = "\(root)/bus"
        try PrivateBusConfig.text(listen: "unix:path=\(socket)", settings: settings)
            .write(toFile: "\(root)/bus.conf", atomically: true, encoding: .utf8)
        let bus = try BackgroundProcess("dbus-daemon", ["--config-file=\(root)/bus.conf", "--nofork", "--nopidfile"],
                                        environment: environment, logPath: "\(root)/bus.log")
        while !FileManager.default.fileExists(atPath: socket) {
            guard bus.isRunning, ContinuousClock.now < deadline else {
                throw TestSupportError.failed("dbus-daemon did not start: \(bus.log())")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return bus
    }

    /// A reparented daemon is never reaped here (PID 1 does not), so a zombie counts as gone.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].hasPrefix(") Z")
    }

    /// For processes that are not our children (daemonized or bus-activated): SIGTERM, wait up to
    /// a second until gone, then SIGKILL.
    static func terminate(_ pid: Int32) {
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            guard isAlive(pid) else { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
    }
}
