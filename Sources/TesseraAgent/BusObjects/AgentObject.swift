import DBus
import FoundationEssentials
import Logging
import OIDC
import Synchronization
import TesseraAPI
import TesseraCore

extension AgentError: DBusErrorRepresentable {
    public var dbusErrorName: ErrorName { AgentContract.errorName(name) }
    public var dbusErrorMessage: String { message }
}

extension ArgumentError {
    var agentError: AgentError { .invalidArgument(field: field, reason: reason) }
}

/// The D-Bus face of the agent: `io.tessera.Agent1` at `/io/tessera/Agent1`, one
/// `io.tessera.DeviceFlow1` object per login, the agent's signals and the login notifications.
/// Arguments are checked here (every field named in `InvalidArgument`); the work is `Agent`'s.
public final class AgentObject: AgentObserver {
    /// How long a finished flow object stays exported so late clients can still read its State.
    static let finishedFlowLifetime: Duration = .seconds(60)
    static let maxTimeout: UInt32 = 3600

    let connection: Connection
    let agent: Agent
    let notifier: Notifier
    let logger: Logger
    let callers: CallerPolicy
    /// Per-application consent, checked by every method that hands out a token.
    public let consent: ConsentGate
    /// The oidc-agent socket's switch (GetSettings/SetSettings); nil in a service without one.
    let compatibility: CompatibilitySocket?
    private let notifyFlows = Mutex<Set<Int>>([])
    /// Logins for a new mytoken (`StartMytokenLogin`), by flow number, with the unique bus name of
    /// the caller that may take the mytoken.
    let newMytokenLogins = Mutex<[Int: (flow: Login, owner: String, server: URL)]>([:])
    /// Each account's token key for calls without scopes or audience (`defaultTokenKey`).
    let defaultTokenKeys = Mutex<[String: DefaultTokenKey]>([:])

    public init(connection: Connection, agent: Agent, logger: Logger, compatibility: CompatibilitySocket? = nil) {
        self.connection = connection
        self.agent = agent
        self.logger = logger
        self.compatibility = compatibility
        self.notifier = Notifier(connection: connection, logger: logger)
        self.callers = CallerPolicy(connection: connection, logger: logger)
        self.consent = ConsentGate(agent: agent, notifier: notifier, logger: logger)
        // "Log in" on a "Log in to NAME again" notification: the device flow, as the tray starts it.
        notifier.setReloginHandler { [agent, logger] account in
            do throws(AgentError) {
                _ = try await agent.startDeviceFlow(account: account, scopes: nil, notify: true,
                                                    requestedBy: "the \"Log in\" action of a notification")
            } catch {
                logger.warning("cannot start the login of \(account) from its notification: \(error.message)")
            }
        }
    }

    /// Exports the agent object (before the caller claims the bus name).
    public func export() async throws(DBusError) {
        try await callers.watchDepartures()
        let handlers: [MemberName: MethodHandler] = [
            AgentContract.member(.getToken): verified { [self] call, caller in try await getToken(call, caller) },
            AgentContract.member(.startDeviceFlow): verified { [self] call, caller in try await startDeviceFlow(call, caller) },
            AgentContract.member(.revoke): verified { [self] call, _ in try await revoke(call) },
            AgentContract.member(.addAccount): verified { [self] call, _ in try await addAccount(call) },
            AgentContract.member(.removeAccount): verified { [self] call, _ in try await removeAccount(call) },
            AgentContract.member(.listAccounts): verified { [self] _, _ in await listAccounts() },
            AgentContract.member(.loginWithPassword): verified { [self] call, _ in try await loginWithPassword(call) },
            AgentContract.member(.startBrowserLogin): verified { [self] call, caller in try await startBrowserLogin(call, caller) },
            AgentContract.member(.createMytoken): verified { [self] call, caller in try await createMytoken(call, caller) },
            AgentContract.member(.getTokenWithMytoken): verified { [self] call, _ in try await getTokenWithMytoken(call) },
            AgentContract.member(.exchangeTransferCode): verified { [self] call, _ in try await exchangeTransferCode(call) },
            AgentContract.member(.revokeMytoken): verified { [self] call, _ in try await revokeMytoken(call) },
            AgentContract.member(.listProviders): verified { [self] _, _ in listProviders() },
            AgentContract.member(.setAccount): verified { [self] call, _ in try await setAccount(call) },
            AgentContract.member(.renameAccount): verified { [self] call, _ in try await renameAccount(call) },
            AgentContract.member(.getIdToken): verified { [self] call, caller in try await getIdToken(call, caller) },
            AgentContract.member(.listMytokenTemplates): verified { [self] call, _ in try await listMytokenTemplates(call) },
            AgentContract.member(.mytokenInfo): verified { [self] call, _ in try await mytokenInfo(call) },
            AgentContract.member(.startMytokenLogin): verified { [self] call, caller in try await startMytokenLogin(call, caller) },
            AgentContract.member(.finishMytokenLogin): verified { [self] call, caller in try await finishMytokenLogin(call, caller) },
            AgentContract.member(.getSettings): verified { [self] _, _ in await getSettings() },
            AgentContract.member(.setSettings): verified { [self] call, _ in try await setSettings(call) },
            AgentContract.member(.getPolicy): verified { [self] call, _ in try getPolicy(call) },
            AgentContract.member(.setPolicy): verified { [self] call, caller in try await setPolicy(call, caller) },
            AgentContract.member(.setApplicationPolicy): verified { [self] call, caller in try await setApplicationPolicy(call, caller) },
            AgentContract.member(.forgetApplication): verified { [self] call, caller in try await forgetApplication(call, caller) },
        ]
        var interface = try ExportedInterface(AgentContract.agentInterface, methods: handlers,
                                              getters: [AgentContract.member(.version): { .string(Daemon.version) },
                                                        AgentContract.member(.providerProblems): { [self] in providerProblems() }])
        // A cached token for an already verified caller: answered on the bus thread, no task.
        try interface.answerImmediately(AgentContract.member(.getToken)) { [self] call in answerCachedToken(call) }
        try await connection.export(interface, at: AgentContract.objectPath)
    }

