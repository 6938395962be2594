import DBus
import FoundationEssentials
import Logging
import QRCode
import Synchronization
import TesseraCore

/// Desktop notifications for logins (org.freedesktop.Notifications) and opening the verification
/// page (the OpenURI portal, else `xdg-open`).
///
/// Everything runs through one queue consumed by one task, so a slow or absent notification server
/// never delays a D-Bus reply, and "show", "replace", "close" and action clicks for a flow happen
/// in order. Only the account name, the verification URI and the user code are ever shown — no
/// token, no device code.
public final class Notifier: Sendable {
    enum Event: Sendable {
        case loginStarted(flow: Int, account: String, userCode: String, uri: String, completeURI: String?, requestedBy: String?)
        case loginFinished(flow: Int, account: String, outcome: Outcome)
        case loginExpired(account: String)
        case actionInvoked(id: UInt32, action: String)
        case closed(id: UInt32)
    }

    enum Outcome: Sendable {
        case completed
        case cancelled
        case failed(String)
    }

    static let service: BusName = "org.freedesktop.Notifications"
    static let path: ObjectPath = "/org/freedesktop/Notifications"
    static let interface: InterfaceName = "org.freedesktop.Notifications"
    static let callTimeout: Duration = .seconds(3)
    /// How long the success/failure notification stays before the agent closes it.
    static let resultLifetime: Duration = .seconds(8)

    private let events: AsyncStream<Event>.Continuation
    /// What the "Log in" action of a "Log in to NAME again" notification does (set by the agent
    /// object: it starts the device flow, whose own notification then shows the code).
    private let relogin = ReloginAction()

    public init(connection: Connection, logger: Logger) {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        events = continuation
        let relogin = self.relogin
        let worker = Worker(connection: connection, logger: logger, events: continuation,
                            relogin: { account in await relogin.handler.withLock { $0 }?(account) })
        Task { await worker.run(stream) }
    }

    func setReloginHandler(_ handler: @escaping @Sendable (String) async -> Void) {
        relogin.handler.withLock { $0 = handler }
    }

    /// "Log in to NAME again", with a "Log in" action: the provider ended the login.
    func loginExpired(account: String) {
        events.yield(.loginExpired(account: account))
    }

    func loginStarted(_ flow: Login) {
        events.yield(.loginStarted(flow: flow.number, account: flow.account, userCode: flow.userCode,
                                   uri: flow.verificationURI.absoluteString,
                                   completeURI: flow.verificationURIComplete?.absoluteString, requestedBy: flow.requestedBy))
    }

    /// "the login failed" → "The login failed." for a notification body.
    static func sentence(_ text: String) -> String {
        text.prefix(1).uppercased() + text.dropFirst() + "."
    }

    func loginFinished(_ flow: Login) {
        let outcome: Outcome = switch flow.state {
        case .completed: .completed
        case .cancelled: .cancelled
        case .denied, .expired: .failed(Self.sentence(flow.state.summary))
        case .pending, .failed: .failed(flow.failure?.message ?? Self.sentence(flow.state.summary))
        }
        events.yield(.loginFinished(flow: flow.number, account: flow.account, outcome: outcome))
    }

    func stop() { events.finish() }

