import DBus
import TesseraCore

/// The two exported objects of the tray: the item's properties, methods and signals as the
/// StatusNotifierItem spec (KDE/freedesktop draft) names them, and the dbusmenu protocol (version 3)
/// as libdbusmenu hosts speak it.
extension Tray {
    static let pixmapSignature: Signature = "a(iiay)"

    func itemInterface() -> ExportedInterface {
        var item = ExportedInterface(Self.itemInterface)
        func constant(_ name: MemberName, _ value: DBusValue) {
            item.property(name, value.signature, changeSignal: .const, get: { value })
        }
        // Hosts learn of changes through the New* signals, not PropertiesChanged.
        func changing(_ name: MemberName, _ signature: Signature, _ get: @escaping @Sendable () -> DBusValue) {
            item.property(name, signature, changeSignal: .none, get: { get() })
        }
        constant("Category", .string("ApplicationStatus"))
        constant("Id", .string("tessera"))
        constant("Title", .string("Tessera"))
        constant("WindowId", .int32(0))
        constant("IconThemePath", .string(""))
        constant("ItemIsMenu", .bool(false))
        constant("Menu", .objectPath(Self.menuPath))
        constant("OverlayIconName", .string(""))
        constant("OverlayIconPixmap", TrayIcon.dbusValue([]))
        constant("AttentionIconName", .string("tessera-attention"))
        constant("AttentionIconPixmap", TrayIcon.dbusValue(TrayIcon.pixmaps(attention: true)))
        constant("AttentionMovieName", .string(""))
        changing("Status", "s") { [self] in .string(snapshot.status.rawValue) }
        changing("IconName", "s") { [self] in
            .string(snapshot.status == .needsAttention ? "tessera-attention" : "tessera")
        }
        // The attention picture is also the normal one while attention is needed: hosts that
        // ignore AttentionIconPixmap still show the orange tile.
        changing("IconPixmap", Self.pixmapSignature) { [self] in
            TrayIcon.dbusValue(TrayIcon.pixmaps(attention: snapshot.status == .needsAttention))
        }
        changing("ToolTip", "(sa(iiay)ss)") { [self] in toolTip() }

        item.method("Activate", inputs: [Argument("x", "i"), Argument("y", "i")]) { [self] _ in activate(); return [] }
        // Nothing sensible to do on a middle click, a wheel turn or a request for a context menu
        // (the host shows Menu); answering keeps hosts from reporting errors.
        item.method("SecondaryActivate", inputs: [Argument("x", "i"), Argument("y", "i")]) { _ in [] }
        item.method("ContextMenu", inputs: [Argument("x", "i"), Argument("y", "i")]) { _ in [] }
        item.method("Scroll", inputs: [Argument("delta", "i"), Argument("orientation", "s")]) { _ in [] }

        for name: MemberName in ["NewTitle", "NewIcon", "NewAttentionIcon", "NewOverlayIcon", "NewToolTip"] {
            item.signal(name)
        }
        item.signal("NewStatus", arguments: [Argument("status", "s")])
        return item
    }

    private func toolTip() -> DBusValue {
        .structure([.string(""), TrayIcon.dbusValue([]), .string("Tessera"), .string(Self.toolTipBody(snapshot.accounts))])
    }

    /// Tooltip bodies may be rendered as markup: account names are escaped (all five characters
    /// XML reserves, by the project's one escaping function).
    static func toolTipBody(_ accounts: [TrayAccount]) -> String {
        accounts.isEmpty ? "No accounts" : accounts.map { XMLText.escape($0.label) }.joined(separator: "\n")
    }

