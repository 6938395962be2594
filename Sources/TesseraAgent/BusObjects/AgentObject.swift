import DBus
import Foundation
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
    /// The oidc-agent socket's switch (GetSettings/SetSettings); nil in a service without one.
    let compatibility: CompatibilitySocket?
    private let notifyFlows = Mutex<Set<Int>>([])
    /// Logins for a new mytoken (`StartMytokenLogin`), by flow number, with the unique bus name of
    /// the caller that may take the mytoken.
    let newMytokenLogins = Mutex<[Int: (flow: DeviceFlow, owner: String, server: URL)]>([:])

    public init(connection: Connection, agent: Agent, logger: Logger, compatibility: CompatibilitySocket? = nil) {
        self.connection = connection
        self.agent = agent
        self.logger = logger
        self.compatibility = compatibility
        self.notifier = Notifier(connection: connection, logger: logger)
        self.callers = CallerPolicy(connection: connection, logger: logger)
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
            AgentContract.member(.createMytoken): verified { [self] call, _ in try await createMytoken(call) },
            AgentContract.member(.getTokenWithMytoken): verified { [self] call, _ in try await getTokenWithMytoken(call) },
            AgentContract.member(.exchangeTransferCode): verified { [self] call, _ in try await exchangeTransferCode(call) },
            AgentContract.member(.revokeMytoken): verified { [self] call, _ in try await revokeMytoken(call) },
            AgentContract.member(.listProviders): verified { [self] _, _ in listProviders() },
            AgentContract.member(.setAccount): verified { [self] call, _ in try await setAccount(call) },
            AgentContract.member(.renameAccount): verified { [self] call, _ in try await renameAccount(call) },
            AgentContract.member(.getIdToken): verified { [self] call, _ in try await getIdToken(call) },
            AgentContract.member(.listMytokenTemplates): verified { [self] call, _ in try await listMytokenTemplates(call) },
            AgentContract.member(.mytokenInfo): verified { [self] call, _ in try await mytokenInfo(call) },
            AgentContract.member(.startMytokenLogin): verified { [self] call, caller in try await startMytokenLogin(call, caller) },
            AgentContract.member(.finishMytokenLogin): verified { [self] call, caller in try await finishMytokenLogin(call, caller) },
            AgentContract.member(.getSettings): verified { [self] _, _ in await getSettings() },
            AgentContract.member(.setSettings): verified { [self] call, _ in try await setSettings(call) },
        ]
        let interface = try ExportedInterface(AgentContract.agentInterface, methods: handlers,
                                              getters: [AgentContract.member(.version): { .string(Daemon.version) },
                                                        AgentContract.member(.providerProblems): { [self] in providerProblems() }])
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

    // MARK: Methods

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
        application.map { "\(caller) (calls itself “\($0)”)" } ?? caller.description
    }

    private func getToken(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try GetTokenOptions(dbusOptions: options) }
        var request = TokenRequest(account: account)
        if let scopes = options.scopes { request.scopes = try Validate.words(scopes, field: GetTokenOption.scopes.rawValue) }
        if let audience = options.audience { request.audience = try Validate.words(audience, field: GetTokenOption.audience.rawValue) }
        // Any value: above the provider's lifetime a freshly refreshed token comes back, and its
        // expires_at says how long it really lives (as oidc-token does).
        if let minValid = options.minValid { request.minValid = minValid }
        if let timeout = options.timeout {
            guard (1...Self.maxTimeout).contains(timeout) else {
                throw .invalidArgument(field: GetTokenOption.timeout.rawValue, reason: "must be between 1 and \(Self.maxTimeout) seconds")
            }
            request.timeout = timeout
        }
        if let application = options.application { _ = try Validate.text(application, field: GetTokenOption.application.rawValue) }
        request.force = options.force ?? false
        request.interactive = options.interactive ?? false
        if request.interactive {
            request.requestedBy = Self.requester(caller, application: options.application.map { String($0.prefix(80)) })
        }
        let (token, resolved) = try await agent.token(request)
        return TokenReply(token: token.value, expiresAt: Int64(token.expiresAt.timeIntervalSince1970.rounded(.down)),
                          tokenType: token.tokenType, scopes: token.scopes, audience: token.audience,
                          issuer: resolved.issuer.absoluteString, account: resolved.name).body
    }

    private func startDeviceFlow(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try DeviceFlowOptions(dbusOptions: options) }
        let scopes = try options.scopes.map { scopes throws(AgentError) in try Validate.words(scopes, field: DeviceFlowOption.scopes.rawValue) }
        let flow = try await agent.startDeviceFlow(account: account, scopes: scopes, notify: options.notify ?? true,
                                                   requestedBy: Self.requester(caller, application: nil))
        return DeviceFlowReply(flow: AgentContract.flowPath(flow.number), userCode: flow.userCode,
                               verificationURI: flow.verificationURI.absoluteString,
                               verificationURIComplete: flow.verificationURIComplete?.absoluteString,
                               expiresAt: Int64(flow.expiresAt.timeIntervalSince1970.rounded(.down)),
                               interval: UInt32(clamping: flow.interval.components.seconds)).body
    }

    private func revoke(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try RevokeOptions(dbusOptions: options) }
        return [.bool(try await agent.revoke(account: account, keepOnFailure: options.keepOnFailure ?? false,
                                             recursive: options.recursive ?? false))]
    }

    private func addAccount(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (name, given) = try decodeOptions(call) { options throws(ArgumentError) in try AccountSettingsMessage(dbusOptions: options) }
        let message = try Self.mergingOIDCAgentConfig(given)
        var kind = AccountKind.oidc
        if let text = message.kind {
            guard let value = AccountKind(rawValue: text) else {
                throw .invalidArgument(field: AccountSetting.kind.rawValue, reason: "must be oidc or mytoken, not \"\(text.prefix(64))\"")
            }
            kind = value
        }
        let issuer = try message.issuer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: AccountSetting.issuer.rawValue)
        }
        let oidcIssuer = try message.oidcIssuer.map { text throws(AgentError) in
            try Validate.serverURL(text, field: AccountSetting.oidcIssuer.rawValue)
        }
        if kind == .oidc {
            for (given, field) in [(message.oidcIssuer, AccountSetting.oidcIssuer), (message.mytokenServer, .mytokenServer),
                                   (message.mytoken, .mytoken), (message.transferCode, .transferCode)] where given != nil {
                throw .invalidArgument(field: field.rawValue, reason: "applies only to kind=mytoken")
            }
            guard issuer != nil || message.provider != nil else {
                throw .invalidArgument(field: AccountSetting.issuer.rawValue, reason: "is required (or give provider)")
            }
        } else if given.oidcAgentConfig != nil {
            throw .invalidArgument(field: AccountSetting.oidcAgentConfig.rawValue, reason: "applies only to kind=oidc (a mytoken account takes mytoken)")
        }
        if let issuer, let oidcIssuer, issuer != oidcIssuer {
            throw .invalidArgument(field: AccountSetting.oidcIssuer.rawValue, reason: "differs from issuer (give one of them)")
        }
        if let provider = message.provider {
            guard kind == .oidc else {
                throw .invalidArgument(field: AccountSetting.provider.rawValue, reason: "applies only to kind=oidc")
            }
            _ = try Validate.text(provider, field: AccountSetting.provider.rawValue)
        }
        var settings = AccountSettings(issuer: issuer ?? oidcIssuer)
        settings.kind = kind
        settings.provider = message.provider
        if let refreshToken = message.refreshToken {
            guard kind == .oidc else {
                throw .invalidArgument(field: AccountSetting.refreshToken.rawValue, reason: "applies only to kind=oidc (a mytoken account takes mytoken)")
            }
            settings.refreshToken = SecretString(try Validate.secret(refreshToken, field: AccountSetting.refreshToken.rawValue))
        }
        if let mytoken = message.mytoken {
            settings.mytoken = SecretString(try Validate.secret(mytoken, field: AccountSetting.mytoken.rawValue))
        }
        if let code = message.transferCode {
            settings.transferCode = SecretString(try Validate.secret(code, field: AccountSetting.transferCode.rawValue))
        }
        if let raw = message.mytokenRequest {
            settings.mytokenRequest = try Self.loginRequest(raw, kind: kind)
        }
        if let style = message.audienceStyle {
            guard let value = AudienceStyle(rawValue: style) else {
                throw .invalidArgument(field: AccountSetting.audienceStyle.rawValue, reason: "must be resource, audience or auto, not \"\(style.prefix(64))\"")
            }
            settings.audienceStyle = value
        }
        settings.clientID = try message.clientID.map { id throws(AgentError) in try Validate.text(id, field: AccountSetting.clientID.rawValue) }
        if let secret = message.clientSecret {
            _ = try Validate.text(secret, field: AccountSetting.clientSecret.rawValue)
            settings.clientSecret = SecretString(secret)
        }
        settings.scopes = try message.scopes.map { s throws(AgentError) in try Validate.words(s, field: AccountSetting.scopes.rawValue) }
        settings.audience = try message.audience.map { a throws(AgentError) in try Validate.words(a, field: AccountSetting.audience.rawValue) }
        settings.mytokenServer = try message.mytokenServer.map { url throws(AgentError) in
            try Validate.serverURL(url, field: AccountSetting.mytokenServer.rawValue)
        }
        settings.replace = message.replace ?? false
        try await agent.addAccount(name: name, settings: settings)
        return []
    }

    private func loginWithPassword(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try PasswordLoginOptions(dbusOptions: options) }
        guard let username = options.username else {
            throw .invalidArgument(field: PasswordLoginOption.username.rawValue, reason: "is required")
        }
        guard let password = options.password, !password.isEmpty else {
            throw .invalidArgument(field: PasswordLoginOption.password.rawValue, reason: "is required")
        }
        // Checked for size only: any character may be part of a password, and no message echoes it.
        guard password.utf8.count <= Validate.maxStringBytes else {
            throw .invalidArgument(field: PasswordLoginOption.password.rawValue, reason: "is longer than \(Validate.maxStringBytes) bytes")
        }
        let scopes = try options.scopes.map { s throws(AgentError) in try Validate.words(s, field: PasswordLoginOption.scopes.rawValue) }
        try await agent.loginWithPassword(account: account, username: try Validate.text(username, field: PasswordLoginOption.username.rawValue),
                                          password: SecretString(password), scopes: scopes)
        return []
    }

    private func removeAccount(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (name, options) = try decodeOptions(call) { options throws(ArgumentError) in try RemoveAccountOptions(dbusOptions: options) }
        try await agent.removeAccount(name: name, revoke: options.revoke ?? true)
        return []
    }

    private func listAccounts() async -> [DBusValue] {
        AccountInfo.listBody(await agent.listAccounts().map { status in
            let account = status.account
            return AccountInfo(name: account.name, issuer: account.issuer.absoluteString, kind: account.kind.rawValue,
                               clientID: account.clientID, scopes: account.scopes, audience: account.audience,
                               audienceStyle: account.audienceStyle.rawValue,
                               mytokenServer: account.mytokenServer?.absoluteString,
                               loggedIn: status.loggedIn, hasClientSecret: status.hasClientSecret,
                               tokenExpiresAt: status.tokenExpiries.map { Int64($0.timeIntervalSince1970.rounded(.down)) },
                               registrationClientURI: account.registrationClientURI?.absoluteString)
        })
    }

    // MARK: AgentObserver

    public func flowStarted(_ flow: DeviceFlow, notify: Bool) async {
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

    public func flowFinished(_ flow: DeviceFlow) async {
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
