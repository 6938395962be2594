import Foundation

/// The package's built executables (`tesserad`, `tessera`): next to the test bundle in the build
/// directory, or in `TESSERA_TEST_BINARIES` when set (so the suite can run against the static
/// release build: `TESSERA_TEST_BINARIES=$(swift build -c release --show-bin-path)`). `TESSERAD`
/// overrides where `tesserad` alone is taken from.
public enum Binaries {
    public static var directory: String {
        if let chosen = ProcessInfo.processInfo.environment["TESSERA_TEST_BINARIES"], !chosen.isEmpty {
            return chosen
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var path = (executable as NSString).deletingLastPathComponent
        // swift-testing runs the `.xctest` binary itself; it lives in the bin directory.
        if path.hasSuffix(".xctest") { path = (path as NSString).deletingLastPathComponent }
        return path
    }

    public static func path(_ name: String) throws -> String {
        if name == "tesserad", let path = ProcessInfo.processInfo.environment["TESSERAD"], !path.isEmpty { return path }
        let path = "\(directory)/\(name)"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSupportError.missing("\(path) is not built (swift build --build-tests builds it)")
        }
        return path
    }
}

/// The one way tests start the real `tesserad`: with the test's environment (its own config
/// directory, PATH, bus), its log in a file, and returning once it owns `io.tessera.Agent1` on
/// that bus. Stopped by PID (`stop`), never by name.
public final class Tesserad {
    public let process: BackgroundProcess
    public let environment: [String: String]

    public init(environment: [String: String] = [:], logPath: String, arguments: [String] = []) async throws {
        try Requirement.session()
        self.environment = environment
        process = try BackgroundProcess(try Binaries.path("tesserad"), arguments, environment: environment, logPath: logPath)
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let owner = try await Command.run(
                "gdbus", ["call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                          "--method", "org.freedesktop.DBus.NameHasOwner", "io.tessera.Agent1"],
                environment: environment)
            if owner.stdout.contains("true") { return }
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw TestSupportError.failed("tesserad did not claim io.tessera.Agent1: \(process.log())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    public func log() -> String { process.log() }

    public func stop(signal: Int32 = SIGTERM) { process.stop(signal: signal) }
}
