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

    /// Reads to end of file and closes the handle at once: a detached `Thread` keeps its closure
    /// (and so the handle) alive, so leaving the close to `deinit` leaked two pipe descriptors per
    /// run; past 1 024 open descriptors Foundation's `Process.run` crashed the whole test process.
    private static func readToEnd(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let data = handle.readDataToEndOfFile()
                try? handle.close()
                continuation.resume(returning: data)
            }
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
///
/// Spawned with posix_spawn rather than Foundation's `Process` on purpose: the Swift test runner
/// blocks SIGTERM in its threads and `Process` passes that mask on, so children (dbus-daemon,
/// python servers, tesserad) ignored SIGTERM and every stop waited for its SIGKILL fallback.
/// Here the child starts with an empty signal mask, default dispositions, and its own process
/// group, so `stop()` also reaches anything it started itself.
public final class BackgroundProcess {
    public let pid: pid_t
    public let logPath: String
    private var exited = false

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                logPath: String) throws {
        let path = try Requirement.executable(executable)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else is inherited: a long-lived child holding another test's pipe end would keep
        // that test's read from ever seeing EOF.
        // (glibc ≥ 2.34 has it; Swift's Glibc module does not import it, so it is looked up.)
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, path, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw TestSupportError.failed("could not start \(path): \(String(cString: strerror(status)))")
        }
        self.pid = child
        self.logPath = logPath
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0),
                                                           "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    /// Reaps the child when it has exited, so a stopped process never lingers as a zombie.
    public var isRunning: Bool {
        guard !exited else { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return true }
        exited = true  // reaped now, or already reaped elsewhere (ECHILD)
        return false
    }

    public func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` to the process group, then SIGKILL if it lingers past 3 s; waits until gone.
    public func stop(signal: Int32 = SIGTERM) {
        guard isRunning else { return }
        kill(-pid, signal)
        let deadline = ContinuousClock.now + .seconds(3)
        while isRunning && ContinuousClock.now < deadline { usleep(2_000) }
        if isRunning {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            exited = true
        }
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
