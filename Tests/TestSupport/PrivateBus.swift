import Foundation

/// A dbus-daemon of our own (session configuration, Unix socket in a temporary directory), for tests
/// that must not disturb the shared session bus — e.g. killing the daemon under a live connection.
/// Stopped on `stop()` or deinit.
public final class PrivateBus {
    public let address: String
    public let directory: String
    private let process: BackgroundProcess

    public init() throws {
        directory = try makeTemporaryDirectory("private-bus")
        let socket = "\(directory)/bus"
        address = "unix:path=\(socket)"
        let log = "\(directory)/dbus-daemon.log"
        // The daemon prints its address once it listens; the socket file alone appears before that.
        process = try BackgroundProcess(
            "dbus-daemon", ["--session", "--nofork", "--nopidfile", "--print-address=1", "--address=\(address)"],
            logPath: log)
        let deadline = ContinuousClock.now + .seconds(5)
        while !process.log().contains("unix:path=\(socket)") {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw TestSupportError.failed("dbus-daemon did not start: \(process.log())")
            }
            usleep(2_000)
        }
    }

    public var pid: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }

    /// Stops the daemon (SIGTERM by default; SIGKILL simulates a crash).
    public func stop(signal: Int32 = SIGTERM) { process.stop(signal: signal) }

    deinit {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
