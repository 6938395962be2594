import Foundation

/// A desktop with a real StatusNotifierItem host: Xvfb, a private session bus (started with
/// DISPLAY and fresh XDG dirs already set, because bus-activated xfconfd inherits the bus's
/// environment), an unlocked gnome-keyring and xfce4-panel holding only a systray plugin.
/// Every process it started is stopped by PID when the value is released.
public final class TrayDesktop {
    public let root: String
    /// DISPLAY, DBUS_SESSION_BUS_ADDRESS, HOME and XDG dirs for processes on this desktop.
    public let environment: [String: String]
    public let width = 1024, height = 768
    private let xvfb: BackgroundProcess
    private let bus: BackgroundProcess
    private var panel: BackgroundProcess?
    private var keyringPID: Int32?
    private var panelRuns = 0

    public init() async throws {
        for tool in ["Xvfb", "xfce4-panel", "xdotool", "import", "dbus-daemon", "gnome-keyring-daemon"] {
            _ = try Requirement.executable(tool)
        }
        guard FileManager.default.fileExists(atPath: Self.xfconfService) else {
            throw TestSupportError.missing("\(Self.xfconfService) (xfconf, installed with xfce4-panel by scripts/deps.sh)")
        }
        root = try makeTemporaryDirectory("tray-desktop")
        let home = "\(root)/home", runtime = "\(root)/run", services = "\(root)/services"
        let config = "\(home)/.config"
        for dir in [home, runtime, services, config, "\(home)/.cache", "\(home)/.local/share",
                    "\(config)/xfce4/xfconf/xfce-perchannel-xml"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: runtime)
        try FileManager.default.copyItem(atPath: Self.xfconfService, toPath: "\(services)/org.xfce.Xfconf.service")
        try Self.panelConfig.write(toFile: "\(config)/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml",
                                   atomically: true, encoding: .utf8)

        let deadline = ContinuousClock.now + .seconds(10)
        let display: String
        (xvfb, display) = try await DesktopParts.startXvfb(root: root, until: deadline)  // 1024×768: `width`, `height`
        environment = DesktopParts.environment(root: root, display: display)
        bus = try await DesktopParts.startBus(root: root, settings: ["<servicedir>\(services)</servicedir>"],
                                              environment: environment, until: deadline)
        keyringPID = try await KeyringSession.startKeyring(environment: environment, logPath: "\(root)/keyring.log")
        try await startPanel()
    }

    static let xfconfService = "/usr/share/dbus-1/services/org.xfce.Xfconf.service"

    /// One top panel, 32 px high, holding only the system tray; without a config of its own the
    /// panel loads its large default layout.
    static let panelConfig = """
        <?xml version="1.0" encoding="UTF-8"?>
        <channel name="xfce4-panel" version="1.0">
          <property name="configver" type="int" value="2"/>
          <property name="panels" type="array">
            <value type="int" value="1"/>
            <property name="panel-1" type="empty">
              <property name="position" type="string" value="p=6;x=0;y=0"/>
              <property name="length" type="uint" value="100"/>
              <property name="position-locked" type="bool" value="true"/>
              <property name="size" type="uint" value="32"/>
              <property name="plugin-ids" type="array">
                <value type="int" value="1"/>
              </property>
            </property>
          </property>
          <property name="plugins" type="empty">
            <property name="plugin-1" type="string" value="systray"/>
          </property>
        </channel>
        """

    /// Starts xfce4-panel and returns once its tray host is registered with the watcher.
    public func startPanel() async throws {
        panelRuns += 1
        let panel = try BackgroundProcess("xfce4-panel", ["--disable-wm-check", "--sm-client-disable"],
                                          environment: environment, logPath: "\(root)/panel-\(panelRuns).log")
        self.panel = panel
        let deadline = ContinuousClock.now + .seconds(10)
        while try await watcherProperty("IsStatusNotifierHostRegistered") != "(<true>,)" {
            guard panel.isRunning, ContinuousClock.now < deadline else {
                throw TestSupportError.failed("xfce4-panel registered no tray host: \(panel.log())")
            }
            try await Task.sleep(for: .milliseconds(30))
        }
    }

