import Foundation
import TestSupport
import Testing

/// Issue 7: an idle tesserad must not wake itself up. The one periodic wake-up left is not ours:
/// libdispatch on Linux arms a 1 s repeating "workqueue monitor" timer on its manager thread the
/// first time any dispatch worker thread starts (`_dispatch_workq_init_once`, compiled in, no
/// switch to turn it off), and every Swift-concurrency process starts one. So the bound allows
/// one voluntary context switch per second plus a little slack; any timer, poll or sleep loop of
/// tesserad's own shows up above it.
@Suite(.serialized, .exclusiveSession) struct IdleWakeupTests {
    static let window: Duration = .seconds(3)
    static let libdispatchMonitorPerSecond = 1
    static let slack = 2

    @Test func idleAfterStartAndAfterACompletedLoginDoesNotWakeItself() async throws {
        let world = try await AgentWorld()
        let pid = world.agent.process.pid

        let afterStart = try await Self.wakeUps(of: pid)
        #expect(afterStart <= Self.allowed, "idle tesserad after start: \(afterStart) wake-ups in \(Self.window)")

        try await world.addAccount()
        try await world.login()
        _ = try await world.token()
        let afterLogin = try await Self.wakeUps(of: pid)
        #expect(afterLogin <= Self.allowed, "idle tesserad after a login: \(afterLogin) wake-ups in \(Self.window)")
    }

    static var allowed: Int { Int(window.components.seconds) * libdispatchMonitorPerSecond + slack }

    /// Voluntary context switches of the process's threads during `window`, after a short settle
    /// so the work that just ended (a D-Bus reply, a worker going back to sleep) is not counted.
    /// Threads that exit meanwhile are left out: a dispatch worker retiring wakes once, not
    /// periodically.
    static func wakeUps(of pid: pid_t) async throws -> Int {
        try await Task.sleep(for: .milliseconds(500))
        let before = try switchesPerThread(of: pid)
        try await Task.sleep(for: window)
        let after = try switchesPerThread(of: pid)
        return after.reduce(0) { total, entry in
            total + entry.value - (before[entry.key] ?? 0)
        }
    }

    static func switchesPerThread(of pid: pid_t) throws -> [String: Int] {
        let tasks = "/proc/\(pid)/task"
        var counts: [String: Int] = [:]
        for tid in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let status = try? String(contentsOfFile: "\(tasks)/\(tid)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
                counts[tid] = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))
            }
        }
        #expect(!counts.isEmpty, "no threads readable under \(tasks)")
        return counts
    }
}
