import DBus
import Foundation
import TesseraAPI
import TestSupport
import Testing

/// tesserad against hostile peers on its bus: descriptors it never asked for, callers of another
/// user, forged signals, a second claimant of its name.
@Suite(.serialized) struct HostileBusTests {
    static func openDescriptors(of pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// 200 fd-carrying calls (argument, variant, Properties.Set, a signal sent to it): every call is
    /// refused with InvalidArgs, tesserad's descriptor count does not grow, and with its limit
    /// lowered to 64 it goes on serving.
    @Test func descriptorsSentToTheServiceAreClosed() async throws {
        let world = try await AgentWorld()
        let pid = world.agent.process.pid
        let client = try await Connection.session()
        let file = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(file >= 0)
        defer { close(file) }
        _ = try await world.check("ListAccounts")
        let before = Self.openDescriptors(of: pid)
        func attempts() -> [(ObjectPath, InterfaceName, MemberName, [DBusValue])] {
            [
                (AgentContract.objectPath, AgentContract.interfaceName, AgentContract.member(.getToken),
                 [.string(world.account), .dictionary(["scopes": .unixFD(file)])]),
                (AgentContract.objectPath, AgentContract.interfaceName, AgentContract.member(.listAccounts), [.unixFD(file)]),
                (AgentContract.objectPath, .properties, "Set",
                 [.string(AgentContract.interfaceName.rawValue), .string("Version"), .variant(.unixFD(file))]),
                (AgentContract.objectPath, .properties, "Get", [.string(AgentContract.interfaceName.rawValue), .unixFD(file)]),
            ]
        }
        var refused = 0
        for round in 0..<50 {
            for (path, interface, member, arguments) in attempts() {
                do {
                    _ = try await client.call(destination: AgentContract.busName, path: path, interface: interface,
                                              member: member, arguments: arguments, timeout: .seconds(10))
                    Issue.record("\(interface).\(member) with a descriptor was answered")
                } catch {
                    #expect(error.isRemote(.invalidArgs), "\(member): \(error)")
                    refused += 1
                }
            }
            let owner = try #require(try await client.nameOwner(of: AgentContract.busName))
            try await client.emit(path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications",
                                  member: "ActionInvoked", arguments: [.uint32(UInt32(round)), .unixFD(file)],
                                  destination: owner)
        }
        _ = try await world.check("ListAccounts")  // every signal before it has been read
        let after = Self.openDescriptors(of: pid)
        print("tesserad open descriptors: \(before) before, \(after) after 200 fd-carrying calls and 50 signals")
        #expect(refused == 200)
        #expect(after - before < 3, "tesserad's open descriptors went from \(before) to \(after)")

        // With 64 descriptors at most, 200 more such calls (the old leak's 200 descriptors) are
        // refused and tesserad keeps serving.
        let limit = try await Command.run("prlimit", ["--pid", "\(pid)", "--nofile=64:64"])
        try #require(limit.succeeded, "\(limit.stderr)")
        for _ in 0..<50 {
            for (path, interface, member, arguments) in attempts() {
                _ = try? await client.call(destination: AgentContract.busName, path: path, interface: interface,
                                           member: member, arguments: arguments, timeout: .seconds(10))
            }
        }
        #expect(world.agent.process.isRunning)
        #expect(try await world.call("ListAccounts").succeeded, "\(world.agent.log().suffix(2000))")
        #expect(Self.openDescriptors(of: pid) - before < 3)
        await client.close()
    }
}
