import Testing
import TestSupport

/// Exit 4 when nothing answers for io.tessera.Agent1: no service and no activation file, or no bus.
@Suite(.serialized, .exclusiveSession) struct ServiceUnreachableTests {
    /// No tesserad and no activation file: exit 4 and a hint that says how to start it.
    @Test func serviceNotRunningExitsFourWithAStartHint() async throws {
        try Requirement.session()
        let run = try await CLI.run(["token", "anything"])
        #expect(run.status == 4, "\(run)")
        #expect(run.stderr.contains("systemctl --user start tesserad"), "\(run)")
        #expect(run.stderr.split(separator: "\n").count == 1, "one line: \(run)")
        #expect(run.stdout.isEmpty)

        let noBus = try await CLI.run(["status"], environment: ["DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"])
        #expect(noBus.status == 4, "\(noBus)")
    }
}
