import Foundation
import TestSupport
import Testing
import TesseraCore
@testable import TesseraAgent

/// tesserad's tray icon in a real StatusNotifierItem host: xfce4-panel on Xvfb, on a private bus
/// of its own (so no `.exclusiveSession`), driven with xdotool and checked on screenshots.
@Suite(.serialized) struct TrayPanelTests {
    @Test func panelShowsTheIconMenuStartsLoginsStatusFollowsAndItReRegisters() async throws {
        try Requirement.session()
        let desktop = try await TrayDesktop()
        let world = try await AgentWorld(busEnvironment: desktop.environment)
        defer { world.agent.stop() }
        let tray = TrayPeer(desktop: desktop, world: world)
        let item = try await tray.itemKey()

        // The host registered our item.
        try await eventually("the watcher lists \(item)", timeout: .seconds(5)) {
            try await desktop.watcherProperty("RegisteredStatusNotifierItems")?.contains("'\(item)'") == true
        }

        // An account without a login: NeedsAttention, and the icon shows the orange tile.
        try await world.addAccount()
        try await eventually("Status NeedsAttention", timeout: .seconds(5)) { try await tray.status() == "NeedsAttention" }
        try await eventually("the orange tile on screen", timeout: .seconds(5)) {
            try await !desktop.screenshot().pixels(TrayIcon.attentionColour).isEmpty
        }
        let shot = try await desktop.screenshot()
        let teal = shot.pixels(TrayIcon.tileColour)
        #expect(teal.count >= 100, "the icon's teal tiles are drawn (\(teal.count) pixels)")
        let icon = try #require(TrayPeer.centre(of: teal + shot.pixels(TrayIcon.attentionColour)))
        #expect(icon.y < 32, "the icon sits in the 32 px top panel")

        // Right click opens the menu; choosing the account's entry starts its login (a flow object).
        try await tray.chooseFirstMenuEntry(at: icon)
        let flowPath = try #require(try await tray.flowPaths().first)
        // StartDeviceFlow hands out the pending flow, not a new one: its code is the tray's login's.
        let flow = try await world.startFlow()
        #expect(flow.path == flowPath)
        try await world.provider.approve(userCode: flow.userCode)
        try await world.waitForState(flow, "completed")
        try await eventually("Status Active after the login", timeout: .seconds(5)) { try await tray.status() == "Active" }
        try await eventually("the orange tile gone", timeout: .seconds(5)) {
            let shot = try await desktop.screenshot()
            return shot.pixels(TrayIcon.attentionColour).isEmpty && shot.pixels(TrayIcon.tileColour).count >= 100
        }
        #expect(try await tray.layout().contains("\(world.account) — logged in"))

        // Revoking makes it need a login again; a left click (Activate) starts that login.
        try await world.check("Revoke", world.account, "{}")
        try await eventually("Status NeedsAttention after Revoke", timeout: .seconds(5)) { try await tray.status() == "NeedsAttention" }
        try await desktop.xdotool(["mousemove", "\(icon.x)", "\(icon.y)", "click", "1"])
        try await eventually("a second flow from Activate", timeout: .seconds(5)) {
            try await tray.flowPaths().contains { $0 != flowPath }
        }

        // The panel restarts: the item registers with the new watcher by itself.
        try await desktop.stopPanel()
        try await desktop.startPanel()
        try await eventually("the new watcher lists \(item)", timeout: .seconds(5)) {
            try await desktop.watcherProperty("RegisteredStatusNotifierItems")?.contains("'\(item)'") == true
        }
        try await eventually("the icon drawn again", timeout: .seconds(5)) {
            try await !desktop.screenshot().pixels(TrayIcon.attentionColour).isEmpty
        }
        #expect(world.agent.log().components(separatedBy: "tray icon registered").count - 1 == 2)

        world.agent.stop()
        await desktop.shutDown()
    }
}

/// The tray as an independent client sees it (gdbus), plus the clicks.
struct TrayPeer {
    let desktop: TrayDesktop
    let world: AgentWorld

    /// What the watcher lists for tesserad's item: `<unique name>/StatusNotifierItem`.
    func itemKey() async throws -> String {
        let owner = try await Command.check(
            "gdbus", ["call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                      "--method", "org.freedesktop.DBus.GetNameOwner", "io.tessera.Agent1"], environment: world.environment)
        let unique = try #require(AgentWorld.capture(#"'([^']+)'"#, in: owner))
        return "\(unique)\(Tray.itemPath)"
    }

    func call(_ path: String, _ method: String, _ arguments: [String]) async throws -> String {
        try await Command.check(
            "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", path, "--method", method, "--"]
                + arguments, environment: world.environment)
    }

    func status() async throws -> String? {
        AgentWorld.capture(#"<'([A-Za-z]+)'>"#, in: try await call(
            Tray.itemPath.rawValue, "org.freedesktop.DBus.Properties.Get", ["org.kde.StatusNotifierItem", "Status"]))
    }

    func layout() async throws -> String {
        try await call(Tray.menuPath.rawValue, "com.canonical.dbusmenu.GetLayout", ["0", "-1", "@as []"])
    }

    /// The device-flow objects tesserad exports now.
    func flowPaths() async throws -> [String] {
        let xml = try await call("/io/tessera/Agent1/flows", "org.freedesktop.DBus.Introspectable.Introspect", [])
        let regex = try NSRegularExpression(pattern: #"<node name=\\?"([0-9]+)\\?""#)
        return regex.matches(in: xml, range: NSRange(xml.startIndex..., in: xml)).compactMap {
            Range($0.range(at: 1), in: xml).map { "/io/tessera/Agent1/flows/\(xml[$0])" }
        }
    }

    /// Right click on the icon, then Down and Return in the menu; retried once, as the menu maps
    /// asynchronously and a key pressed before it shows goes nowhere.
    func chooseFirstMenuEntry(at icon: (x: Int, y: Int)) async throws {
        for attempt in 0..<3 {
            try await desktop.xdotool(["mousemove", "\(icon.x)", "\(icon.y)", "click", "3"])
            try await Task.sleep(for: .milliseconds(400 + 300 * attempt))
            try await desktop.xdotool(["key", "Down", "Return"])
            do {
                try await eventually("a flow object after choosing the menu entry", timeout: .seconds(3)) {
                    try await !flowPaths().isEmpty
                }
                return
            } catch {
                try await desktop.xdotool(["key", "Escape"])
            }
        }
        throw TestSupportError.timedOut("choosing the account in the tray menu started no login\n\(world.agent.log())")
    }

    static func centre(of pixels: [(x: Int, y: Int)]) -> (x: Int, y: Int)? {
        guard let minX = pixels.map(\.x).min(), let maxX = pixels.map(\.x).max(),
              let minY = pixels.map(\.y).min(), let maxY = pixels.map(\.y).max() else { return nil }
        return ((minX + maxX) / 2, (minY + maxY) / 2)
    }
}

extension Screenshot {
    func pixels(_ colour: TrayColour) -> [(x: Int, y: Int)] {
        pixels(red: colour.red, green: colour.green, blue: colour.blue)
    }
}
