import Foundation

/// A private session bus of its own, optionally with a gnome-keyring on it, for tests that need a
/// keyring state the shared test session must not get into (locked, or no Secret Service at all).
/// The bus reads only its own service directory, so `org.freedesktop.secrets` cannot be
/// activated from the system's service files. Everything stops when the value is released.
///
/// libsecret caches its connection per process, so code under test reaches this bus from a child
/// process started with `environment`.
public final class KeyringSession {
    public enum Keyring {
        /// No Secret Service on the bus.
        case none
        /// gnome-keyring with its login collection unlocked.
        case unlocked
    }

    public let root: String
    public let busAddress: String
    /// HOME, XDG dirs and DBUS_SESSION_BUS_ADDRESS for processes that should use this session.
    public let environment: [String: String]
    private let bus: BackgroundProcess
    private var keyringPID: Int32?

    /// - Parameter prompter: make gcr's system prompter activatable, so an unlock request shows a
    ///   prompt on `$DISPLAY` that nobody answers (needs an X display, e.g. the session's Xvfb).
    public init(keyring: Keyring, prompter: Bool = false) async throws {
        root = try makeTemporaryDirectory("keyring-session")
        let services = "\(root)/services", home = "\(root)/home", runtime = "\(root)/run"
        for dir in [services, home, runtime] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: runtime)
        if prompter {
            let file = "org.gnome.keyring.SystemPrompter.service"
            try FileManager.default.copyItem(atPath: "/usr/share/dbus-1/services/\(file)", toPath: "\(services)/\(file)")
        }
        let socket = "\(root)/bus"
        let config = PrivateBusConfig.text(listen: "unix:path=\(socket)", settings: ["<servicedir>\(services)</servicedir>"])
        try config.write(toFile: "\(root)/bus.conf", atomically: true, encoding: .utf8)
        busAddress = "unix:path=\(socket)"
        environment = PrivateBusConfig.environment(bus: busAddress, home: home, runtime: runtime)
        // The bus passes its environment to activated services (the prompter needs DISPLAY).
        bus = try BackgroundProcess(
            "dbus-daemon", ["--config-file=\(root)/bus.conf", "--nofork", "--nopidfile"],
            environment: environment, logPath: "\(root)/bus.log")
        let deadline = ContinuousClock.now + .seconds(5)
        while !FileManager.default.fileExists(atPath: socket) {
            guard ContinuousClock.now < deadline, bus.isRunning else {
                throw TestSupportError.failed("dbus-daemon did not start: \(bus.log())")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        if keyring == .unlocked {
            keyringPID = try await Self.startKeyring(environment: environment, logPath: "\(root)/keyring.log")
        }
    }

    /// Starts `gnome-keyring-daemon --unlock --daemonize` and returns the daemon's PID, asked of
    /// the bus (gnome-keyring 42 prints no environment when daemonized). Output goes to a file, not
    /// a pipe: the daemon or a process spawned meanwhile by a parallel test could inherit a pipe's
    /// write end and keep it open.
    static func startKeyring(environment: [String: String], logPath: String) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Requirement.executable("gnome-keyring-daemon"))
        process.arguments = ["--unlock", "--components=secrets", "--daemonize"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let input = Pipe()
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(password.utf8))
        try input.fileHandleForWriting.close()

        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let owner = try await Command.run(
                "gdbus",
                ["call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                 "--method", "org.freedesktop.DBus.GetConnectionUnixProcessID", "org.freedesktop.secrets"],
                environment: environment, timeout: .seconds(5))
            // Answer: "(uint32 1234,)"
            if owner.succeeded, let pid = Int32(owner.stdout.filter(\.isNumber).dropFirst(2)) { return pid }
            guard ContinuousClock.now < deadline else {
                let printed = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw TestSupportError.failed("gnome-keyring-daemon did not claim org.freedesktop.secrets: \(printed)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The login keyring's password (a test value, not a secret).
    public static let password = "keyring-session-password"

    /// Locks the default collection through the Secret Service's own `Lock` method.
    public func lockDefaultCollection() async throws {
        try await Command.check(
            "gdbus",
            ["call", "--session", "--dest", "org.freedesktop.secrets", "--object-path", "/org/freedesktop/secrets",
             "--method", "org.freedesktop.Secret.Service.Lock", "['/org/freedesktop/secrets/aliases/default']"],
            environment: environment, timeout: .seconds(10))
    }

    deinit {
        if let keyringPID {
            kill(keyringPID, SIGTERM)
            // Not our child (it daemonized), so it cannot be waited for; give it a moment.
            for _ in 0..<100 where DesktopParts.isAlive(keyringPID) { usleep(10_000) }
        }
        // dbus-daemon was seen to ignore SIGTERM here; a throw-away bus has nothing to flush.
        bus.stop(signal: SIGKILL)
        try? FileManager.default.removeItem(atPath: root)
    }
}
