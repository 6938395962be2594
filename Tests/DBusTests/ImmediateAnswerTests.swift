import Synchronization
import Testing
import TestSupport
@testable import DBus

/// `ImmediateMethodHandler`: a synchronous first try on the connection's thread (tesserad's cached
/// GetToken); when it has no answer, the method's async handler runs as before.
@Suite struct ImmediateAnswerTests {
    @Test func answersAtOnceOrLeavesTheCallToTheHandler() async throws {
        try Requirement.session()
        let handlerRuns = Mutex(0)
        var built = ExportedInterface(testInterfaceName)
        built.method("Double", inputs: [Argument("n", "i")], outputs: [Argument("twice", "i")]) { call in
            handlerRuns.withLock { $0 += 1 }
            return [.int32(try call.arguments.decode(Int32.self) &* 2)]
        }
        built.method("Lie", outputs: [Argument("number", "i")]) { _ in [.int32(7)] }
        let interface = try ExportedInterface(built.declaration, methods: built.methods, immediate: [
            // Only non-negative numbers are "cached"; the rest goes to the handler.
            "Double": { call in
                guard let n = try? call.arguments.decode(Int32.self), n >= 0 else { return nil }
                return [.int32(n &* 2)]
            },
            // An immediate answer of the wrong type is not sent: the handler answers instead.
            "Lie": { _ in [.string("not a number")] },
        ])
        let service = try await Connection.session()
        try await service.export(interface, at: testPath)
        let name = uniqueBusName("Immediate")
        try await service.requestName(name)
        let client = try await Connection.session()
        func call(_ member: MemberName, _ arguments: [DBusValue] = []) async throws -> [DBusValue] {
            try await client.call(destination: name, path: testPath, interface: testInterfaceName, member: member,
                                  arguments: arguments)
        }

        #expect(try await call("Double", [.int32(21)]) == [.int32(42)])
        #expect(handlerRuns.withLock { $0 } == 0)
        #expect(try await call("Double", [.int32(-4)]) == [.int32(-8)])
        #expect(handlerRuns.withLock { $0 } == 1)
        #expect(try await call("Lie") == [.int32(7)])
        await client.close()
        await service.close()
    }

    @Test func anImmediateAnswerNeedsAMethodHandler() throws {
        let built = ExportedInterface(testInterfaceName)
        #expect(throws: DBusError.self) {
            try ExportedInterface(built.declaration, methods: [:], immediate: ["Orphan": { _ in [] }])
        }
    }
}
