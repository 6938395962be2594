import FoundationEssentials
import OIDC
import TesseraNames

/// Starting, running and finishing a login: one way for every kind.
extension Agent {
    /// The account's pending login of its own kind (a device flow, or a mytoken server's consent),
    /// or a new one: started at the server, announced (exported, notified) and then waited for in
    /// the background.
    public func startDeviceFlow(account nameOrIssuer: String, scopes: [String]?, notify: Bool,
                                requestedBy: String? = nil) async throws(AgentError) -> Login {
        let account = try resolve(nameOrIssuer)
        let source = source(account.kind)
        return try await logins.pendingOrNew(account.name, .own) { [self] () async throws(AgentError) -> Login in
            let start = try await source.startLogin(account, scopes: scopes)
            return await launch(start, account: account, family: .own, notify: notify, requestedBy: requestedBy)
        }.login
    }

    /// Registers a started login, announces it and runs its wait in the background.
    func launch(_ start: LoginStart, account: Account, family: LoginRegistry.Family, notify: Bool,
                requestedBy: String?) async -> Login {
        let login = logins.register(family) { start.make($0, requestedBy) }
        logger.info("\(login.kindName) \(login.number) started for \(account.name) by \(requestedBy ?? "the service"); it expires \(login.expiresAt)")
        await currentObserver?.flowStarted(login, notify: notify)
        login.attach(poller: Task { [self] in
            await runLogin(login, account: account) { () async throws(AgentError) in
                try await storeLogin(try await start.wait(login), account: account)
            }
        })
        return login
    }

    /// Runs a login's `work` (polling, or waiting for the browser) and ends the login with its
    /// outcome; every kind of login ends here, so their flow objects and signals behave alike.
    func runLogin(_ login: Login, account: Account, _ work: () async throws(AgentError) -> Void) async {
        do throws(AgentError) {
            try await work()
            if login.finish(.completed) {
                logger.info("\(login.kindName) \(login.number) completed: \(account.name) is logged in")
                await currentObserver?.loginCompleted(account: account.name)
            }
        } catch {
            let state: DeviceFlowState = switch error {
            case .accessDenied: .denied
            case .expiredToken: .expired
            // A browser login that saw no redirect in time has expired like an unused code.
            case .timeout where login.isBrowserLogin: .expired
            case .cancelled: .cancelled
            default: .failed
            }
            if login.finish(state, failure: error) {
                logger.notice("\(login.kindName) \(login.number) for \(account.name) ended: \(error)")
            }
        }
        logins.ended(login)
        await currentObserver?.flowFinished(login)
    }

    /// Every login ends here, whatever the grant: the account's login secret goes to the keyring
    /// under the account's lock before anything else sees the login; the account's old access
    /// tokens are dropped and the grant's own access token, if any, is cached under the scopes
    /// the login asked for.
    func storeLogin(_ issued: IssuedLogin, account: Account) async throws(AgentError) {
        try await secrets.locks.run(account.name) { [self] () async throws(AgentError) in
            try await secrets.storeLogin(issued.secret, of: account)
        }
        if let granted = issued.grantedScopes {
            state.withLock { $0.idTokens[account.name] = issued.idToken }
            await rememberLoginScopes(granted, of: account.name)
        }
        await tokens.drop(account: account.name)
        if let accessToken = issued.accessToken {
            await tokens.store(accessToken, for: TokenKey(account: account.name, scopes: issued.requestedScopes,
                                                          audience: account.audience))
        }
    }
}
