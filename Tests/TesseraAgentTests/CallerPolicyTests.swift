import DBus
import Foundation
import Logging
import Testing
import TestSupport
import TesseraCore
@testable import TesseraAgent

/// CallerPolicy on a private bus of its own: what the bus vouches for, the cache's life.
@Suite struct CallerPolicyTests {
    @Test func cachesPerConnectionForgetsDepartedOnesAndRefusesOtherUsers() async throws {
        let bus = try PrivateBus()
        let service = try await Connection(address: bus.address)
        let policy = CallerPolicy(connection: service, logger: Logger(label: "test"))
        try await policy.watchDepartures()

        let client = try await Connection(address: bus.address)
        let caller = try await policy.verify(client.uniqueName)
        #expect(caller.userID == getuid())
        #expect(caller.processID == UInt32(getpid()))
        // This test process is the caller: /proc/self/exe names it.
        #expect(caller.executable == (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")))
        #expect(policy.cachedCount == 1)
        _ = try await policy.verify(client.uniqueName)
        #expect(policy.cachedCount == 1)

        await client.close()
        try await eventually("the departed connection is forgotten") { policy.cachedCount == 0 }

        // A name that is already gone: the bus cannot vouch for it.
        await #expect(throws: AgentError.self) { try await policy.verify(client.uniqueName) }

        let strict = CallerPolicy(connection: service, logger: Logger(label: "test"), ownUserID: getuid() &+ 1)
        let other = try await Connection(address: bus.address)
        do {
            _ = try await strict.verify(other.uniqueName)
            Issue.record("a caller of another uid was admitted")
        } catch {
            #expect(error.name == .notPermitted && error.message.contains("uid \(getuid())"))
        }
        await other.close()
        await service.close()
    }
}
