import DBus
import Logging
import Synchronization
import TesseraAPI
import TesseraCore

/// The tray icon: a StatusNotifierItem (`org.kde.StatusNotifierItem` at `/StatusNotifierItem`)
/// with a `com.canonical.dbusmenu` menu at `/MenuBar`, on the service's own connection.
///
/// It registers with `org.kde.StatusNotifierWatcher` whenever that name gets an owner (a panel
/// starting late or restarting); with no tray host the service runs as before. Its picture of the
/// accounts comes from the agent (`listAccounts`), refreshed when the agent signals LoginRequired,
/// LoginCompleted or AccountsChanged and when the menu is about to open — the tray listens to the
/// agent's own D-Bus signals like any other client, so it needs no hook inside the agent.
public final class Tray: Sendable {
    public static let itemPath: ObjectPath = "/StatusNotifierItem"
    public static let menuPath: ObjectPath = "/MenuBar"
    public static let itemInterface: InterfaceName = "org.kde.StatusNotifierItem"
    public static let menuInterface: InterfaceName = "com.canonical.dbusmenu"
    public static let watcherName: BusName = "org.kde.StatusNotifierWatcher"
    public static let watcherPath: ObjectPath = "/StatusNotifierWatcher"
    public static let watcherInterface: InterfaceName = "org.kde.StatusNotifierWatcher"
    /// The dbusmenu protocol version we speak: hosts then use EventGroup and AboutToShowGroup.
    static let menuVersion: UInt32 = 3

    public enum Status: String, Sendable {
        case active = "Active"
        case needsAttention = "NeedsAttention"
    }

    struct State {
        var accounts: [TrayAccount] = []
        var questions: [PendingConsent] = []
        var ids = TrayMenuIDs()
        var menu: TrayMenu
        var revision: UInt32 = 1
        var tasks: [Task<Void, Never>] = []
        var stopped = false
        /// False until the first refresh: the accounts' login state is read from the keyring only
        /// once something shows the tray (see `start()`).
        var read = false

        init() { menu = TrayMenu(accounts: [], ids: &ids, revision: 1) }

        var status: Status {
            accounts.contains { $0.state == .loginRequired } || !questions.isEmpty ? .needsAttention : .active
        }
    }

    let connection: Connection
    let agent: Agent
    let logger: Logger
    let quit: @Sendable () -> Void
    /// The consent questions the menu lists and answers; nil in a tray without one.
    let consent: ConsentGate?
    let state = Mutex(State())
    private let refreshRequests: AsyncStream<Void>.Continuation
    private let refreshStream: AsyncStream<Void>