    /// Stops the panel and its plugin wrapper (same process group); the watcher name goes with them.
    public func stopPanel() async throws {
        panel?.stop()
        panel = nil
        let deadline = ContinuousClock.now + .seconds(5)
        while try await nameHasOwner("org.kde.StatusNotifierWatcher") {
            guard ContinuousClock.now < deadline else { throw TestSupportError.timedOut("the watcher outlived the panel") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A property of `org.kde.StatusNotifierWatcher` in gdbus's text form, nil when it cannot be read.
    public func watcherProperty(_ name: String) async throws -> String? {
        let result = try await Command.run(
            "gdbus", ["call", "--session", "--dest", "org.kde.StatusNotifierWatcher", "--object-path", "/StatusNotifierWatcher",
                      "--method", "org.freedesktop.DBus.Properties.Get", "org.kde.StatusNotifierWatcher", name],
            environment: environment, timeout: .seconds(5))
        return result.succeeded ? result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    public func nameHasOwner(_ name: String) async throws -> Bool {
        try await Command.check(
            "gdbus", ["call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                      "--method", "org.freedesktop.DBus.NameHasOwner", name],
            environment: environment, timeout: .seconds(5)).contains("true")
    }

    /// `xdotool` with this desktop's DISPLAY (e.g. `["mousemove", "10", "15", "click", "3"]`).
    public func xdotool(_ arguments: [String]) async throws {
        try await Command.check("xdotool", arguments, environment: environment, timeout: .seconds(5))
    }

    /// The whole screen, as `import -window root` sees it.
    public func screenshot() async throws -> Screenshot {
        let path = "\(root)/shot.ppm"
        try await Command.check("import", ["-window", "root", "-depth", "8", "ppm:\(path)"],
                                environment: environment, timeout: .seconds(10))
        return try Screenshot(ppm: try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// The process owning `name` on this bus (to stop bus-activated helpers by PID).
    private func owner(of name: String) async -> Int32? {
        guard let result = try? await Command.run(
            "gdbus", ["call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                      "--method", "org.freedesktop.DBus.GetConnectionUnixProcessID", name],
            environment: environment, timeout: .seconds(5)), result.succeeded else { return nil }
        return Int32(result.stdout.filter(\.isNumber).dropFirst(2))  // "(uint32 1234,)"
    }

    /// Stops what runs on the desktop, in reverse order of starting.
    public func shutDown() async {
        panel?.stop()
        panel = nil
        if let xfconfd = await owner(of: "org.xfce.Xfconf") { DesktopParts.terminate(xfconfd) }
        if let keyringPID { DesktopParts.terminate(keyringPID) }
        keyringPID = nil
        bus.stop(signal: SIGKILL)
        xvfb.stop()
    }

    deinit {
        panel?.stop()
        if let keyringPID { DesktopParts.terminate(keyringPID) }
        bus.stop(signal: SIGKILL)
        xvfb.stop()
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// An RGB screenshot, read from a binary PPM (P6, maxval 255).
public struct Screenshot: Sendable {
    public let width: Int
    public let height: Int
    public let rgb: [UInt8]

    public init(ppm data: Data) throws {
        let bytes = [UInt8](data)
        // Header: "P6", width, height, maxval, each after whitespace; then one whitespace byte.
        var fields: [Int] = [], index = 2
        while fields.count < 3 {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
            var value = 0, digits = 0
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                value = value * 10 + Int(bytes[index] - 0x30); index += 1; digits += 1
            }
            guard digits > 0 else { throw TestSupportError.failed("not a binary PPM screenshot") }
            fields.append(value)
        }
        guard bytes.starts(with: Array("P6".utf8)), fields[2] == 255 else { throw TestSupportError.failed("not an 8-bit P6 PPM") }
        (width, height) = (fields[0], fields[1])
        rgb = Array(bytes[(index + 1)...])
        guard rgb.count >= width * height * 3 else { throw TestSupportError.failed("truncated PPM screenshot") }
    }

    /// Every pixel of exactly this colour.
    public func pixels(red: UInt8, green: UInt8, blue: UInt8) -> [(x: Int, y: Int)] {
        var found: [(x: Int, y: Int)] = []
        for y in 0..<height {
            for x in 0..<width {
                let offset = (y * width + x) * 3
                if rgb[offset] == red && rgb[offset + 1] == green && rgb[offset + 2] == blue { found.append((x, y)) }
            }
        }
        return found
    }
}
