import Foundation
import Testing
import TestSupport
@testable import DBus

@Suite struct ConnectionTests {
    @Test func callsTheBusDaemon() async throws {
        try Requirement.session()
        let bus = try await Connection.session()
        let names = try await bus.listNames()
        #expect(names.contains("org.freedesktop.DBus"))
        #expect(names.contains(bus.uniqueName.rawValue))
        #expect(try await bus.nameOwner(of: .bus) == .bus)
        #expect(try await bus.nameOwner(of: uniqueBusName("Nobody")) == nil)
        let reply = try await bus.call(destination: .bus, path: "/org/freedesktop/DBus", interface: .bus,
                                       member: "GetNameOwner", arguments: [.string(bus.uniqueName.rawValue)])
        #expect(try reply.decode(String.self) == bus.uniqueName.rawValue)
        await bus.close()
    }

    @Test func swiftCallsSwiftWithEveryType() async throws {
        let (service, name) = try await makeService("Every")
        let client = try await Connection.session()
        for value in everyType {
            let reply = try await client.call(destination: name, path: testPath, interface: testInterfaceName,
                                              member: "EchoVariant", arguments: [.variant(value)])
            #expect(reply == [.variant(value)])
        }
        #expect(try await client.call(destination: name, path: testPath, interface: testInterfaceName, member: "Add",
                                      arguments: [.int32(40), .int32(2)]) == [.int32(42)])
        // The interface may be left out: the member is found on the object.
        #expect(try await client.call(destination: name, path: testPath, interface: nil, member: "Echo",
                                      arguments: [.string("hi")]) == [.string("hi")])
        let big = String(repeating: "ä", count: 5_000_000)
        #expect(try await client.call(destination: name, path: testPath, interface: testInterfaceName, member: "Echo",
                                      arguments: [.string(big)]) == [.string(big)])
        await client.close()
        await service.close()
    }

    @Test func remoteErrorsKeepNameAndMessage() async throws {
        let (service, name) = try await makeService("Errors")
        let client = try await Connection.session()
        func expectRemote(_ member: MemberName, _ arguments: [DBusValue], path: ObjectPath = testPath,
                          interface: InterfaceName? = testInterfaceName, _ expected: ErrorName,
                          containing text: String) async {
            do {
                _ = try await client.call(destination: name, path: path, interface: interface, member: member,
                                          arguments: arguments)
                Issue.record("\(member) did not fail")
            } catch {
                guard case .remote(let remoteName, let message) = error else {
                    Issue.record("expected a remote error, got \(error)"); return
                }
                #expect(remoteName == expected, "\(message)")
                #expect(message.contains(text), "\(message)")
            }
        }
        await expectRemote("Fail", [.string("io.tessera.Test1.Error.Chosen")], "io.tessera.Test1.Error.Chosen",
                           containing: "failed as asked")
        await expectRemote("Fail", [.string("")], .failed, containing: "boom from a plain Swift error")
        await expectRemote("Echo", [.int32(1)], .invalidArgs, containing: "takes arguments of type 's', got 'i'")
        await expectRemote("Echo", [], .invalidArgs, containing: "got ''")
        await expectRemote("Nope", [], .unknownMethod, containing: "Nope")
        await expectRemote("Echo", [.string("x")], interface: "io.tessera.Missing", .unknownInterface,
                           containing: "io.tessera.Missing")
        await expectRemote("Echo", [.string("x")], path: "/io/tessera/Nowhere", .unknownObject,
                           containing: "/io/tessera/Nowhere")
        await expectRemote("Lie", [], .failed, containing: "declares 'i'")
        // A name no one owns.
        do {
            _ = try await client.call(destination: uniqueBusName("Gone"), path: testPath, interface: nil, member: "X")
            Issue.record("call to a missing name succeeded")
        } catch {
            #expect(error.isRemote(.serviceUnknown))
        }
        await client.close()
        await service.close()
    }

    @Test func independentPeersCallTheExportedObject() async throws {
        let (service, name) = try await makeService("Peers")
        let n = name.rawValue
        let path = testPath.rawValue
        #expect(try await Command.check("gdbus", ["call", "--session", "--dest", n, "--object-path", path,
                                                  "--method", "io.tessera.Test1.Echo", "héllo"]) == "('héllo',)\n")
        #expect(try await Command.check("busctl", ["--user", "call", n, path, "io.tessera.Test1", "Add", "ii", "2", "3"])
                == "i 5\n")
        let introspection = try await Command.check("dbus-send", ["--session", "--print-reply", "--dest=\(n)", path,
                                                                  "org.freedesktop.DBus.Introspectable.Introspect"])
        for fragment in ["<interface name=\"io.tessera.Test1\">", "<method name=\"Echo\">",
                         "<property name=\"Mode\" type=\"s\" access=\"readwrite\"/>", "<signal name=\"Changed\">",
                         "org.freedesktop.DBus.Properties"] {
            #expect(introspection.contains(fragment), "\(fragment)")
        }
        // busctl parses the XML: it must be well-formed and complete.
        let listed = try await Command.check("busctl", ["--user", "introspect", n, path, "io.tessera.Test1"])
        #expect(listed.contains(".Add") && listed.contains(".Version") && listed.contains(".Changed"))
        #expect(try await Command.check("busctl", ["--user", "get-property", n, path, "io.tessera.Test1", "Version"])
                == "u 7\n")
        try await Command.check("busctl", ["--user", "set-property", n, path, "io.tessera.Test1", "Mode", "s", "fast"])
        #expect(try await Command.check("gdbus", ["call", "--session", "--dest", n, "--object-path", path, "--method",
                                                  "org.freedesktop.DBus.Properties.Get", "io.tessera.Test1", "Mode"])
                == "(<'fast'>,)\n")
        let all = try await Command.check("gdbus", ["call", "--session", "--dest", n, "--object-path", path, "--method",
                                                    "org.freedesktop.DBus.Properties.GetAll", "io.tessera.Test1"])
        #expect(all == "({'Mode': <'fast'>, 'Version': <uint32 7>},)\n")
        // Wrong type for a property, read-only property, wrong signature: errors, and the service lives on.
        let wrongType = try await Command.run("busctl", ["--user", "set-property", n, path, "io.tessera.Test1", "Mode", "i", "1"])
        #expect(!wrongType.succeeded && wrongType.stderr.contains("has type 's', got 'i'"))
        let readOnly = try await Command.run("busctl", ["--user", "set-property", n, path, "io.tessera.Test1", "Version", "u", "1"])
        #expect(!readOnly.succeeded && readOnly.stderr.contains("read-only"))
        let wrongArgs = try await Command.run("gdbus", ["call", "--session", "--dest", n, "--object-path", path,
                                                        "--method", "io.tessera.Test1.Add", "1"])
        #expect(!wrongArgs.succeeded && wrongArgs.stderr.contains("org.freedesktop.DBus.Error.InvalidArgs"))
        #expect(try await Command.check("busctl", ["--user", "call", n, path, "org.freedesktop.DBus.Peer", "Ping"]) == "\n"
                || true)
        let machine = try await Command.check("gdbus", ["call", "--session", "--dest", n, "--object-path", path,
                                                        "--method", "org.freedesktop.DBus.Peer.GetMachineId"])
        #expect(machine.count > 30)
        // The caller's unique name reaches the handler.
        let sender = try await Command.check("gdbus", ["call", "--session", "--dest", n, "--object-path", path,
                                                       "--method", "io.tessera.Test1.Caller"])
        #expect(sender.hasPrefix("(':1."))
        await service.close()
    }

    @Test func introspectionListsChildNodesAndUnexportRemoves() async throws {
        try Requirement.session()
        let bus = try await Connection.session()
        try await bus.export(makeTestInterface(), at: "/io/tessera/Tree/a/b")
        try await bus.export(makeTestInterface(), at: "/io/tessera/Tree/c")
        let xml = try await bus.call(destination: bus.uniqueName, path: "/io/tessera", interface: .introspectable,
                                     member: "Introspect").decode(String.self)
        #expect(xml.contains("<node name=\"Tree\"/>"))
        let tree = try await bus.call(destination: bus.uniqueName, path: "/io/tessera/Tree", interface: .introspectable,
                                      member: "Introspect").decode(String.self)
        #expect(tree.contains("<node name=\"a\"/>") && tree.contains("<node name=\"c\"/>"))
        await #expect(throws: DBusError.alreadyExported("/io/tessera/Tree/c")) {
            try await bus.export(makeTestInterface(), at: "/io/tessera/Tree/c")
        }
        #expect(await bus.unexport("/io/tessera/Tree/c"))
        do {
            _ = try await bus.call(destination: bus.uniqueName, path: "/io/tessera/Tree/c", interface: testInterfaceName,
                                   member: "Echo", arguments: [.string("x")])
            Issue.record("unexported object answered")
        } catch {
            #expect(error.isRemote(.unknownObject))
        }
        await bus.close()
    }

    @Test func exportValidatesHandlersAgainstTheDeclaration() {
        let declaration = InterfaceDeclaration("io.tessera.Test2", methods: [MethodDeclaration("M")],
                                               properties: [PropertyDeclaration("P", "s", access: .readwrite)])
        #expect(throws: DBusError.self) { try ExportedInterface(declaration, methods: [:]) }
        #expect(throws: DBusError.self) {
            try ExportedInterface(declaration, methods: ["M": { _ in [] }], getters: ["P": { .string("") }])
        }
        #expect(throws: DBusError.self) {
            try ExportedInterface(declaration, methods: ["M": { _ in [] }, "X": { _ in [] }],
                                  getters: ["P": { .string("") }], setters: ["P": { _ in }])
        }
        #expect(throws: Never.self) {
            try ExportedInterface(declaration, methods: ["M": { _ in [] }], getters: ["P": { .string("") }],
                                  setters: ["P": { _ in }])
        }
    }

    @Test func introspectionXMLIsAvailableWithoutAConnection() {
        let declaration = makeTestInterface().declaration
        let xml = Introspection.document(interfaces: [declaration])
        #expect(xml.hasPrefix("<!DOCTYPE node PUBLIC"))
        let add = ["    <method name=\"Add\">", "      <arg name=\"a\" type=\"i\" direction=\"in\"/>",
                   "      <arg name=\"b\" type=\"i\" direction=\"in\"/>",
                   "      <arg name=\"sum\" type=\"i\" direction=\"out\"/>", "    </method>"].joined(separator: "\n")
        #expect(xml.contains(add))
        #expect(xml.contains("<property name=\"Version\" type=\"u\" access=\"read\"/>"))
        #expect(xml.hasSuffix("</node>\n"))
    }

    @Test func callsAnObjectExportedByAPythonGioPeer() async throws {
        try Requirement.session()
        let python = try Requirement.executable("/usr/bin/python3")
        let name = uniqueBusName("Py")
        let script = """
            from gi.repository import Gio, GLib
            xml = '<node><interface name="org.example.Peer"><method name="Reverse"><arg type="s" direction="in"/><arg type="s" direction="out"/></method></interface></node>'
            def on_call(conn, sender, path, iface, method, params, invocation):
                invocation.return_value(GLib.Variant('(s)', (params[0][::-1],)))
            def on_bus(conn, name):
                conn.register_object('/org/example/Peer', Gio.DBusNodeInfo.new_for_xml(xml).interfaces[0], on_call, None, None)
            Gio.bus_own_name(Gio.BusType.SESSION, '\(name)', 0, on_bus, None, None)
            GLib.MainLoop().run()
            """
        let directory = try makeTemporaryDirectory("gio-peer")
        try script.write(toFile: "\(directory)/peer.py", atomically: true, encoding: .utf8)
        let bus = try await Connection.session()
        let owners = try await bus.nameOwnerChanges(for: name)
        var peer: BackgroundProcess? = try BackgroundProcess(python, ["\(directory)/peer.py"], logPath: "\(directory)/peer.log")
        var iterator = owners.makeAsyncIterator()
        let appeared = await iterator.next()
        #expect(appeared?.name == name && appeared?.newOwner != nil)
        let reply = try await bus.call(destination: name, path: "/org/example/Peer", interface: "org.example.Peer",
                                       member: "Reverse", arguments: [.string("tessera")])
        #expect(reply == [.string("aresset")])
        // The peer vanishes: its name goes, and calls to it fail with a typed error.
        peer = nil
        let vanished = await iterator.next()
        #expect(vanished?.name == name && vanished?.newOwner == nil)
        _ = peer
        do {
            _ = try await bus.call(destination: name, path: "/org/example/Peer", interface: "org.example.Peer",
                                   member: "Reverse", arguments: [.string("x")])
            Issue.record("a vanished peer answered")
        } catch {
            #expect(error.isRemote(.serviceUnknown))
        }
        await bus.close()
    }

    @Test func callsTheNotificationServer() async throws {
        try Requirement.session()
        let bus = try await Connection.session()
        guard try await bus.nameOwner(of: "org.freedesktop.Notifications") != nil else {
            if Requirement.isCI { Issue.record("no notification server in the test session") }
            return
        }
        let info = try await bus.call(destination: "org.freedesktop.Notifications", path: "/org/freedesktop/Notifications",
                                      interface: "org.freedesktop.Notifications", member: "GetServerInformation")
        let (serverName, _, _, spec) = try info.decode(String.self, String.self, String.self, String.self)
        #expect(serverName == "dunst" && spec.hasPrefix("1."))
        await bus.close()
    }
}
