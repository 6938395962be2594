import Foundation
import TestSupport
import Testing

/// Issues 7 and 15: an idle tesserad does not wake up at all. Every thread sleeps without a
/// timeout: the event loop (main thread) in poll, the keyring workers and their deadline thread on
/// semaphores, the HTTP and signal threads in their own waits. libdispatch's worker pool, whose 1 Hz
/// work-queue monitor used to wake the service 60 times a minute, must never start: Swift
/// concurrency runs on the event loop (EventLoopExecutors).
@Suite(.serialized, .exclusiveSession) struct IdleWakeupTests {
    static let window: Duration = .seconds(3)

    @Test func idleAfterStartAndAfterACompletedLoginDoesNotWakeAtAll() async throws {
        let world = try await AgentWorld()
        let pid = world.agent.process.pid

        let afterStart = try await Self.wakeUps(of: pid)
        #expect(afterStart.isEmpty, "idle tesserad after start woke up (thread: count): \(afterStart) in \(Self.window)")
        #expect(try Self.dispatchThreads(of: pid).isEmpty, "libdispatch threads after start")

        try await world.addAccount()
        try await world.login()
        _ = try await world.token()
        let afterLogin = try await Self.wakeUps(of: pid)
        #expect(afterLogin.isEmpty, "idle tesserad after a login woke up (thread: count): \(afterLogin) in \(Self.window)")
        #expect(try Self.dispatchThreads(of: pid).isEmpty, "libdispatch threads after a login")
    }

    /// How long the work that just ended may take to wind down before idle begins: a D-Bus reply,
    /// a worker going back to sleep, and GLib's pool worker (libsecret's GTasks), which waits half
    /// a second for another task of its pool before parking in the shared pool.
    static let settle: Duration = .milliseconds(1500)

    /// Voluntary context switches per thread (name and id) during `window`, after `settle`;
    /// threads that did not switch are left out.
    static func wakeUps(of pid: pid_t) async throws -> [String: Int] {
        try await Task.sleep(for: settle)
        let before = try switchesPerThread(of: pid)
        try await Task.sleep(for: window)
        let after = try switchesPerThread(of: pid)
        return after.reduce(into: [:]) { woken, entry in
            let count = entry.value - (before[entry.key] ?? 0)
            if count > 0 { woken[entry.key] = count }
        }
    }

    static func switchesPerThread(of pid: pid_t) throws -> [String: Int] {
        let tasks = "/proc/\(pid)/task"
        var counts: [String: Int] = [:]
        for tid in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let status = try? String(contentsOfFile: "\(tasks)/\(tid)/status", encoding: .utf8) else { continue }
            let name = status.split(separator: "\n").first { $0.hasPrefix("Name:") }
                .map { $0.dropFirst(5).trimmingCharacters(in: .whitespaces) } ?? "?"
            for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
                counts["\(name) \(tid)"] = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))
            }
        }
        #expect(!counts.isEmpty, "no threads readable under \(tasks)")
        return counts
    }

    /// Threads libdispatch started: its root-queue workers and manager are named after the
    /// `com.apple.root.*-qos*` queues (the kernel keeps the last 15 bytes).
    static func dispatchThreads(of pid: pid_t) throws -> [String] {
        let tasks = "/proc/\(pid)/task"
        return try FileManager.default.contentsOfDirectory(atPath: tasks).compactMap { tid in
            let name = (try? String(contentsOfFile: "\(tasks)/\(tid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return name.contains("qos") || name.contains("dispatch") ? name : nil
        }
    }
}
