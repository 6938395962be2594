import DBus
import Foundation
import TestSupport
import Testing
import TesseraCore
@testable import TesseraAgent

/// The menu and icon models, in process.
@Suite struct TrayModelTests {
    /// The tooltip's own escaping used to replace 3 of the 5 characters XML reserves.
    @Test func toolTipEscapesEveryReservedCharacter() {
        let body = Tray.toolTipBody([TrayAccount(name: #"a&b<c>d"e'f"#, state: .loggedIn)])
        #expect(body == "a&amp;b&lt;c&gt;d&quot;e&apos;f — logged in")
        #expect(Tray.toolTipBody([]) == "No accounts")
    }

    @Test func pixmapsAreARGBBigEndianWithTheAttentionTileOnlyWhenAsked() throws {
        for size in TrayIcon.sizes {
            let normal = TrayIcon.pixmap(size: size, attention: false)
            let attention = TrayIcon.pixmap(size: size, attention: true)
            #expect(normal.argb.count == size * size * 4)
            #expect(normal.colour(x: 0, y: 0) == nil, "corners are transparent")
            // Upper left tile: teal in both; lower right: teal, or orange when attention is needed.
            let quarter = size / 4, threeQuarters = size * 3 / 4
            #expect(normal.colour(x: quarter, y: quarter) == TrayIcon.tileColour)
            #expect(normal.colour(x: threeQuarters, y: threeQuarters) == TrayIcon.tileColour)
            #expect(attention.colour(x: quarter, y: quarter) == TrayIcon.tileColour)
            #expect(attention.colour(x: threeQuarters, y: threeQuarters) == TrayIcon.attentionColour)
            // The gap between the tiles stays see-through: four tiles, not one block.
            #expect(normal.colour(x: size / 2, y: quarter) == nil)
            // Byte order on the wire: alpha first.
            let offset = (quarter * size + quarter) * 4
            #expect(Array(normal.argb[offset..<offset + 4]) == [0xFF, 0x13, 0xB5, 0x9F])
        }
        #expect(TrayIcon.dbusValue(TrayIcon.pixmaps(attention: false)).signature == "a(iiay)")
    }

    @Test func menuHasAnEntryPerAccountSeparatorAndQuitWithStableIDs() throws {
        var ids = TrayMenuIDs()
        let first = TrayMenu(accounts: [TrayAccount(name: "alice@wlcg", state: .loggedIn),
                                        TrayAccount(name: "bob_x", state: .loginRequired)], ids: &ids, revision: 2)
        let root = try #require(first.items[TrayMenu.rootID])
        #expect(root.children.count == 4)
        let alice = try #require(first.items[root.children[0]])
        let bob = try #require(first.items[root.children[1]])
        #expect(alice.properties["label"] == .string("alice@wlcg — logged in"))
        #expect(alice.properties["enabled"] == .bool(false) && alice.action == nil)
        // `_` is dbusmenu's mnemonic marker: doubled so the name shows as it is.
        #expect(bob.properties["label"] == .string("bob__x — login required"))
        #expect(bob.action == .login(account: "bob_x"))
        #expect(first.items[root.children[2]]?.properties["type"] == .string("separator"))
        #expect(first.items[root.children[3]]?.action == .quit)

        let second = TrayMenu(accounts: [TrayAccount(name: "bob_x", state: .loggedIn)], ids: &ids, revision: 3)
        #expect(second.items[TrayMenu.rootID]?.children.first == bob.id, "bob keeps his id")
        #expect(second.items[alice.id] == nil)

        let empty = TrayMenu(accounts: [], ids: &ids, revision: 4)
        let placeholderID = try #require(empty.items[TrayMenu.rootID]?.children.first)
        let placeholder = try #require(empty.items[placeholderID])
        #expect(placeholder.properties["enabled"] == .bool(false) && placeholder.action == nil)
    }

    @Test func layoutHonoursDepthAndPropertyNames() throws {
        var ids = TrayMenuIDs()
        let menu = TrayMenu(accounts: [TrayAccount(name: "a", state: .loginRequired)], ids: &ids, revision: 7)
        guard case .structure(let full) = try menu.layout(parent: 0, depth: -1, propertyNames: []) else {
            Issue.record("layout is not a struct"); return
        }
        #expect(full.count == 3 && full[0] == .int32(0))
        guard case .array(let element, let children) = full[2] else { Issue.record("no children array"); return }
        #expect(element == "v" && children.count == 3)
        guard case .structure(let none) = try menu.layout(parent: 0, depth: 0, propertyNames: []),
              case .array(_, let noChildren) = none[2] else { Issue.record("depth 0"); return }
        #expect(noChildren.isEmpty)
        let id = try #require(menu.items[0]?.children.first)
        guard case .structure(let only) = try menu.layout(parent: id, depth: -1, propertyNames: ["label"]),
              case .dictionary(_, _, let entries) = only[1] else { Issue.record("filtered"); return }
        #expect(entries.map(\.key) == [.string("label")])
        #expect(throws: DBusError.self) { try menu.layout(parent: 999, depth: -1, propertyNames: []) }
        #expect(try menu.layout(parent: 0, depth: -1, propertyNames: []).signature == "(ia{sv}av)")
        #expect(menu.groupProperties(ids: [id, 999], propertyNames: []).signature == "a(ia{sv})")
    }
}

/// The exported tray objects, with gdbus playing the host: tesserad on the test session's bus,
/// where no panel runs.
@Suite(.serialized, .exclusiveSession) struct TrayMenuTests {
    struct Host {
        let world: AgentWorld
        func call(_ path: ObjectPath, _ method: String, _ arguments: String...) async throws -> CommandResult {
            try await Command.run(
                "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", path.rawValue,
                          "--method", method, "--"] + arguments, environment: world.environment)
        }
        func check(_ path: ObjectPath, _ method: String, _ arguments: String...) async throws -> String {
            let result = try await Command.run(
                "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", path.rawValue,
                          "--method", method, "--"] + arguments, environment: world.environment)
            guard result.succeeded else { throw TestSupportError.failed("\(method): \(result.stderr)\n\(world.agent.log())") }
            return result.stdout
        }
    }

    @Test func gdbusAsHostReadsItemAndMenuAndClicksAnAccount() async throws {
        let world = try await AgentWorld()
        let host = Host(world: world)
        let monitorLog = "\(world.directory)/tray-signals.log"
        let monitor = try BackgroundProcess(
            "dbus-monitor", ["--session", "interface='com.canonical.dbusmenu'", "interface='org.kde.StatusNotifierItem'"],
            environment: world.environment, logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .milliseconds(200))
        try await world.addAccount()

        // No tray host on this bus: said once, and the service serves as before.
        try await eventually("the no-host line", timeout: .seconds(5)) { world.agent.log().contains("no tray host") }
        #expect(world.agent.log().components(separatedBy: "no tray host").count == 2)

        // The tray re-reads the accounts when AccountsChanged arrives, a moment after AddAccount returns;
        // GetAll reads each property on its own, so one answer may straddle that refresh: wait for
        // an answer read wholly after it (the host is told by NewStatus/NewToolTip in any case).
        var item = ""
        try await eventually("the tray lists the new account", timeout: .seconds(10)) {
            item = try await host.check(Tray.itemPath, "org.freedesktop.DBus.Properties.GetAll", "org.kde.StatusNotifierItem")
            return item.contains("\(world.account) — login required") && item.contains("'Status': <'NeedsAttention'>")
        }
        for expected in ["'Category': <'ApplicationStatus'>", "'Id': <'tessera'>", "'Title': <'Tessera'>",
                         "'ItemIsMenu': <false>", "'Menu': <objectpath '/MenuBar'>", "'IconName': <'tessera-attention'>",
                         "'Status': <'NeedsAttention'>", "(22, 22, [byte 0x00", "(32, 32, [0x00"] {
            let found = item.contains(expected)
            #expect(found, "GetAll lacks \(expected)")
        }
        #expect(item.contains("\(world.account) — login required"), "the tooltip lists the account")
        // What xfce4-panel also asks: an error, and the service lives on.
        let properties = try await host.call(Tray.itemPath, "org.freedesktop.DBus.Properties.GetAll", "org.freedesktop.DBus.Properties")
        #expect(!properties.succeeded && properties.stderr.contains("UnknownInterface"))
        for (method, arguments) in [("Activate", ["0", "0"]), ("SecondaryActivate", ["1", "2"]), ("ContextMenu", ["1", "2"])] {
            let answer = try await host.call(Tray.itemPath, "org.kde.StatusNotifierItem.\(method)", arguments[0], arguments[1])
            #expect(answer.succeeded, "\(method): \(answer.stderr)")
        }
        #expect(try await host.call(Tray.itemPath, "org.kde.StatusNotifierItem.Scroll", "-3", "vertical").succeeded)

        let menu = try await host.check(Tray.menuPath, "org.freedesktop.DBus.Properties.GetAll", "com.canonical.dbusmenu")
        #expect(menu.contains("'Version': <uint32 3>"))
        let layout = try await host.check(Tray.menuPath, "com.canonical.dbusmenu.GetLayout", "0", "-1", "@as []")
        #expect(layout.contains("'\(world.account) — login required'") && layout.contains("'Quit Tessera'"))
        let id = try #require(AgentWorld.capture(#"<\((\d+), \{'enabled': <true>"#, in: layout))
        let group = try await host.check(Tray.menuPath, "com.canonical.dbusmenu.GetGroupProperties", "[\(id)]", "['label']")
        #expect(group.contains("[(\(id), {'label': <'\(world.account) — login required'>})]"))
        #expect(try await host.check(Tray.menuPath, "com.canonical.dbusmenu.AboutToShow", "0").contains("false"))
        #expect(try await host.check(Tray.menuPath, "com.canonical.dbusmenu.AboutToShowGroup", "[0, 999]")
            .contains("[], [999])"))
        let unknown = try await host.call(Tray.menuPath, "com.canonical.dbusmenu.EventGroup", "[(999, 'clicked', <0>, 0)]")
        #expect(!unknown.succeeded)
        // Hovering does nothing; clicking the account starts its login (Activate above already
        // did: StartDeviceFlow then hands out the same pending flow).
        #expect(try await host.check(Tray.menuPath, "com.canonical.dbusmenu.Event", id, "hovered", "<0>", "0") == "()\n")
        let errors = try await host.check(Tray.menuPath, "com.canonical.dbusmenu.EventGroup", "[(\(id), 'clicked', <0>, 0), (998, 'clicked', <0>, 0)]")
        #expect(errors.contains("[998]"))
        try await eventually("the login started from the menu", timeout: .seconds(5)) {
            world.agent.log().contains("login of \(world.account) started from the tray")
        }
        let flow = try await world.startFlow()
        try await world.provider.approve(userCode: flow.userCode)
        try await world.waitForState(flow, "completed")
        try await eventually("the menu says logged in", timeout: .seconds(5)) {
            try await host.check(Tray.menuPath, "com.canonical.dbusmenu.GetLayout", "0", "-1", "@as []")
                .contains("'\(world.account) — logged in'")
        }
        #expect(try await host.check(Tray.itemPath, "org.freedesktop.DBus.Properties.Get", "org.kde.StatusNotifierItem", "Status")
            .contains("'Active'"))

        // dbus-monitor writes when it gets round to it (slow on a loaded machine): wait for it.
        try? await eventually("dbus-monitor logged the tray's signals", timeout: .seconds(5)) {
            let logged = (try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? ""
            return logged.contains("member=NewStatus") && logged.contains("string \"Active\"")
        }
        let signals = try String(contentsOfFile: monitorLog, encoding: .utf8)
        #expect(signals.contains("member=LayoutUpdated"))
        #expect(signals.contains("member=NewStatus") && signals.contains("string \"Active\""))

        // Quit stops the service.
        _ = try await host.check(Tray.menuPath, "com.canonical.dbusmenu.Event", "1", "clicked", "<0>", "0")
        try await eventually("tesserad gone after Quit", timeout: .seconds(5)) { !world.agent.process.isRunning }
    }
}
