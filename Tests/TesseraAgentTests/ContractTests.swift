import DBus
import Foundation
import TesseraAPI
import Testing

/// The contract as code, without a bus: names validate, the checked-in XML is the generated one,
/// and every argument type round-trips between the CLI's encoder and the service's decoder.
@Suite struct ContractTests {
    @Test func namesAreValidDBusNames() throws {
        _ = try BusName(AgentBus.name)
        _ = try ObjectPath(AgentBus.objectPath)
        _ = try ObjectPath(AgentBus.flowPathPrefix)
        _ = try InterfaceName(AgentBus.interface)
        _ = try InterfaceName(AgentBus.deviceFlowInterface)
        for method in AgentMethod.allCases { _ = try MemberName(method.rawValue) }
        for signal in AgentSignal.allCases { _ = try MemberName(signal.rawValue) }
        for name in AgentErrorName.allCases { _ = try ErrorName(name.wireName) }
        #expect(AgentContract.flowPath(7).rawValue == "/io/tessera/Agent1/flows/7")
    }

    @Test func declarationCoversEveryMemberOnce() {
        let interface = AgentContract.agentInterface
        #expect(interface.methods.map(\.name.rawValue) == AgentMethod.allCases.map(\.rawValue))
        #expect(interface.signals.map(\.name.rawValue) == AgentSignal.allCases.map(\.rawValue))
        #expect(interface.method("GetToken")?.inputSignature.rawValue == "sa{sv}")
        #expect(interface.method("GetToken")?.outputSignature.rawValue == "sxa{sv}")
        #expect(interface.method("StartDeviceFlow")?.outputSignature.rawValue == "oa{sv}")
        #expect(interface.method("ListAccounts")?.outputSignature.rawValue == "a(sa{sv})")
        #expect(AgentContract.deviceFlowInterface.property("State")?.signature.rawValue == "s")
        #expect(AgentContract.deviceFlowInterface.signal("Failed")?.signature.rawValue == "ss")
    }

    @Test func checkedInXMLIsTheGeneratedOne() throws {
        let file = try String(contentsOfFile: packageRoot() + "/dbus/io.tessera.Agent1.xml", encoding: .utf8)
        #expect(file == AgentContract.introspectionXML)
    }

    @Test func getTokenOptionsRoundTrip() throws {
        let options = GetTokenOptions(scopes: ["openid", "read"], audience: ["https://rs"], minValid: 120, force: true,
                                      interactive: true, timeout: 30, application: "test")
        #expect(try GetTokenOptions(dbusOptions: options.dbusOptions) == options)
        #expect(GetTokenOptions().dbusOptions.isEmpty)
        #expect(Set(options.dbusOptions.keys) == Set(GetTokenOption.allCases.map(\.rawValue)))
    }