    private actor Worker {
        let connection: Connection
        let logger: Logger
        let events: AsyncStream<Event>.Continuation
        var capabilities: Set<String>?
        var serverMissingLogged = false
        var listening = false
        /// flow number → notification id
        var notifications: [Int: UInt32] = [:]
        /// notification id → URI its default action opens
        var targets: [UInt32: String] = [:]
        /// "Log in again" notifications: account → id, and id → account its action logs in.
        var expired: [String: UInt32] = [:]
        var reloginTargets: [UInt32: String] = [:]
        let relogin: @Sendable (String) async -> Void

        init(connection: Connection, logger: Logger, events: AsyncStream<Event>.Continuation,
             relogin: @escaping @Sendable (String) async -> Void) {
            self.connection = connection
            self.logger = logger
            self.events = events
            self.relogin = relogin
        }

        func run(_ stream: AsyncStream<Event>) async {
            for await event in stream {
                switch event {
                case .loginStarted(let flow, let account, let userCode, let uri, let completeURI, let requestedBy):
                    await showLogin(flow: flow, account: account, userCode: userCode, uri: uri, completeURI: completeURI,
                                    requestedBy: requestedBy)
                case .loginFinished(let flow, let account, let outcome):
                    await finishLogin(flow: flow, account: account, outcome: outcome)
                case .loginExpired(let account):
                    await showExpired(account: account)
                case .actionInvoked(let id, let action):
                    if action == "default", let target = targets[id] { await URIOpener.open(target, connection: connection, logger: logger) }
                    if action == "default", let account = reloginTargets.removeValue(forKey: id) {
                        expired[account] = nil
                        await close(id)
                        logger.info("\"Log in\" chosen on the notification for \(account)")
                        // Its own task: the login's notifications come through this same queue.
                        let relogin = self.relogin
                        Task { await relogin(account) }
                    }
                case .closed(let id):
                    targets[id] = nil
                    if let account = reloginTargets.removeValue(forKey: id) { expired[account] = nil }
                }
            }
        }

        private func listen() async {
            guard !listening else { return }
            listening = true
            do {
                // sender: only from the server's current owner (the connection checks it); a forged
                // ActionInvoked would otherwise open a page.
                let invoked = try await connection.signals(matching: MatchRule(
                    sender: Notifier.service, path: Notifier.path, interface: Notifier.interface, member: "ActionInvoked"))
                let closed = try await connection.signals(matching: MatchRule(
                    sender: Notifier.service, path: Notifier.path, interface: Notifier.interface, member: "NotificationClosed"))
                let events = self.events
                Task {
                    for await signal in invoked {
                        guard let (id, action) = try? signal.arguments.decode(UInt32.self, String.self) else { continue }
                        events.yield(.actionInvoked(id: id, action: action))
                    }
                }
                Task {
                    for await signal in closed {
                        guard let (id, _) = try? signal.arguments.decode(UInt32.self, UInt32.self) else { continue }
                        events.yield(.closed(id: id))
                    }
                }
            } catch {
                logger.warning("cannot listen for notification actions: \(error)")
            }
        }

        /// The server's capabilities, asked once; nil when there is no notification server.
        private func serverCapabilities() async -> Set<String>? {
            if let capabilities { return capabilities }
            do {
                let reply = try await connection.call(destination: Notifier.service, path: Notifier.path,
                                                      interface: Notifier.interface, member: "GetCapabilities",
                                                      timeout: Notifier.callTimeout)
                let list = try reply.decode([String].self)
                capabilities = Set(list)
                await listen()
                return capabilities
            } catch {
                if !serverMissingLogged {
                    logger.notice("no notification server (\(error)); logins are shown only to D-Bus clients")
                    serverMissingLogged = true
                }
                return nil
            }
        }

        private func showLogin(flow: Int, account: String, userCode: String, uri: String, completeURI: String?,
                               requestedBy: String?) async {
            guard let capabilities = await serverCapabilities() else { return }
            let markup = capabilities.contains("body-markup")
            let target = completeURI ?? uri
            // A mytoken login has no code: the user only gives consent on the server's page.
            var body = userCode.isEmpty
                ? "Give your consent at \(markup ? XMLText.escape(uri) : uri)"
                : markup
                ? "Enter the code <b>\(XMLText.escape(userCode))</b> at \(XMLText.escape(uri))"
                : "Enter the code \(userCode) at \(uri)"
            // The program as the bus vouches for it, so the user can tell who wants the login.
            if let requestedBy { body += "\nRequested by \(markup ? XMLText.escape(requestedBy) : requestedBy)" }
            var actions: [String] = []
            if capabilities.contains("actions") { actions = ["default", "Open in browser"] }
            var hints: [String: DBusValue] = [
                "urgency": .byte(1),
                "desktop-entry": .string("tessera"),
                "category": .string("network"),
            ]
            if let image = try? QRCode(target, correction: .medium).image(scale: 3, quietZone: 4) {
                hints["image-data"] = .structure([
                    .int32(Int32(image.width)), .int32(Int32(image.height)), .int32(Int32(image.rowstride)),
                    .bool(image.hasAlpha), .int32(Int32(RGBAImage.bitsPerSample)), .int32(Int32(RGBAImage.channels)),
                    .array(of: "y", image.pixels.map { .byte($0) }),
                ])
            }
            if let id = await notify(replacing: notifications[flow] ?? 0, summary: "Log in to \(account)", body: body,
                                     actions: actions, hints: hints, timeout: 0) {
                notifications[flow] = id
                targets[id] = target
            }
        }

        /// oidc-agent's re-authenticate prompt, without a password: one notification per account,
        /// replaced (not stacked) if the login is lost again, closed when its action is chosen.
        private func showExpired(account: String) async {
            guard let capabilities = await serverCapabilities() else { return }
            let markup = capabilities.contains("body-markup")
            let name = markup ? XMLText.escape(account) : account
            let actions = capabilities.contains("actions") ? ["default", "Log in"] : []
            let body = "The provider no longer accepts the login of \(name)."
                + (actions.isEmpty ? " Run: tessera login \(name)" : "")
            if let id = await notify(replacing: expired[account] ?? 0, summary: "Log in to \(account) again", body: body,
                                     actions: actions,
                                     hints: ["urgency": .byte(1), "desktop-entry": .string("tessera"), "category": .string("network")],
                                     timeout: 0) {
                expired[account] = id
                reloginTargets[id] = account
            }
        }

        private func finishLogin(flow: Int, account: String, outcome: Outcome) async {
            guard let id = notifications.removeValue(forKey: flow) else { return }
            targets[id] = nil
            let summary: String, body: String
            switch outcome {
            case .cancelled:
                await close(id)
                return
            case .completed:
                (summary, body) = ("Logged in to \(account)", "Tessera keeps the login in your keyring.")
            case .failed(let message):
                (summary, body) = ("Login to \(account) failed", message)
            }
            let markup = capabilities?.contains("body-markup") ?? false
            guard let replaced = await notify(replacing: id, summary: summary, body: markup ? XMLText.escape(body) : body,
                                              actions: [], hints: ["urgency": .byte(1), "desktop-entry": .string("tessera")],
                                              timeout: Int32(Notifier.resultLifetime.components.seconds * 1000))
            else { return }
            // Servers may ignore the timeout; close it ourselves so nothing stale stays on screen.
            let connection = self.connection
            Task {
                try? await Task.sleep(for: Notifier.resultLifetime)
                _ = try? await connection.call(destination: Notifier.service, path: Notifier.path, interface: Notifier.interface,
                                               member: "CloseNotification", arguments: [.uint32(replaced)],
                                               timeout: Notifier.callTimeout)
            }
        }

        private func notify(replacing: UInt32, summary: String, body: String, actions: [String],
                            hints: [String: DBusValue], timeout: Int32) async -> UInt32? {
            do {
                let reply = try await connection.call(
                    destination: Notifier.service, path: Notifier.path, interface: Notifier.interface, member: "Notify",
                    arguments: [
                        .string("Tessera"), .uint32(replacing), .string("dialog-password"), .string(summary), .string(body),
                        .array(of: "s", actions.map { .string($0) }), .dictionary(hints), .int32(timeout),
                    ],
                    timeout: Notifier.callTimeout)
                return try reply.decode(UInt32.self)
            } catch {
                logger.warning("the notification server refused a notification: \(error)")
                return nil
            }
        }

        private func close(_ id: UInt32) async {
            _ = try? await connection.call(destination: Notifier.service, path: Notifier.path, interface: Notifier.interface,
                                           member: "CloseNotification", arguments: [.uint32(id)], timeout: Notifier.callTimeout)
        }
    }
}

/// The handler of the "Log in" action, set after the notifier exists.
private final class ReloginAction: Sendable {
    let handler = Mutex<(@Sendable (String) async -> Void)?>(nil)
}
