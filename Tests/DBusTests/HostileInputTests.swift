import Foundation
import Testing
import TestSupport
@testable import DBus

/// The open descriptors of this process.
func openDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// What a hostile peer can put on the wire, and what must not follow from it.
@Suite(.serialized) struct HostileInputTests {
    /// A Unix fd inside an argument, a variant, a Properties.Set value or a signal is closed, and a
    /// method call carrying one is refused with InvalidArgs before any handler runs.
    @Test func descriptorsCarriedByIncomingMessagesAreClosed() async throws {
        let (service, name) = try await makeService("Descriptors")
        let client = try await Connection.session()
        let received = try await service.signals(matching: MatchRule(interface: testInterfaceName, member: "Changed"))
        let file = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(file >= 0)
        defer { close(file) }
        // Warm both connections up (threads, first allocations) before counting.
        _ = try await client.call(destination: name, path: testPath, interface: testInterfaceName, member: "Echo",
                                  arguments: [.string("warm")])
        let before = openDescriptorCount()
        var refused = 0
        for _ in 0..<50 {
            let attempts: [(MemberName, InterfaceName, [DBusValue])] = [
                ("EchoVariant", testInterfaceName, [.variant(.unixFD(file))]),
                ("Echo", testInterfaceName, [.unixFD(file)]),
                ("Set", .properties, [.string(testInterfaceName.rawValue), .string("Mode"), .variant(.unixFD(file))]),
                ("GetAll", .properties, [.string(testInterfaceName.rawValue), .unixFD(file)]),
            ]
            for (member, interface, arguments) in attempts {
                do {
                    _ = try await client.call(destination: name, path: testPath, interface: interface, member: member,
                                              arguments: arguments)
                    Issue.record("\(interface).\(member) with a descriptor was answered")
                } catch {
                    #expect(error.isRemote(.invalidArgs), "\(member): \(error)")
                    #expect(error.description.contains("file descriptor"), "\(member): \(error)")
                    refused += 1
                }
            }
            try await client.emit(path: testPath, interface: testInterfaceName, member: "Changed",
                                  arguments: [.unixFD(file)], destination: service.uniqueName)
        }
        try await client.emit(path: testPath, interface: testInterfaceName, member: "Changed",
                              arguments: [.string("last")], destination: service.uniqueName)
        // Signals arrive in order: the first one through must be the plain one sent last.
        let first = await received.first { _ in true }
        #expect(first?.arguments == [.string("last")])
        let after = openDescriptorCount()
        #expect(refused == 200)
        // Each leak would be one descriptor per message (250 here); a few allow for runtime threads.
        #expect(after - before < 5, "open descriptors went from \(before) to \(after)")
        // The service still works and its property was not touched.
        #expect(try await client.call(destination: name, path: testPath, interface: .properties, member: "Get",
                                      arguments: [.string(testInterfaceName.rawValue), .string("Mode")])
                == [.variant(.string("normal"))])
        await client.close()
        await service.close()
    }
}
