import Foundation

/// A dbus-daemon whose policy admits every Unix user, on an abstract socket (no file permissions
/// in the way), for tests of how a service treats callers of another user. A stock session bus
/// admits only its owner, so there such a caller is refused by the bus before the service sees it.
/// Stopped when released.
public final class MultiUserBus {
    public let address: String
    public let root: String
    /// HOME, XDG dirs and DBUS_SESSION_BUS_ADDRESS for processes that should use this bus.
    public let environment: [String: String]
    private let process: BackgroundProcess
    private var keyringPID: Int32?

    public init() throws {
        root = try makeTemporaryDirectory("multi-user-bus")
        let home = "\(root)/home", runtime = "\(root)/run"
        for dir in [home, runtime] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: runtime)
        let listen = "unix:abstract=tessera-test-\(UUID().uuidString)"
        let config = PrivateBusConfig.text(listen: listen, settings: ["<auth>EXTERNAL</auth>"],
                                           policy: [#"<allow user="*"/>"#])
        try config.write(toFile: "\(root)/bus.conf", atomically: true, encoding: .utf8)
        process = try BackgroundProcess(
            "dbus-daemon", ["--config-file=\(root)/bus.conf", "--nofork", "--nopidfile", "--print-address=1"],
            logPath: "\(root)/bus.log")
        let deadline = ContinuousClock.now + .seconds(5)
        var printed = ""
        while true {
            printed = process.log()
            if let line = printed.split(separator: "\n").first(where: { $0.hasPrefix(listen) }) {
                address = String(line)
                break
            }
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw TestSupportError.failed("dbus-daemon did not start: \(printed)")
            }
            usleep(2_000)
        }
        environment = PrivateBusConfig.environment(bus: address, home: home, runtime: runtime)
    }

    /// The bus with an unlocked gnome-keyring on it (for services that need one to start a login).
    public convenience init(keyring: Bool) async throws {
        try self.init()
        if keyring {
            keyringPID = try await KeyringSession.startKeyring(environment: environment, logPath: "\(root)/keyring.log")
        }
    }

    deinit {
        if let keyringPID { kill(keyringPID, SIGTERM) }
        process.stop()
    }
}
