import Foundation

/// One finished run of an external program (an independent peer such as gdbus, secret-tool, busctl).
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var succeeded: Bool { status == 0 }
}

/// Runs external programs for tests: argv only (no shell), optional stdin, a hard timeout.
public enum Command {
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], stdin: String? = nil,
        environment: [String: String] = [:], timeout: Duration = .seconds(30)
    ) async throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Requirement.executable(executable))
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()

        // Read both pipes concurrently so a chatty child never blocks on a full pipe. The blocking
        // reads run on threads of their own: on the cooperative pool (2 threads on a 2-core machine)
        // they would starve in-process D-Bus handlers the child is calling.
        async let outData = readToEnd(out.fileHandleForReading)
        async let errData = readToEnd(err.fileHandleForReading)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw TestSupportError.timedOut("\(executable) \(arguments.joined(separator: " "))")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        return CommandResult(
            status: process.terminationStatus,
            stdout: String(decoding: await outData, as: UTF8.self),
            stderr: String(decoding: await errData, as: UTF8.self))
    }

    private static func readToEnd(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: handle.readDataToEndOfFile()) }
        }
    }

    /// Runs and throws unless the program exits 0; returns its stdout.
    @discardableResult
    public static func check(
        _ executable: String, _ arguments: [String], stdin: String? = nil,
        environment: [String: String] = [:], timeout: Duration = .seconds(30)
    ) async throws -> String {
        let result = try await run(executable, arguments, stdin: stdin, environment: environment, timeout: timeout)
        guard result.succeeded else {
            throw TestSupportError.failed(
                "\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }
}

/// A long-running helper process (a bus, a provider, a service) stopped by PID when released.
public final class BackgroundProcess {
    public let pid: Int32
    private let process: Process
    public let logPath: String

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                logPath: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Requirement.executable(executable))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.pid = process.processIdentifier
        self.logPath = logPath
    }

    public var isRunning: Bool { process.isRunning }

    public func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL if it lingers; waits until it is gone.
    public func stop(signal: Int32 = SIGTERM) {
        guard process.isRunning else { return }
        kill(pid, signal)
        let deadline = ContinuousClock.now + .seconds(3)
        while process.isRunning && ContinuousClock.now < deadline { usleep(5_000) }
        if process.isRunning { kill(pid, SIGKILL); process.waitUntilExit() }
    }

    deinit { stop() }
}

/// A fresh directory under the session root (or /tmp), removed by the caller when it wants.
public func makeTemporaryDirectory(_ prefix: String) throws -> String {
    let base = ProcessInfo.processInfo.environment["TESSERA_SESSION_ROOT"] ?? NSTemporaryDirectory()
    let path = "\(base)/\(prefix)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
