import Foundation
import Synchronization
import TestSupport

/// The built binaries sit next to the test bundle in the scratch directory.
enum Binaries {
    /// Where `tessera` and `tesserad` are: `TESSERA_TEST_BINARIES` when set (so the suite can run
    /// against the static release build: `TESSERA_TEST_BINARIES=$(swift build -c release
    /// --show-bin-path)`), else next to the test binary.
    static var directory: String {
        if let chosen = ProcessInfo.processInfo.environment["TESSERA_TEST_BINARIES"], !chosen.isEmpty {
            return chosen
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var path = (executable as NSString).deletingLastPathComponent
        // swift-testing runs the `.xctest` binary itself; it lives in the bin directory.
        if path.hasSuffix(".xctest") { path = (path as NSString).deletingLastPathComponent }
        return path
    }

    static func path(_ name: String) throws -> String {
        let path = "\(directory)/\(name)"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSupportError.missing("\(path) is not built (swift build --build-tests builds it)")
        }
        return path
    }
}

/// One run of `tessera`.
struct CLIRun: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// A `tesserad` of our own on the session bus, stopped when released.
final class RunningAgent {
    let process: BackgroundProcess

    init(environment: [String: String] = [:]) async throws {
        try Requirement.session()
        let directory = try makeTemporaryDirectory("tesserad")
        process = try BackgroundProcess(try Binaries.path("tesserad"), [], environment: environment,
                                        logPath: "\(directory)/tesserad.log")
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let owner = try await Command.run("gdbus", [
                "call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                "--method", "org.freedesktop.DBus.GetNameOwner", "io.tessera.Agent1"])
            if owner.succeeded { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError.failed("tesserad did not claim io.tessera.Agent1: \(process.log())")
    }

    var log: String { process.log() }

    deinit { process.stop() }
}

enum CLI {
    /// Runs `tessera ARGS` to completion.
    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                    timeout: Duration = .seconds(30)) async throws -> CLIRun {
        let result = try await Command.run(try Binaries.path("tessera"), arguments, stdin: stdin,
                                           environment: environment, timeout: timeout)
        return CLIRun(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }
}

/// `tessera` started in the background with its output collected as it comes (a login waits
/// for an approval the test gives after reading the code).
final class LiveCLI: Sendable {
    let process: Process
    private let output = TextBuffer()
    private let errors = TextBuffer()

    /// `pseudoTerminal`: run under `script(1)`, so stdout is a terminal (the QR code is drawn).
    init(_ arguments: [String], pseudoTerminal: Bool = false) throws {
        let process = Process()
        let tessera = try Binaries.path("tessera")
        if pseudoTerminal {
            process.executableURL = URL(fileURLWithPath: try Requirement.executable("script"))
            let command = ([tessera] + arguments).map { "'\($0)'" }.joined(separator: " ")
            process.arguments = ["-qfec", command, "/dev/null"]
        } else {
            process.executableURL = URL(fileURLWithPath: tessera)
            process.arguments = arguments
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        self.process = process
        let output = self.output, errors = self.errors
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            output.append(data)
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            errors.append(data)
        }
        try process.run()
    }

    var stdout: String { output.text }
    var stderr: String { errors.text }

    /// Waits until stdout matches, returning the first capture group.
    func waitFor(_ pattern: String, timeout: Duration = .seconds(15)) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = stdout
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return String(text[Range(range, in: text)!])
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError.timedOut("tessera output matching \(pattern); got: \(stdout) / \(stderr)")
    }

    func wait(timeout: Duration = .seconds(20)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw TestSupportError.timedOut("tessera did not exit: \(stdout) / \(stderr)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(30)) // let the last output arrive
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// Output collected from a pipe's handler thread while the test reads it.
final class TextBuffer: Sendable {
    private let storage = Mutex("")
    func append(_ data: Data) { storage.withLock { $0 += String(decoding: data, as: UTF8.self) } }
    var text: String { storage.withLock { $0 } }
}
