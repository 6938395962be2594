import Foundation
import TestSupport
@testable import DBus

/// A well-known name no other test uses.
func uniqueBusName(_ stem: String) -> BusName {
    try! BusName("io.tessera.Test.\(stem).N\(UInt32.random(in: 0...UInt32.max))")
}

let testInterfaceName: InterfaceName = "io.tessera.Test1"
let testPath: ObjectPath = "/io/tessera/Test1"

struct Boom: Error, CustomStringConvertible { var description: String { "boom from a plain Swift error" } }

/// State behind the test object's read-write property.
final class ModeBox: Sendable {
    let value = Mutex("normal")
}

import Synchronization

/// The test object: methods of several shapes, properties, a signal.
func makeTestInterface(mode: ModeBox = ModeBox()) -> ExportedInterface {
    var interface = ExportedInterface(testInterfaceName)
    interface.method("Echo", inputs: [Argument("text", "s")], outputs: [Argument("text", "s")]) { $0.arguments }
    interface.method("EchoVariant", inputs: [Argument("value", "v")], outputs: [Argument("value", "v")]) { $0.arguments }
    interface.method("Add", inputs: [Argument("a", "i"), Argument("b", "i")], outputs: [Argument("sum", "i")]) { call in
        let (a, b) = try call.arguments.decode(Int32.self, Int32.self)
        return [.int32(a &+ b)]
    }
    interface.method("Sleep", inputs: [Argument("milliseconds", "u")], outputs: [Argument("slept", "u")]) { call in
        let milliseconds = try call.arguments.decode(UInt32.self)
        try await Task.sleep(for: .milliseconds(Int(milliseconds)))
        return [.uint32(milliseconds)]
    }
    interface.method("Fail", inputs: [Argument("name", "s")]) { call in
        let name = try call.arguments.decode(String.self)
        if name.isEmpty { throw Boom() }
        throw DBusError.remote(name: try ErrorName(name), message: "failed as asked")
    }
    interface.method("Caller", outputs: [Argument("sender", "s")]) { call in [.string(call.sender.rawValue)] }
    interface.method("Lie", outputs: [Argument("number", "i")]) { _ in [.string("not a number")] }
    interface.property("Version", "u", get: { .uint32(7) })
    interface.property("Mode", "s", get: { .string(mode.value.withLock { $0 }) }, set: { value in
        let text = try value.decode(String.self)
        mode.value.withLock { $0 = text }
    })
    interface.signal("Changed", arguments: [Argument("what", "s")])
    return interface
}

/// A connection to the test session bus exporting the test object under a fresh well-known name.
func makeService(_ stem: String) async throws -> (Connection, BusName) {
    try Requirement.session()
    let connection = try await Connection.session()
    try await connection.export(makeTestInterface(), at: testPath)
    let name = uniqueBusName(stem)
    try await connection.requestName(name)
    return (connection, name)
}
