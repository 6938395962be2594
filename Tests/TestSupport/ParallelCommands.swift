import Foundation

/// Many programs started at once by one shell, for load tests. Spawning them from many tasks
/// through Foundation's `Process` crashes the test process now and then (a race inside
/// `Process.run()` on Linux: SIGSEGV in memcpy with concurrent spawns), so one `sh` forks them all.
/// The shell is a `BackgroundProcess`: started through `Process` it would inherit the test
/// runner's blocked signals, and its `wait` would never see SIGCHLD.
public enum ParallelCommands {
    /// Runs every command line at the same time; returns their results in order.
    public static func run(_ commands: [[String]], environment: [String: String] = [:],
                           timeout: Duration = .seconds(120)) async throws -> [CommandResult] {
        let directory = try makeTemporaryDirectory("parallel")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var script = ""
        for (index, command) in commands.enumerated() {
            let words = command.map(quote).joined(separator: " ")
            script += "( \(words) >'\(directory)/\(index).out' 2>'\(directory)/\(index).err'; echo $? >'\(directory)/\(index).rc' ) &\n"
        }
        script += "wait\n"
        let shell = try BackgroundProcess("/bin/sh", ["-c", script], environment: environment,
                                          logPath: "\(directory)/shell.log")
        let deadline = ContinuousClock.now + timeout
        while shell.isRunning {
            guard ContinuousClock.now < deadline else {
                shell.stop(signal: SIGKILL)
                throw TestSupportError.timedOut("\(commands.count) parallel commands")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return commands.indices.map { index in
            func read(_ suffix: String) -> String {
                (try? String(contentsOfFile: "\(directory)/\(index).\(suffix)", encoding: .utf8)) ?? ""
            }
            return CommandResult(status: Int32(read("rc").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
                                 stdout: read("out"), stderr: read("err"))
        }
    }

    /// One shell script in a `BackgroundProcess` (default signal handling, e.g. for scripts that
    /// start and kill daemons); stdout and stderr together in `stdout`.
    public static func shell(_ script: String, environment: [String: String] = [:],
                             timeout: Duration = .seconds(60)) async throws -> CommandResult {
        let directory = try makeTemporaryDirectory("shell")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shell = try BackgroundProcess("/bin/sh", ["-c", script + "\necho $? > '\(directory)/rc'"],
                                          environment: environment, logPath: "\(directory)/output")
        let deadline = ContinuousClock.now + timeout
        while shell.isRunning {
            guard ContinuousClock.now < deadline else {
                shell.stop(signal: SIGKILL)
                throw TestSupportError.timedOut("shell script: \(shell.log())")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let rc = (try? String(contentsOfFile: "\(directory)/rc", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return CommandResult(status: rc.flatMap { Int32($0) } ?? -1, stdout: shell.log(), stderr: "")
    }

    static func quote(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