    @Test func unknownKeysAndWrongTypesNameTheField() {
        #expect(throws: ArgumentError(field: "bogus", reason: "is not a known option (known: scopes, audience, min-valid, force, interactive, timeout, application)")) {
            try GetTokenOptions(dbusOptions: ["bogus": Variant(true)])
        }
        #expect(throws: ArgumentError(field: "min-valid", reason: "must be of type 'u', not 's'")) {
            try GetTokenOptions(dbusOptions: ["min-valid": Variant("60")])
        }
        #expect(throws: ArgumentError.self) { try RevokeOptions(dbusOptions: ["keep-on-failure": Variant(UInt32(1))]) }
        #expect(throws: ArgumentError.self) { try AccountSettingsMessage(dbusOptions: ["logged-in": Variant(true)]) }
    }

    @Test func repliesRoundTrip() throws {
        let token = TokenReply(token: "t", expiresAt: 1_700_000_000, tokenType: "Bearer", scopes: ["openid"],
                               audience: [], issuer: "https://issuer", account: "a")
        #expect(try TokenReply(body: token.body) == token)
        #expect(!"\(token)".contains("(t,"))
        // A token reply from a newer or odd service: unknown keys passed over, absent ones defaulted,
        // a known key of another type or a body of another shape refused with what was expected.
        func info(_ entries: [(String, DBusValue)]) -> DBusValue {
            .dictionary(keySignature: "s", valueSignature: "v", entries.map { .init(key: .string($0.0), value: .variant($0.1)) })
        }
        let sparse = try TokenReply(body: [.string("t"), .int64(5), info([("future-key", .uint32(1)), ("account", .string("a"))])])
        #expect(sparse == TokenReply(token: "t", expiresAt: 5, tokenType: "Bearer", scopes: [], audience: [], issuer: "", account: "a"))
        #expect(throws: DBusError.typeMismatch(expected: "as", actual: "s", context: "option 'scopes'")) {
            try TokenReply(body: [.string("t"), .int64(5), info([("scopes", .string("openid"))])])
        }
        #expect(throws: DBusError.typeMismatch(expected: "s", actual: "u", context: "option 'issuer'")) {
            try TokenReply(body: [.string("t"), .int64(5), info([("issuer", .uint32(3))])])
        }
        #expect(throws: DBusError.typeMismatch(expected: "sxa{sv}", actual: "sx", context: "arguments")) {
            try TokenReply(body: [.string("t"), .int64(5)])
        }
        let flow = DeviceFlowReply(flow: AgentContract.flowPath(1), userCode: "ABCD-EFGH", verificationURI: "https://i/device",
                                   verificationURIComplete: "https://i/device?user_code=ABCD-EFGH", expiresAt: 1, interval: 5)
        #expect(try DeviceFlowReply(body: flow.body) == flow)
        let account = AccountInfo(name: "a", issuer: "https://i", kind: "oidc", clientID: "c", scopes: ["openid"],
                                  audience: ["x"], audienceStyle: "resource", mytokenServer: nil, loggedIn: true,
                                  hasClientSecret: false)
        #expect(try AccountInfo.list(body: AccountInfo.listBody([account, account])) == [account, account])
        let settings = AccountSettingsMessage(issuer: "https://i", clientID: "c", clientSecret: "s", scopes: ["openid"],
                                              audience: [], audienceStyle: "audience", kind: "oidc", replace: true)
        #expect(try AccountSettingsMessage(dbusOptions: settings.dbusOptions) == settings)
    }

    /// Where the CLI looks for tesserad's peer socket: a stable hash of the bus's socket (so both
    /// sides agree without talking), nothing for buses that are not UNIX socket paths.
    @Test func peerSocketPathFollowsTheBusSocket() {
        #expect(PeerSocket.linkPath(runtimeDirectory: "/run/user/1000", busAddress: "unix:path=/run/user/1000/bus")
            == "/run/user/1000/tessera/bus-91e90a7d210929a8")
        // The same socket however the address is spelled (a guid, escaping, a trailing slash on the directory).
        #expect(PeerSocket.linkPath(runtimeDirectory: "/run/user/1000/", busAddress: "unix:path=/run/user/1000/bus,guid=0123")
            == "/run/user/1000/tessera/bus-91e90a7d210929a8")
        #expect(PeerSocket.linkPath(runtimeDirectory: "/run/user/1000", busAddress: "unix:path=%2frun/user/1000/bus")
            == "/run/user/1000/tessera/bus-91e90a7d210929a8")
        #expect(PeerSocket.linkPath(runtimeDirectory: "/r", busAddress: "unix:abstract=/tmp/dbus-abc") == "/r/tessera/bus-f3150bb359cffff5")
        #expect(PeerSocket.linkPath(runtimeDirectory: nil, busAddress: "unix:path=/run/user/1000/bus") == nil)
        #expect(PeerSocket.linkPath(runtimeDirectory: "relative", busAddress: "unix:path=/run/user/1000/bus") == nil)
        #expect(PeerSocket.linkPath(runtimeDirectory: "/run/user/1000", busAddress: "tcp:host=localhost,port=1") == nil)
        #expect(PeerSocket.linkPath(runtimeDirectory: "/run/user/1000", busAddress: "unix:runtime=yes") == nil)
        #expect(PeerSocket.linkPath(runtimeDirectory: "/run/user/1000", busAddress: "garbage") == nil)
        #expect(PeerSocket.linkPath(runtimeDirectory: "/" + String(repeating: "d", count: 100), busAddress: "unix:path=/b") == nil)
    }

}

/// The package root: the directory holding Package.swift, found from this source file.
func packageRoot(file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        url.deleteLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath
}