    func menuInterface() -> ExportedInterface {
        var menu = ExportedInterface(Self.menuInterface)
        menu.property("Version", "u", changeSignal: .const, get: { .uint32(Self.menuVersion) })
        menu.property("TextDirection", "s", changeSignal: .const, get: { .string("ltr") })
        menu.property("Status", "s", changeSignal: .const, get: { .string("normal") })
        menu.property("IconThemePath", "as", changeSignal: .const, get: { .array(of: "s", []) })

        menu.method("GetLayout", inputs: [Argument("parentId", "i"), Argument("recursionDepth", "i"),
                                          Argument("propertyNames", "as")],
                    outputs: [Argument("revision", "u"), Argument("layout", "(ia{sv}av)")]) { [self] call in
            let (parent, depth, names) = try call.arguments.decode(Int32.self, Int32.self, [String].self)
            await readIfNeverRead()
            let menu = snapshot.menu
            return [.uint32(menu.revision), try menu.layout(parent: parent, depth: depth, propertyNames: names)]
        }
        menu.method("GetGroupProperties", inputs: [Argument("ids", "ai"), Argument("propertyNames", "as")],
                    outputs: [Argument("properties", "a(ia{sv})")]) { [self] call in
            let (ids, names) = try call.arguments.decode([Int32].self, [String].self)
            return [snapshot.menu.groupProperties(ids: ids, propertyNames: names)]
        }
        menu.method("GetProperty", inputs: [Argument("id", "i"), Argument("name", "s")],
                    outputs: [Argument("value", "v")]) { [self] call in
            let (id, name) = try call.arguments.decode(Int32.self, String.self)
            guard let value = snapshot.menu.items[id]?.properties[name] else {
                throw DBusError.remote(name: .invalidArgs, message: "the tray menu has no property \(name) on item \(id)")
            }
            return [.variant(value)]
        }
        menu.method("Event", inputs: [Argument("id", "i"), Argument("eventId", "s"), Argument("data", "v"),
                                      Argument("timestamp", "u")]) { [self] call in
            guard case .int32(let id) = call.arguments[0], case .string(let event) = call.arguments[1] else { return [] }
            guard handle(event: event, on: id) else {
                throw DBusError.remote(name: .invalidArgs, message: "the tray menu has no item \(id)")
            }
            return []
        }
        menu.method("EventGroup", inputs: [Argument("events", "a(isvu)")],
                    outputs: [Argument("idErrors", "ai")]) { [self] call in
            guard case .array(_, let events) = call.arguments[0] else { return [.array(of: "i", [])] }
            var unknown: [DBusValue] = []
            for case .structure(let fields) in events {
                guard case .int32(let id) = fields[0], case .string(let event) = fields[1] else { continue }
                if !handle(event: event, on: id) { unknown.append(.int32(id)) }
            }
            if !events.isEmpty && unknown.count == events.count {
                throw DBusError.remote(name: .invalidArgs, message: "the tray menu has none of the items in the event group")
            }
            return [.array(of: "i", unknown)]
        }
        menu.method("AboutToShow", inputs: [Argument("id", "i")], outputs: [Argument("needUpdate", "b")]) { [self] _ in
            await readIfNeverRead()
            aboutToShow()
            return [.bool(false)]
        }
        menu.method("AboutToShowGroup", inputs: [Argument("ids", "ai")],
                    outputs: [Argument("updatesNeeded", "ai"), Argument("idErrors", "ai")]) { [self] call in
            let ids = try call.arguments.decode([Int32].self)
            let items = snapshot.menu.items
            aboutToShow()
            return [.array(of: "i", []), .array(of: "i", ids.filter { items[$0] == nil }.map { .int32($0) })]
        }

        menu.signal("ItemsPropertiesUpdated", arguments: [Argument("updatedProps", "a(ia{sv})"),
                                                          Argument("removedProps", "a(ias)")])
        menu.signal("LayoutUpdated", arguments: [Argument("revision", "u"), Argument("parent", "i")])
        menu.signal("ItemActivationRequested", arguments: [Argument("id", "i"), Argument("timestamp", "u")])
        return menu
    }

    /// A menu event; false when the item does not exist. Only "clicked" does anything.
    private func handle(event: String, on id: Int32) -> Bool {
        guard let item = snapshot.menu.items[id] else { return false }
        if event == "clicked", let action = item.action { perform(action) }
        return true
    }

    /// The menu answers at once from what it has; a fresh look at the keyring follows, and a
    /// LayoutUpdated if it changed anything (e.g. a login removed with secret-tool).
    private func aboutToShow() { requestRefresh() }
}
