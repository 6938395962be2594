import Synchronization
import Testing
import TestSupport
@testable import DBus

/// `ExportedInterface.answerImmediately`: a synchronous answer tried on the connection's thread
/// before a method's handler, replying from a `PreparedReply` (marshalled once).
@Suite struct ImmediateAnswerTests {
    static let interfaceName: InterfaceName = "io.tessera.Test.Immediate1"

    /// What the service saw: handler runs, and whether each immediate answer ran inside a task.
    final class Record: Sendable {
        let handlerRuns = Mutex(0)
        let answersInTask = Mutex<[Bool]>([])
    }

    /// `Lookup(s key) → (s value, x number)`: the handler answers "slow:KEY"; the immediate answer
    /// answers keys it holds in `held`, with `wrong` a reply of another signature.
    static func service(held: [String: PreparedReply], record: Record) async throws -> (Connection, BusName) {
        try Requirement.session()
        var interface = ExportedInterface(interfaceName)
        interface.method("Lookup", inputs: [Argument("key", "s")], outputs: [Argument("value", "s"), Argument("number", "x")]) { call in
            record.handlerRuns.withLock { $0 += 1 }
            return [.string("slow:" + (try call.arguments.decode(String.self))), .int64(-1)]
        }
        try interface.answerImmediately("Lookup") { call in
            record.answersInTask.withLock { $0.append(withUnsafeCurrentTask { $0 != nil }) }
            guard case .string(let key)? = call.arguments.first else { return nil }
            return held[key]
        }
        let connection = try await Connection.session()
        try await connection.export(interface, at: testPath)
        let name = uniqueBusName("Immediate")
        try await connection.requestName(name)
        return (connection, name)
    }

    static func lookup(_ client: Connection, _ name: BusName, _ key: String) async throws -> [DBusValue] {
        try await client.call(destination: name, path: testPath, interface: interfaceName, member: "Lookup",
                              arguments: [.string(key)])
    }

    @Test func aHeldAnswerRepliesWithoutTheHandlerOrATask() async throws {
        let record = Record()
        let prepared = try PreparedReply([.string("fast"), .int64(42)])
        let (service, name) = try await Self.service(held: ["k": prepared], record: record)
        let client = try await Connection.session()
        for _ in 0..<3 { #expect(try await Self.lookup(client, name, "k") == [.string("fast"), .int64(42)]) }
        #expect(record.handlerRuns.withLock { $0 } == 0)
        #expect(record.answersInTask.withLock { $0 } == [false, false, false], "the answer ran inside a task")
        await client.close()
        await service.close()
    }

    @Test func aDeclinedCallGoesToTheHandler() async throws {
        let record = Record()
        let (service, name) = try await Self.service(held: [:], record: record)
        let client = try await Connection.session()
        #expect(try await Self.lookup(client, name, "missing") == [.string("slow:missing"), .int64(-1)])
        #expect(record.handlerRuns.withLock { $0 } == 1)
        #expect(record.answersInTask.withLock { $0.count } == 1)
        await client.close()
        await service.close()
    }

    @Test func aReplyOfTheWrongSignatureCountsAsDeclined() async throws {
        let record = Record()
        let wrong = try PreparedReply([.string("only one value")])
        let (service, name) = try await Self.service(held: ["k": wrong], record: record)
        let client = try await Connection.session()
        #expect(try await Self.lookup(client, name, "k") == [.string("slow:k"), .int64(-1)])
        #expect(record.handlerRuns.withLock { $0 } == 1)
        await client.close()
        await service.close()
    }

    /// One prepared reply answers many calls from several connections at once: each reply reaches
    /// its own caller (its serial and destination are set per call, the body is shared).
    @Test func onePreparedReplyAnswersConcurrentCallersEachTheirOwn() async throws {
        let record = Record()
        let prepared = try PreparedReply([.string("shared"), .int64(7)])
        let (service, name) = try await Self.service(held: ["k": prepared], record: record)
        var clients: [Connection] = []
        for _ in 0..<4 { clients.append(try await Connection.session()) }
        let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
            for client in clients {
                for _ in 0..<100 {
                    group.addTask { try await Self.lookup(client, name, "k") == [.string("shared"), .int64(7)] }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(answered == 400)
        #expect(record.handlerRuns.withLock { $0 } == 0)
        for client in clients { await client.close() }
        await service.close()
    }

    @Test func anAnswerNeedsADeclaredMethod() throws {
        var interface = ExportedInterface(Self.interfaceName)
        #expect(throws: DBusError.self) { try interface.answerImmediately("Nothing") { _ in nil } }
    }
}
