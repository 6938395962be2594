import DBus
import FoundationEssentials
import Logging
import QRCode
import Synchronization
import TesseraAPI
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
        /// An `ask` consent question: shown with its actions; the continuation gets the answer.
        case askConsent(ConsentQuestion, CheckedContinuation<ConsentAnswer, Never>)
        /// A question's wait is over (timeout) or it was answered elsewhere (the tray).
        case settleConsent(number: Int, ConsentAnswer)
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

    /// Asks the user through a notification with "Allow once", "Always allow" (when the program
    /// can be named) and "Deny"; returns the answer, `.dismissed` when the notification is closed
    /// without one, `.timedOut` after `timeout`, `.unavailable` without a notification server that
    /// shows actions.
    func ask(_ question: ConsentQuestion, timeout: Duration) async -> ConsentAnswer {
        let events = self.events
        Task {
            try? await Task.sleep(for: timeout)
            events.yield(.settleConsent(number: question.number, .timedOut))
        }
        return await withCheckedContinuation { continuation in
            events.yield(.askConsent(question, continuation))
        }
    }

    /// Answers a question from elsewhere (the tray menu); its notification is closed.
    func settle(question number: Int, _ answer: ConsentAnswer) {
        events.yield(.settleConsent(number: number, answer))
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
        /// Consent questions waiting for an answer, by question number, and their notifications.
        var questions: [Int: (notification: UInt32?, answer: CheckedContinuation<ConsentAnswer, Never>)] = [:]
        var questionOfNotification: [UInt32: Int] = [:]
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
                case .askConsent(let question, let continuation):
                    await showQuestion(question, continuation)
                case .settleConsent(let number, let answer):
                    await settle(number, answer, close: true)
                case .actionInvoked(let id, let action):
                    if let number = questionOfNotification[id] {
                        // An unknown action key from the server counts as no consent.
                        let answer: ConsentAnswer = switch ConsentAction(rawValue: action) {
                        case .allowOnce?: .allowOnce
                        case .alwaysAllow?: .alwaysAllow
                        case .deny?, nil: .denied
                        }
                        await settle(number, answer, close: true)
                    }
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
                    // Closed without an action (dismissed, expired): a denial.
                    if let number = questionOfNotification[id] { await settle(number, .dismissed, close: false) }
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
                // One stream for both signals, so they arrive in the server's order: a server closes
                // a notification right after its action, and a consent answer must not be taken
                // for a dismissal.
                let signals = try await connection.signals(matching: MatchRule(
                    sender: Notifier.service, path: Notifier.path, interface: Notifier.interface))
                let events = self.events
                Task {
                    for await signal in signals {
                        switch signal.member.rawValue {
                        case "ActionInvoked":
                            guard let (id, action) = try? signal.arguments.decode(UInt32.self, String.self) else { continue }
                            events.yield(.actionInvoked(id: id, action: action))
                        case "NotificationClosed":
                            guard let (id, _) = try? signal.arguments.decode(UInt32.self, UInt32.self) else { continue }
                            events.yield(.closed(id: id))
                        default:
                            continue
                        }
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

        private func showQuestion(_ question: ConsentQuestion, _ continuation: CheckedContinuation<ConsentAnswer, Never>) async {
            guard let capabilities = await serverCapabilities(), capabilities.contains("actions") else {
                continuation.resume(returning: .unavailable)
                return
            }
            questions[question.number] = (notification: nil, answer: continuation)
            let markup = capabilities.contains("body-markup")
            let actions = question.actions.flatMap { [$0.rawValue, $0.label] }
            let id = await notify(replacing: 0, summary: question.summary,
                                  body: markup ? XMLText.escape(question.body) : question.body, actions: actions,
                                  hints: ["urgency": .byte(2), "desktop-entry": .string("tessera"), "category": .string("network")],
                                  timeout: 0)
            guard questions[question.number] != nil else {
                // Settled (timed out) while the server was being asked.
                if let id { await close(id) }
                return
            }
            guard let id else {
                await settle(question.number, .unavailable, close: false)
                return
            }
            questions[question.number]?.notification = id
            questionOfNotification[id] = question.number
        }

        /// Gives a waiting question its answer, once; later answers for it are ignored.
        private func settle(_ number: Int, _ answer: ConsentAnswer, close closing: Bool) async {
            guard let question = questions.removeValue(forKey: number) else { return }
            question.answer.resume(returning: answer)
            guard let id = question.notification else { return }
            questionOfNotification[id] = nil
            if closing { await close(id) }
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