    /// - Parameter quit: what the menu's "Quit" does (stop the service).
    public init(connection: Connection, agent: Agent, logger: Logger, consent: ConsentGate? = nil,
                quit: @escaping @Sendable () -> Void) {
        self.consent = consent
        self.connection = connection
        self.agent = agent
        self.logger = logger
        self.quit = quit
        // Requests coalesce: one refresh reads the latest state, however many signals came meanwhile.
        (refreshStream, refreshRequests) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Exports the item and its menu and starts watching for a tray host. Problems are logged, never
    /// fatal: the tray is a convenience and the service works without it.
    public func start() async {
        // No keyring read here: the login states are read when a tray host registers the icon, when
        // the menu is first asked for, or when the accounts change. A service that only hands out
        // tokens (no panel, as on a server or in a script's session) then never loads the keyring
        // library's pages for the tray — about 3 MiB of its resident memory at start.
        do {
            try await connection.export(itemInterface(), at: Self.itemPath)
            try await connection.export(menuInterface(), at: Self.menuPath)
        } catch {
            logger.error("cannot export the tray icon: \(error)")
            return
        }
        let refresher = Task { [self] in
            for await _ in refreshStream { await refresh() }
        }
        let agentSignals: AsyncStream<SignalMessage>
        let watcherChanges: AsyncStream<NameOwnerChange>
        do {
            agentSignals = try await connection.signals(matching: MatchRule(
                sender: connection.uniqueName, path: AgentContract.objectPath, interface: AgentContract.interfaceName))
            watcherChanges = try await connection.nameOwnerChanges(for: Self.watcherName)
        } catch {
            refresher.cancel()
            logger.error("cannot watch for a tray host: \(error)")
            return
        }
        let listener = Task { [self] in
            for await signal in agentSignals where Self.changesAccounts(signal.member) { requestRefresh() }
        }
        let questions = Task { [self] in
            guard let consent else { return }
            for await _ in consent.pendingChanges { requestRefresh() }
        }
        let watcher = Task { [self] in
            if (try? await connection.nameOwner(of: Self.watcherName)) != nil {
                await register()
            } else {
                logger.info("no tray host (\(Self.watcherName) is not on the bus); the tray icon appears when a panel with a system tray starts")
            }
            for await change in watcherChanges where change.newOwner != nil { await register() }
        }
        let started = state.withLock { state in
            guard !state.stopped else { return false }
            state.tasks = [refresher, listener, watcher, questions]
            return true
        }
        if !started { [refresher, listener, watcher, questions].forEach { $0.cancel() } }
    }

    /// Removes the icon (hosts drop an item whose object is gone) and stops listening.
    public func stop() async {
        let tasks = state.withLock { state in
            state.stopped = true
            defer { state.tasks = [] }
            return state.tasks
        }
        tasks.forEach { $0.cancel() }
        refreshRequests.finish()
        _ = await connection.unexport(Self.itemPath)
        _ = await connection.unexport(Self.menuPath)
    }

    static func changesAccounts(_ member: MemberName) -> Bool {
        [AgentSignal.loginRequired, .loginCompleted, .accountsChanged].contains { AgentContract.member($0) == member }
    }

    func requestRefresh() { refreshRequests.yield() }

    // MARK: Watcher

    private func register() async {
        await readIfNeverRead()
        do {
            // Registering our unique name: every watcher then looks for the item at /StatusNotifierItem.
            _ = try await connection.call(destination: Self.watcherName, path: Self.watcherPath,
                                          interface: Self.watcherInterface, member: "RegisterStatusNotifierItem",
                                          arguments: [.string(connection.uniqueName.rawValue)], timeout: .seconds(10))
            logger.info("tray icon registered with \(Self.watcherName)")
        } catch {
            logger.warning("the tray host refused the tray icon: \(error)")
        }
    }

    // MARK: State

    /// Re-reads the accounts and tells the host what changed.
    func refresh() async {
        state.withLock { $0.read = true }
        let accounts = await agent.listAccounts().map { status in
            TrayAccount(name: status.account.name,
                        state: status.loggedIn.map { $0 ? .loggedIn : .loginRequired } ?? .unknown)
        }
        let questions = consent?.pending ?? []
        let change = state.withLock { state -> (revision: UInt32, status: Status, statusChanged: Bool)? in
            guard accounts != state.accounts || questions != state.questions else { return nil }
            let before = state.status
            state.accounts = accounts
            state.questions = questions
            state.revision &+= 1
            state.menu = TrayMenu(accounts: accounts, questions: questions, ids: &state.ids, revision: state.revision)
            return (state.revision, state.status, state.status != before)
        }
        guard let change else { return }
        do {
            try await connection.emit(path: Self.menuPath, interface: Self.menuInterface, member: "LayoutUpdated",
                                      arguments: [.uint32(change.revision), .int32(TrayMenu.rootID)])
            try await connection.emit(path: Self.itemPath, interface: Self.itemInterface, member: "NewToolTip")
            if change.statusChanged {
                try await connection.emit(path: Self.itemPath, interface: Self.itemInterface, member: "NewStatus",
                                          arguments: [.string(change.status.rawValue)])
                try await connection.emit(path: Self.itemPath, interface: Self.itemInterface, member: "NewIcon")
                try await connection.emit(path: Self.itemPath, interface: Self.itemInterface, member: "NewAttentionIcon")
            }
        } catch {
            // Not exported yet (the first refresh) or the bus is gone: nothing to tell.
            logger.debug("tray change not signalled: \(error)")
        }
    }

    /// The first read, for a host or client asking before anything else refreshed the tray.
    func readIfNeverRead() async {
        if !state.withLock({ $0.read }) { await refresh() }
    }

    var snapshot: (accounts: [TrayAccount], menu: TrayMenu, status: Status) {
        state.withLock { ($0.accounts, $0.menu, $0.status) }
    }

    // MARK: Actions

    func perform(_ action: TrayAction) {
        switch action {
        case .quit:
            logger.notice("quit chosen in the tray menu; stopping")
            quit()
        case .login(let account):
            startLogin(account)
        case .consent(let question, let allow):
            logger.notice("consent question \(question) answered from the tray: \(allow ? "allow once" : "deny")")
            consent?.answer(question, allow: allow)
        }
    }

    /// Starts the account's login the way StartDeviceFlow does (device flow or mytoken consent,
    /// with its notification); an already pending login is reused rather than doubled.
    func startLogin(_ account: String) {
        Task { [agent, logger] in
            do throws(AgentError) {
                let flow = try await agent.startDeviceFlow(account: account, scopes: nil, notify: true)
                logger.info("login of \(account) started from the tray (flow \(flow.number))")
            } catch {
                logger.warning("cannot start the login of \(account) from the tray: \(error.message)")
            }
        }
    }

    /// Activate: the first account that needs a login, if any.
    func activate() {
        guard let account = snapshot.accounts.first(where: { $0.state == .loginRequired }) else { return }
        startLogin(account.name)
    }
}
