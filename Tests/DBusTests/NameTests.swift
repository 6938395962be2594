import Testing
@testable import DBus

@Suite struct NameTests {
    @Test func validNamesAreAccepted() throws {
        // `as String`: with a bare literal, `BusName("…")` is the ExpressibleByStringLiteral init,
        // not the validating one, and these lines would check nothing.
        #expect(try BusName("io.tessera.Agent1" as String).rawValue == "io.tessera.Agent1")
        #expect(try BusName(":1.42" as String).isUnique)
        #expect(try BusName("org.example-app.Service" as String).rawValue == "org.example-app.Service")
        #expect(try ObjectPath("/" as String).rawValue == "/")
        #expect(try ObjectPath("/io/tessera/Agent1" as String).components == ["io", "tessera", "Agent1"])
        #expect(try InterfaceName("io.tessera.Agent1" as String).rawValue == "io.tessera.Agent1")
        #expect(try MemberName("GetToken" as String).rawValue == "GetToken")
        #expect(try ErrorName("io.tessera.Agent1.Error.NoSuchAccount" as String).rawValue.hasSuffix("NoSuchAccount"))
        #expect(try Signature("a{sv}(ia{s(xv)})" as String).completeTypes.map(\.rawValue) == ["a{sv}", "(ia{s(xv)})"])
        #expect(try ObjectPath("/a").appending("b_1").rawValue == "/a/b_1")
    }

    @Test(arguments: ["", "spike", "io..tessera", "io.1tessera", "io.tessera.", "io.tes sera",
                      "io.tessera.Agent\u{0}1", String(repeating: "a.", count: 130) + "a"])
    func invalidInterfaceNamesThrow(_ input: String) {
        #expect(throws: DBusError.self) { try InterfaceName(input) }
        #expect(throws: DBusError.self) { try ErrorName(input) }
    }

    @Test(arguments: ["", "a", ":1", "1.a", "a..b", "a.b/c", ":1..2"])
    func invalidBusNamesThrow(_ input: String) {
        #expect(throws: DBusError.self) { try BusName(input) }
    }

    @Test(arguments: ["", "a", "a/b", "/a/", "//", "/a//b", "/a-b", "/a.b", "/ä"])
    func invalidObjectPathsThrow(_ input: String) {
        #expect(throws: DBusError.self) { try ObjectPath(input) }
    }

    @Test(arguments: ["", "1a", "a.b", "a-b", String(repeating: "m", count: 256)])
    func invalidMemberNamesThrow(_ input: String) {
        #expect(throws: DBusError.self) { try MemberName(input) }
    }

    @Test(arguments: ["a", "(", "()", "{sv}", "a{vs}", "a{s}", "a{svv}", "z", "(s", "a{s(v)",
                      String(repeating: "a", count: 33) + "s", String(repeating: "(", count: 33) + "s" + String(repeating: ")", count: 33),
                      String(repeating: "s", count: 256)])
    func invalidSignaturesThrow(_ input: String) {
        #expect(throws: DBusError.self) { try Signature(input) }
    }

    @Test func errorMessageNamesKindValueAndReason() {
        // A String variable: `ObjectPath("literal")` is a literal coercion (SE-0213) and would trap.
        let input: String = "/io/tessera/"
        #expect {
            try ObjectPath(input)
        } throws: { error in
            "\(error)" == "invalid D-Bus object path '/io/tessera/': it must not end with '/'"
        }
    }
}
