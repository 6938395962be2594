import Foundation
import Testing
import TestSupport
@testable import DBus

/// The caller check (`admitCallers`) asks the bus daemon once per new caller, with
/// `GetConnectionCredentials`, and the service's own lookup of that caller reuses the answer. A
/// one-shot client such as `tessera token` is a new caller every time: each extra trip through the
/// bus daemon is added to its whole run.
@Suite struct CallerCredentialsTests {
    @Test func aNewCallerCostsOneQuestionToTheBus() async throws {
        _ = try Requirement.executable("dbus-monitor")
        let bus = try PrivateBus()
        let service = try await Connection(address: bus.address)
        try await service.admitCallers(ofUserID: getuid())
        var interface = ExportedInterface(testInterfaceName)
        interface.method("Who", outputs: [Argument("pid", "u")]) { [service] call in
            let (credentials, _) = try await service.credentialsAndProcess(of: call.sender)
            return [.uint32(try credentials["ProcessID"]?.get(UInt32.self) ?? 0)]
        }
        try await service.export(interface, at: testPath)

        // Everything the service asks the bus daemon.
        let log = "\(bus.directory)/monitor.log"
        let monitor = try BackgroundProcess(
            "dbus-monitor", ["--address", bus.address,
                             "type='method_call',destination='org.freedesktop.DBus',sender='\(service.uniqueName.rawValue)'"],
            logPath: log)
        defer { monitor.stop() }
        try await Self.waitFor("dbus-monitor to see the service's bus calls") {
            _ = try? await service.listNames()
            return monitor.log().contains("member=ListNames")
        }

        // Three new callers, one call each (as three runs of `tessera token` would be).
        var clients: [Connection] = []
        for _ in 0..<3 {
            let client = try await Connection(address: bus.address)
            clients.append(client)
            #expect(try await client.call(destination: service.uniqueName, path: testPath, interface: testInterfaceName,
                                          member: "Who") == [.uint32(UInt32(getpid()))])
        }
        // A marker after the calls, so the log is complete up to it.
        _ = try await service.nameOwner(of: .bus)
        try await Self.waitFor("the marker to be logged") { monitor.log().contains("member=GetNameOwner") }
        let asked = monitor.log()
        #expect(asked.components(separatedBy: "member=GetConnectionCredentials").count - 1 == 3, "\(asked)")
        #expect(!asked.contains("member=GetConnectionUnixUser"), "\(asked)")
        for client in clients { await client.close() }
        await service.close()
    }

    static func waitFor(_ what: String, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while await !condition() {
            guard ContinuousClock.now < deadline else { throw TestSupportError.timedOut("waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
