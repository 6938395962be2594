import DBus
import TesseraCore

/// What the tray knows of one account: enough for its menu entry and the icon's status.
public struct TrayAccount: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case loggedIn
        case loginRequired
        /// The keyring could not be asked (locked or absent): say so rather than guess.
        case unknown
    }

    public var name: String
    public var state: State

    public init(name: String, state: State) { self.name = name; self.state = state }

    public var label: String {
        switch state {
        case .loggedIn: "\(name) — logged in"
        case .loginRequired: "\(name) — login required"
        case .unknown: "\(name) — status unknown (keyring unavailable)"
        }
    }
}

/// What choosing a menu entry does.
public enum TrayAction: Sendable, Hashable {
    case login(account: String)
    /// Answers a waiting consent question: allow once, or deny.
    case consent(question: Int, allow: Bool)
    case quit
}

/// One entry of the `com.canonical.dbusmenu` tree.
public struct TrayMenuItem: Sendable, Hashable {
    public var id: Int32
    public var properties: [String: DBusValue]
    public var children: [Int32]
    public var action: TrayAction?
}

/// An immutable snapshot of the menu at one layout revision, answering the dbusmenu queries.
///
/// Ids stay with their account across revisions (a host may keep ids of an open menu), so they are
/// handed out by `TrayMenuIDs`, which lives as long as the tray.
public struct TrayMenu: Sendable {
    public static let rootID: Int32 = 0
    public let revision: UInt32
    public let items: [Int32: TrayMenuItem]

    static let quitID: Int32 = 1
    static let separatorID: Int32 = 2
    static let emptyID: Int32 = 3
    static let questionsSeparatorID: Int32 = 4

    /// Entries: the consent questions waiting for an answer ("Allow once: …", "Deny: …") and a
    /// separator, then one per account (enabled when choosing it can start a login), a separator, "Quit".
    public init(accounts: [TrayAccount], questions: [PendingConsent] = [], ids: inout TrayMenuIDs, revision: UInt32) {
        self.revision = revision
        var items: [Int32: TrayMenuItem] = [:]
        var rootChildren: [Int32] = []
        for question in questions {
            for allow in [true, false] {
                let id = ids.id(forQuestion: question.number, allow: allow)
                let label = "\(allow ? "Allow once" : "Deny"): \(question.text)"
                items[id] = TrayMenuItem(id: id, properties: [
                    "label": .string(Self.mnemonicSafe(label)),
                    "icon-name": .string(allow ? "emblem-ok-symbolic" : "action-unavailable-symbolic"),
                ], children: [], action: .consent(question: question.number, allow: allow))
                rootChildren.append(id)
            }
        }
        if !questions.isEmpty {
            items[Self.questionsSeparatorID] = TrayMenuItem(id: Self.questionsSeparatorID, properties: ["type": .string("separator")],
                                                            children: [], action: nil)
            rootChildren.append(Self.questionsSeparatorID)
        }
        if accounts.isEmpty {
            items[Self.emptyID] = TrayMenuItem(id: Self.emptyID, properties: [
                "label": .string(Self.mnemonicSafe("No accounts — add one with “tessera account add”")),
                "enabled": .bool(false),
            ], children: [], action: nil)
            rootChildren.append(Self.emptyID)
        }
        for account in accounts {
            let id = ids.id(for: account.name)
            let canLogIn = account.state != .loggedIn
            var properties: [String: DBusValue] = [
                "label": .string(Self.mnemonicSafe(account.label)),
                "enabled": .bool(canLogIn),
            ]
            if account.state == .loginRequired { properties["icon-name"] = .string("dialog-password") }
            items[id] = TrayMenuItem(id: id, properties: properties, children: [],
                                     action: canLogIn ? .login(account: account.name) : nil)
            rootChildren.append(id)
        }
        items[Self.separatorID] = TrayMenuItem(id: Self.separatorID, properties: ["type": .string("separator")],
                                               children: [], action: nil)
        items[Self.quitID] = TrayMenuItem(id: Self.quitID, properties: [
            "label": .string("Quit Tessera"), "icon-name": .string("application-exit"),
        ], children: [], action: .quit)
        rootChildren += [Self.separatorID, Self.quitID]
        items[Self.rootID] = TrayMenuItem(id: Self.rootID, properties: ["children-display": .string("submenu")],
                                          children: rootChildren, action: nil)
        self.items = items
    }

    /// dbusmenu labels treat `_` as a mnemonic marker; account names may contain it.
    static func mnemonicSafe(_ text: String) -> String {
        text.split(separator: "_", omittingEmptySubsequences: false).joined(separator: "__")
    }

    /// `GetLayout`'s `(ia{sv}av)` for `parent`, `depth` levels down (-1: all), with only the
    /// named properties (none named: all).
    public func layout(parent: Int32, depth: Int32, propertyNames: [String]) throws(DBusError) -> DBusValue {
        guard let item = items[parent] else {
            throw .remote(name: .invalidArgs, message: "the tray menu has no item \(parent)")
        }
        return node(item, depth: depth, propertyNames: propertyNames)
    }

    private func node(_ item: TrayMenuItem, depth: Int32, propertyNames: [String]) -> DBusValue {
        let children: [DBusValue] = depth == 0 ? [] : item.children.compactMap { id in
            items[id].map { .variant(node($0, depth: depth < 0 ? -1 : depth - 1, propertyNames: propertyNames)) }
        }
        return .structure([.int32(item.id), .dictionary(filtered(item.properties, propertyNames)),
                           .array(of: "v", children)])
    }

    /// `GetGroupProperties`' `a(ia{sv})`: the listed ids that exist (none listed: every item).
    public func groupProperties(ids: [Int32], propertyNames: [String]) -> DBusValue {
        let wanted = ids.isEmpty ? items.keys.sorted() : ids
        return .array(of: "(ia{sv})", wanted.compactMap { id in
            items[id].map { .structure([.int32(id), .dictionary(filtered($0.properties, propertyNames))]) }
        })
    }

    private func filtered(_ properties: [String: DBusValue], _ names: [String]) -> [String: DBusValue] {
        names.isEmpty ? properties : properties.filter { names.contains($0.key) }
    }
}

/// Stable menu ids per account name; fixed entries use the low ids.
public struct TrayMenuIDs: Sendable {
    private var byName: [String: Int32] = [:]
    private var next: Int32 = 10

    public init() {}

    /// A question's entries: keyed apart from account names (which cannot hold control characters).
    mutating func id(forQuestion number: Int, allow: Bool) -> Int32 {
        id(for: "\u{1}consent \(number) \(allow)")
    }

    mutating func id(for account: String) -> Int32 {
        if let id = byName[account] { return id }
        defer { next += 1 }
        byName[account] = next
        return next
    }
}