    /// Every method runs only for a caller of the service's own user (`NotPermitted` otherwise),
    /// and is logged with the program the bus vouches for.
    private func verified(_ handler: @escaping @Sendable (MethodCall, VerifiedCaller) async throws -> [DBusValue])
        -> MethodHandler
    {
        { [callers, logger] call in
            let caller = try await callers.verify(call.sender)
            // GetToken is the hot path (and the message is only built when debug is on); everything
            // else changes state and is worth a line.
            if call.member == AgentContract.member(.getToken) {
                logger.debug("\(call.member) from \(caller)")
            } else {
                logger.info("\(call.member) from \(caller)")
            }
            return try await handler(call, caller)
        }
    }

    // MARK: Arguments (the methods are in one file per area of the contract: +Tokens, +Accounts, +Logins, +Mytoken)

    func decodeOptions<T>(_ call: MethodCall, _ make: ([String: Variant]) throws(ArgumentError) -> T)
        throws(AgentError) -> (String, T)
    {
        let first: String, options: [String: Variant]
        do { (first, options) = try call.arguments.decode(String.self, [String: Variant].self) } catch {
            throw .invalidArgument(field: "arguments", reason: error.description)
        }
        do { return (first, try make(options)) } catch { throw error.agentError }
    }

    /// "/usr/bin/foo (pid 42)", plus the caller's own `application` hint, quoted as a claim.
    static func requester(_ caller: VerifiedCaller, application: String?) -> String {
        caller.describe(hint: application)
    }

    // MARK: AgentObserver

    public func flowStarted(_ flow: Login, notify: Bool) async {
        let path = AgentContract.flowPath(flow.number)
        do {
            let interface = try ExportedInterface(
                AgentContract.deviceFlowInterface,
                methods: [MemberName(stringLiteral: DeviceFlowMember.cancel): verified { _, _ in flow.cancel(); return [] }],
                getters: [
                    MemberName(stringLiteral: DeviceFlowMember.state): { .string(flow.state.rawValue) },
                    MemberName(stringLiteral: DeviceFlowMember.account): { .string(flow.account) },
                ])
            try await connection.export(interface, at: path)
        } catch {
            logger.error("cannot export the flow object \(path): \(error)")
        }
        if notify { notifier.loginStarted(flow) }
        notifyFlows.withLock { _ = notify ? $0.insert(flow.number) : nil }
    }

    public func flowFinished(_ flow: Login) async {
        let path = AgentContract.flowPath(flow.number)
        do {
            try await connection.emitPropertiesChanged(
                path: path, interface: AgentContract.deviceFlowInterfaceName,
                changed: [MemberName(stringLiteral: DeviceFlowMember.state): .string(flow.state.rawValue)])
            if flow.state == .completed {
                try await connection.emit(path: path, interface: AgentContract.deviceFlowInterfaceName,
                                          member: MemberName(stringLiteral: DeviceFlowMember.completed))
            } else {
                let failure = flow.failure ?? .cancelled("the login was cancelled")
                try await connection.emit(path: path, interface: AgentContract.deviceFlowInterfaceName,
                                          member: MemberName(stringLiteral: DeviceFlowMember.failed),
                                          arguments: [.string(failure.name.wireName), .string(failure.message)])
            }
        } catch {
            logger.warning("cannot signal the end of flow \(flow.number): \(error)")
        }
        if notifyFlows.withLock({ $0.remove(flow.number) }) != nil { notifier.loginFinished(flow) }
        let connection = self.connection
        Task {
            try? await Task.sleep(for: Self.finishedFlowLifetime)
            _ = await connection.unexport(path)
        }
    }

    public func loginRequired(account: String) async {
        await emit(.loginRequired, [.string(account)])
    }

    public func loginExpired(account: String) async {
        notifier.loginExpired(account: account)
    }

    public func loginCompleted(account: String) async {
        await emit(.loginCompleted, [.string(account)])
    }

    public func accountsChanged() async {
        await emit(.accountsChanged, [])
    }

    private func emit(_ signal: AgentSignal, _ arguments: [DBusValue]) async {
        do {
            try await connection.emit(path: AgentContract.objectPath, interface: AgentContract.interfaceName,
                                      member: AgentContract.member(signal), arguments: arguments)
        } catch {
            logger.warning("cannot emit \(signal.rawValue): \(error)")
        }
    }
}
