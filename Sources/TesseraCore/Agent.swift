import Foundation
import Keyring
import Logging
import OIDC
import Synchronization
import TesseraNames

/// What the agent tells the outside world; the D-Bus layer turns these into exported objects,
/// signals and notifications. Every method is awaited, so e.g. a flow object is exported before
/// its flow starts polling.
public protocol AgentObserver: Sendable {
    func flowStarted(_ flow: DeviceFlow, notify: Bool) async
    func flowFinished(_ flow: DeviceFlow) async
    func loginRequired(account: String) async
    func loginCompleted(account: String) async
    func accountsChanged() async
    /// The provider ended a login the user did not end (an expired or revoked refresh token):
    /// after `loginRequired`, so the desktop can offer to log in again.
    func loginExpired(account: String) async
}

extension AgentObserver {
    public func loginExpired(account: String) async {}
}

/// A GetToken call with its options already checked.
public struct TokenRequest: Sendable {
    /// An account name or an issuer URL.
    public var account: String
    public var scopes: [String]?
    public var audience: [String]?
    public var minValid: UInt32 = GetTokenOption.defaultMinValid
    public var force = false
    public var interactive = false
    public var timeout: UInt32 = GetTokenOption.defaultTimeout
    /// Who asked, as verified by the bus (for the login notification of an interactive request).
    public var requestedBy: String?

    public init(account: String) { self.account = account }
}

/// AddAccount's settings, checked.
public struct AccountSettings: Sendable {
    /// Required for OIDC accounts; for a mytoken account nil means the server's only provider.
    public var issuer: URL?
    public var kind: AccountKind = .oidc
    public var clientID: String?
    public var clientSecret: SecretString?
    public var scopes: [String]?
    public var audience: [String]?
    public var audienceStyle: AudienceStyle?
    public var mytokenServer: URL?
    /// A mytoken to store with a mytoken account (import), or a transfer code to exchange for one.
    public var mytoken: SecretString?
    public var transferCode: SecretString?
    public var replace = false
    /// A known provider's short name: its issuer, public client and audience parameter are the defaults.
    public var provider: String?
    /// A refresh token to import (tested by refreshing it once the account is added).
    public var refreshToken: SecretString?
    /// A mytoken account's login request fields (`MytokenClient.fields(of:)`).
    public var mytokenRequest: [String: MytokenJSON]?

    public init(issuer: URL?) { self.issuer = issuer }
}

/// One account as ListAccounts shows it. `loggedIn`/`hasClientSecret` are nil when the keyring
/// could not be asked.
public struct AccountStatus: Sendable {
    public var account: Account
    public var loggedIn: Bool?
    public var hasClientSecret: Bool?
    /// When each access token held in memory for the account expires.
    public var tokenExpiries: [Date] = []
}

/// The service's core, free of D-Bus: accounts, tokens, logins, revocation.
///
/// A final class with its state behind one mutex rather than an actor, so a cached GetToken
/// costs no actor hop here (only the token cache's); nothing awaits while holding the mutex.
public final class Agent: Sendable {
    struct State {
        var accounts: [Account] = []
        var fileHasProblems = false
        /// The file existed but could not be read at the last load: its accounts are unknown, so
        /// no change writes over it until a new read succeeds.
        var fileUnreadable = false
        /// Device-flow and mytoken logins in progress, by account.
        var pendingFlows: [String: DeviceFlow] = [:]
        /// Browser (code + PKCE) logins in progress, by account.
        var pendingBrowserLogins: [String: DeviceFlow] = [:]
        var flowCount = 0
        var refreshLocks: [String: AsyncLock] = [:]
        var flowLocks: [String: AsyncLock] = [:]
        /// A rotated refresh token the keyring refused to store: used (and stored again) next time,
        /// so a locked keyring does not lose the login while the service runs.
        var unsavedRotations: [String: SecretString] = [:]
        /// Discovered mytoken servers, by URL (discovery is asked once per server).
        var mytokenClients: [String: MytokenClient] = [:]
        /// The ID token of each account's latest login or refresh that carried one (memory only).
        var idTokens: [String: SecretString] = [:]
        /// The scopes an account's login asked for, where they may differ from the account's
        /// scopes (a login with other scopes, or SetAccount since): a refresh then names its scopes.
        var loginScopes: [String: [String]] = [:]
        /// Accounts whose imported refresh token is being tried (AddAccount with refresh-token).
        var importing: Set<String> = []
    }

    public let tokens = TokenCache()
    let state = Mutex(State())
    /// Serializes account changes (add, replace, remove): each is one transaction over the file,
    /// the keyring and memory.
    let accountChanges = AsyncLock()
    /// Token uses that may rotate, from request to stored answer; a clean stop waits for them.
    let rotations = RotationGate()
    private let accountFile: AccountFile
    let vault: SecretVault
    let transport: any HTTPTransport
    let logger: Logger
    private let observer = Mutex<(any AgentObserver)?>(nil)
    /// Known providers: the built-in list and the user's `providers.json` beside the account file.
    let providerCatalog: ProviderCatalog

    public init(accountFile: AccountFile, secrets: any SecretStore, transport: any HTTPTransport, logger: Logger,
                providers: ProviderCatalog? = nil) {
        self.accountFile = accountFile
        self.providerCatalog = providers
            ?? ProviderCatalog(userFile: (accountFile.path as NSString).deletingLastPathComponent + "/providers.json")
        self.vault = SecretVault(store: secrets)
        self.transport = transport
        self.logger = logger
    }

    public func setObserver(_ observer: any AgentObserver) {
        self.observer.withLock { $0 = observer }
    }

    var currentObserver: (any AgentObserver)? { observer.withLock { $0 } }

    /// Reads the account file; problems are returned (to be logged) and the readable accounts kept.
    public func loadAccounts() -> [AccountFileProblem] {
        let contents = accountFile.load()
        state.withLock {
            $0.accounts = contents.accounts
            $0.fileHasProblems = !contents.problems.isEmpty
            $0.fileUnreadable = !contents.readable
        }
        return contents.problems
    }

    public var accounts: [Account] { state.withLock { $0.accounts } }

    // MARK: Accounts

    /// An account by name, or — for an issuer URL — the first account of that issuer.
    public func resolve(_ nameOrIssuer: String, field: String = "account") throws(AgentError) -> Account {
        // The hot path of every GetToken: an exact, known name was validated when the account was
        // added, so the (Foundation-heavy) validation below only runs for names we do not know.
        if let known = state.withLock({ $0.accounts.first { $0.name == nameOrIssuer } }) {
            return known
        }
        if nameOrIssuer.contains("://") {
            let issuer = try Validate.serverURL(nameOrIssuer, field: field)
            let wanted = Self.issuerKey(issuer)
            guard let account = state.withLock({ $0.accounts.first { Self.issuerKey($0.issuer) == wanted } }) else {
                throw .noSuchAccount(nameOrIssuer)
            }
            return account
        }
        let name = try Validate.accountName(nameOrIssuer, field: field)
        guard let account = state.withLock({ $0.accounts.first { $0.name == name } }) else {
            throw .noSuchAccount(name)
        }
        return account
    }

    /// An account by its name only: for destructive calls (Revoke, RemoveAccount), which must
    /// never act on "the first account" of an issuer.
    public func resolveName(_ name: String, field: String = "account") throws(AgentError) -> Account {
        if let known = state.withLock({ $0.accounts.first { $0.name == name } }) { return known }
        if name.contains("://") {
            throw .invalidArgument(field: field, reason: "takes an account name, not an issuer URL")
        }
        let name = try Validate.accountName(name, field: field)
        guard let account = state.withLock({ $0.accounts.first { $0.name == name } }) else { throw .noSuchAccount(name) }
        return account
    }

    static func issuerKey(_ url: URL) -> String {
        var text = url.absoluteString.lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    public func addAccount(name: String, settings: AccountSettings) async throws(AgentError) {
        let name = try Validate.accountName(name, field: "name")
        try await accountChanges.run { [self] () async throws(AgentError) in
            try await addAccountLocked(name: name, settings: settings)
        }
    }

    private func addAccountLocked(name: String, settings: AccountSettings) async throws(AgentError) {
        try rereadIfUnreadable()
        let existing = state.withLock { $0.accounts.first { $0.name == name } }
        if existing != nil && !settings.replace {
            throw .invalidArgument(field: "name", reason: "an account named \"\(name)\" exists; pass replace=true to change it")
        }
        if settings.kind == .mytoken {
            return try await addMytokenAccount(name: name, settings: settings, existing: existing)
        }
        let provider = try settings.provider.map { name throws(AgentError) in try knownProvider(name) }
        if let provider, let issuer = settings.issuer, Self.issuerKey(issuer) != Self.issuerKey(provider.issuer) {
            throw .invalidArgument(field: AccountSetting.issuer.rawValue,
                                   reason: "differs from provider \(provider.shortName)'s issuer \(provider.issuer.absoluteString) (give one of them)")
        }
        guard let issuer = settings.issuer ?? provider?.issuer else {
            throw .invalidArgument(field: AccountSetting.issuer.rawValue, reason: "is required (or give provider)")
        }
        // A published public client is used as is; a client id of the caller's wins over it.
        let clientID = settings.clientID ?? (settings.clientSecret == nil ? provider?.publicClientID : nil)
        var scopes = settings.scopes ?? existing?.scopes ?? ["openid", "offline_access"]
        if scopes == [AccountSetting.maxScopes] {
            scopes = try await maxScopes(issuer: issuer, provider: provider,
                                         usingPublicClient: clientID != nil && clientID == provider?.publicClientID)
        } else if scopes.contains(AccountSetting.maxScopes) {
            throw .invalidArgument(field: AccountSetting.scopes.rawValue, reason: "'\(AccountSetting.maxScopes)' stands alone (every scope the provider supports)")
        }
        var account = Account(name: name, kind: settings.kind, issuer: issuer, clientID: clientID,
                              scopes: scopes,
                              audience: settings.audience ?? existing?.audience ?? [],
                              audienceStyle: settings.audienceStyle ?? provider?.audienceStyle ?? existing?.audienceStyle ?? .auto,
                              mytokenServer: settings.mytokenServer)
        var clientSecret = settings.clientSecret
        var management: ClientManagement?
        if account.clientID == nil {
            let registration: ClientRegistration
            do {
                registration = try await OIDCClient.register(
                    issuer: account.issuer, clientName: "Tessera (\(name))", scopes: account.scopes, transport: transport)
            } catch .unsupported {
                throw .invalidArgument(field: AccountSetting.clientID.rawValue,
                                       reason: "is required: \(account.issuer.absoluteString) offers no dynamic client registration")
            } catch {
                throw AgentError(error, account: name)
            }
            account.clientID = registration.credentials.clientID
            switch registration.credentials.authentication {
            case .none: break
            case .clientSecretBasic(let secret), .clientSecretPost(let secret): clientSecret = secret
            }
            logger.info("registered client \(registration.credentials.clientID) for \(name) at \(account.issuer.absoluteString)")
            management = registration.management
            account.registrationClientURI = management?.clientURI
        }

        do {
            try await commit(account, existing: existing) { (keyring: inout KeyringTransaction) async throws(AgentError) in
                // What can be undone first: the new secret is stored before anything old is deleted.
                if let clientSecret { try await keyring.save(clientSecret, as: .clientSecret, of: account) }
                if let management { try await keyring.save(management.accessToken, as: .registrationToken, of: account) }
                if let existing {
                    if existing.issuer != account.issuer || existing.kind != account.kind {
                        for kind in SecretKind.allCases { try await keyring.delete(kind, of: existing) }
                    } else if existing.clientID != account.clientID {
                        // A refresh token is bound to the client that obtained it.
                        try await keyring.delete(.refreshToken, of: existing)
                        if clientSecret == nil { try await keyring.delete(.clientSecret, of: existing) }
                        if management == nil { try await keyring.delete(.registrationToken, of: existing) }
                    }
                }
            }
        } catch {
            // Not half-created: a client registered for an account that could not be added goes too.
            if let management { await deleteRegisteredClient(management, of: name) }
            throw error
        }
        if let refreshToken = settings.refreshToken { try await importRefreshToken(refreshToken, into: account) }
    }

    /// Puts the account in the file, then runs its keyring steps, then puts it in memory and
    /// tells everyone (DESIGN.md, Secrets). A failed keyring step undoes the earlier ones and
    /// writes the file back; a failed file write changes nothing at all. Call under `accountChanges`.
    func commit(_ account: Account, existing: Account?,
                keyring steps: (inout KeyringTransaction) async throws(AgentError) -> Void) async throws(AgentError) {
        let name = account.name
        let (previous, next) = try writeAccounts { accounts in
            var accounts = accounts
            if let index = accounts.firstIndex(where: { $0.name == name }) {
                accounts[index] = account
            } else {
                accounts.append(account)
            }
            return accounts
        }
        var keyring = KeyringTransaction(vault: vault)
        do { try await steps(&keyring) } catch {
            await keyring.rollBack(logger: logger)
            restoreFile(previous)
            throw error
        }
        state.withLock { $0.accounts = next }
        await tokens.drop(account: name)
        logger.info("account \(name) \(existing != nil ? "changed" : "added") (issuer \(account.issuer.absoluteString))")
        await currentObserver?.accountsChanged()
    }

    public func removeAccount(name: String, revoke: Bool) async throws(AgentError) {
        try await accountChanges.run { [self] () async throws(AgentError) in
            try rereadIfUnreadable()
            try await removeAccountLocked(try resolveName(name, field: "name"), revoke: revoke)
        }
    }

    private func removeAccountLocked(_ account: Account, revoke: Bool) async throws(AgentError) {
        let name = account.name
        // The file first: while it still lists the account, its secrets stay.
        let (previous, next) = try writeAccounts { $0.filter { $0.name != name } }
        for login in state.withLock({ [$0.pendingFlows[name], $0.pendingBrowserLogins[name]] }) { login?.cancel() }
        if revoke {
            do { _ = try await self.revoke(account: name, keepOnFailure: false) } catch {
                logger.warning("revoking the login of \(name) before removing it failed: \(error.message)")
            }
        }
        // The client Tessera registered for it goes too (RFC 7592), where the provider allows it.
        if let clientURI = account.registrationClientURI {
            do {
                if let token = try await vault.load(.registrationToken, of: account) {
                    await deleteRegisteredClient(ClientManagement(accessToken: token, clientURI: clientURI), of: name)
                }
            } catch {
                logger.warning("cannot read the registration token of \(name); its client stays registered: \(error.message)")
            }
        }
        do { try await vault.deleteAll(of: account) } catch {
            restoreFile(previous)
            throw error
        }
        state.withLock { state in
            state.accounts = next
            state.unsavedRotations[name] = nil
            state.idTokens[name] = nil
            state.loginScopes[name] = nil
        }
        await tokens.drop(account: name)
        logger.info("account \(name) removed")
        await currentObserver?.accountsChanged()
    }

    /// The first step of every account change: writes the list `change` makes of the current one.
    /// Memory is not touched; the caller adopts `next` once its keyring steps are done.
    func writeAccounts(_ change: ([Account]) -> [Account]) throws(AgentError) -> (previous: [Account], next: [Account]) {
        let (previous, keepInvalid) = state.withLock { ($0.accounts, $0.fileHasProblems) }
        let next = change(previous)
        let kept = try save(next, keepInvalid: keepInvalid)
        state.withLock { $0.fileHasProblems = false }
        if let kept { logger.warning("kept the account file that had problems as \(kept)") }
        return (previous, next)
    }

    /// Writes back the list a failed change started from (best effort: the change already failed).
    func restoreFile(_ accounts: [Account]) {
        do { try accountFile.save(accounts) } catch {
            logger.error("cannot write \(accountFile.path) back after a failed change: \(error.description)")
        }
    }

    /// A file that could not be read at start may be readable now (a transient I/O or permission
    /// problem): read it again before a change, and refuse the change while it still cannot be
    /// read, because writing would replace accounts we never saw.
    func rereadIfUnreadable() throws(AgentError) {
        guard state.withLock({ $0.fileUnreadable }) else { return }
        let contents = accountFile.load()
        guard contents.readable else {
            let reason = contents.problems.first?.description ?? "\(accountFile.path) cannot be read"
            logger.error("account file problem: \(reason); refusing to change accounts")
            throw .notPermitted("\(reason); no account is changed until it can be read")
        }
        for problem in contents.problems { logger.error("account file problem: \(problem.description)") }
        state.withLock {
            $0.accounts = contents.accounts
            $0.fileHasProblems = !contents.problems.isEmpty
            $0.fileUnreadable = false
        }
        logger.notice("\(accountFile.path) is readable again: \(contents.accounts.count) account(s)")
    }

    public func listAccounts() async -> [AccountStatus] {
        let accounts = self.accounts
        let keys: Set<SecretKey>?
        do { keys = Set(try await vault.keys()) } catch {
            logger.warning("cannot list the keyring's items: \(error.message)")
            keys = nil
        }
        var statuses: [AccountStatus] = []
        for account in accounts {
            statuses.append(AccountStatus(account: account,
                                          loggedIn: keys.map { $0.contains(SecretVault.key(account, account.loginSecretKind)) },
                                          hasClientSecret: keys.map { $0.contains(SecretVault.key(account, .clientSecret)) },
                                          tokenExpiries: await tokens.expiries(account: account.name)))
        }
        return statuses
    }

    private func save(_ accounts: [Account], keepInvalid: Bool) throws(AgentError) -> String? {
        do { return try accountFile.save(accounts, keepInvalid: keepInvalid) } catch {
            logger.error("\(error.description)")
            throw .notPermitted(error.description)
        }
    }

    // MARK: Tokens

    public func token(_ request: TokenRequest) async throws(AgentError) -> (AccessToken, Account) {
        let account = try resolve(request.account)
        let scopes = request.scopes ?? account.scopes
        let audience = request.audience ?? account.audience
        do {
            return (try await cachedOrRefreshed(account, scopes: scopes, audience: audience, request: request), account)
        } catch .loginRequired(let name, let reason) where request.interactive {
            logger.info("\(name) needs a login (\(reason)); starting one for an interactive request")
            let flow = try await startDeviceFlow(account: account.name, scopes: nil, notify: true,
                                                 requestedBy: request.requestedBy)
            try await wait(for: flow, seconds: request.timeout)
            var again = request
            again.force = false
            return (try await cachedOrRefreshed(account, scopes: scopes, audience: audience, request: again), account)
        }
    }

    private func wait(for flow: DeviceFlow, seconds: UInt32) async throws(AgentError) {
        switch await flow.finished(within: .seconds(Int(seconds))) {
        case .success?: return
        case .failure(let error)?: throw error
        case nil:
            throw .timeout("no login for \"\(flow.account)\" within \(seconds) s; the login stays open: approve it and ask again")
        }
    }

    private func cachedOrRefreshed(_ account: Account, scopes: [String], audience: [String],
                                   request: TokenRequest) async throws(AgentError) -> AccessToken {
        let key = TokenKey(account: account.name, scopes: scopes, audience: audience)
        do {
            return try await tokens.token(for: key, minValid: TimeInterval(request.minValid), force: request.force) {
                [self] in try await refresh(account, scopes: scopes, audience: audience)
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw .cancelled("the request was cancelled")
        }
    }

    func refreshLock(_ account: String) -> AsyncLock {
        state.withLock { state in
            if let lock = state.refreshLocks[account] { return lock }
            let lock = AsyncLock()
            state.refreshLocks[account] = lock
            return lock
        }
    }

    /// One refresh-token use: serialized per account, rotation stored before the token is handed out.
    private func refresh(_ account: Account, scopes: [String], audience: [String]) async throws(AgentError) -> AccessToken {
        try await refreshLock(account.name).run { [self] () async throws(AgentError) -> AccessToken in
            try await refreshLocked(account, scopes: scopes, audience: audience)
        }
    }

    /// Ends every refresh-token use: waits up to `timeout` for those in flight (whose rotated
    /// token must reach the keyring) and refuses new ones. Returns how many did not finish.
    public func finishRotations(within timeout: Duration) async -> Int {
        let inFlight = rotations.inFlight
        if inFlight > 0 { logger.notice("waiting for \(inFlight) refresh(es) in flight to store their rotated tokens") }
        return await rotations.closeAndDrain(timeout: timeout)
    }

    private func refreshLocked(_ account: Account, scopes: [String], audience: [String]) async throws(AgentError) -> AccessToken {
        guard rotations.enter() else { throw .cancelled("tesserad is stopping") }
        defer { rotations.leave() }
        if account.kind == .mytoken { return try await mytokenAccessToken(account, scopes: scopes, audience: audience) }
        let unsaved = state.withLock { $0.unsavedRotations[account.name] }
        let stored = unsaved == nil ? try await vault.load(.refreshToken, of: account) : nil
        guard let refreshToken = unsaved ?? stored else {
            throw .loginRequired(account: account.name, reason: "\"\(account.name)\" is not logged in")
        }
        if let unsaved { try await persistRotation(unsaved, of: account) }
        let client = try await client(for: account)
        let response: TokenResponse
        let sentAt = ContinuousClock.now
        do throws(OIDCError) {
            // Scopes go out only when they differ from the login's: "as originally granted" otherwise.
            let granted = state.withLock { $0.loginScopes[account.name] } ?? account.scopes
            response = try await client.refresh(refreshToken: refreshToken,
                                                scopes: Set(scopes) == Set(granted) ? nil : scopes,
                                                audience: audience)
        } catch .invalidGrant(let description) {
            logger.notice("the provider rejected the refresh token of \(account.name) (invalid_grant); deleting it")
            do { try await vault.delete(.refreshToken, of: account) } catch {
                logger.warning("cannot delete the rejected refresh token of \(account.name): \(error.message)")
            }
            await tokens.drop(account: account.name)
            await currentObserver?.loginRequired(account: account.name)
            // An import being tested is answered to its caller; anything else lost its login
            // behind the user's back (IAM: refresh tokens live 30 days), so offer a new one.
            if !state.withLock({ $0.importing.contains(account.name) }) {
                await currentObserver?.loginExpired(account: account.name)
            }
            throw .loginRequired(account: account.name, reason: "the provider no longer accepts the login of \"\(account.name)\""
                + (description.map { " (\($0))" } ?? ""))
        } catch {
            logger.warning("refreshing \(account.name) failed: \(error)")
            throw AgentError(error, account: account.name)
        }
        if let rotated = response.refreshToken, rotated != refreshToken {
            try await persistRotation(rotated, of: account)
            // The windows in which a SIGKILL loses the login (issue 12, item 6): from the answer
            // (the provider has rotated) to the keyring write, and — because a provider finishes a
            // request whose client died — from the request itself.
            let afterAnswer = Int((Date().timeIntervalSince(response.receivedAt) * 1000).rounded())
            let afterRequest = (ContinuousClock.now - sentAt).components
            let requestMilliseconds = afterRequest.seconds * 1000 + afterRequest.attoseconds / 1_000_000_000_000_000
            logger.debug("stored the rotated refresh token of \(account.name) \(afterAnswer) ms after the provider's answer, \(requestMilliseconds) ms after the request")
        }
        if let idToken = response.idToken { state.withLock { $0.idTokens[account.name] = idToken } }
        logger.debug("refreshed \(account.name): lifetime \(response.lifetime)")
        return AccessToken(value: response.accessToken.reveal(), tokenType: response.tokenType,
                           expiresAt: response.expiresAt, scopes: response.scopes ?? scopes, audience: audience)
    }

    func persistRotation(_ token: SecretString, of account: Account) async throws(AgentError) {
        do {
            try await vault.save(token, as: account.loginSecretKind, of: account)
            state.withLock { $0.unsavedRotations[account.name] = nil }
        } catch {
            state.withLock { $0.unsavedRotations[account.name] = token }
            logger.error("cannot store the rotated \(account.loginSecretKind.rawValue) of \(account.name): \(error.message); kept in memory")
            throw error
        }
    }

    func client(for account: Account) async throws(AgentError) -> OIDCClient {
        guard let clientID = account.clientID else {
            throw .invalidArgument(field: AccountSetting.clientID.rawValue, reason: "account \"\(account.name)\" has no client id")
        }
        let secret = try await vault.load(.clientSecret, of: account)
        let credentials = ClientCredentials(clientID: clientID, authentication: secret.map { .clientSecretBasic($0) } ?? .none)
        return OIDCClient(issuer: account.issuer, credentials: credentials, audienceStyle: account.audienceStyle,
                          transport: transport, logger: logger)
    }

    // MARK: Logins (device flow, mytoken polling, browser)

    private func flowLock(_ account: String) -> AsyncLock {
        state.withLock { state in
            if let lock = state.flowLocks[account] { return lock }
            let lock = AsyncLock()
            state.flowLocks[account] = lock
            return lock
        }
    }

    /// The account's pending flow, or a new one: started at the provider, announced (exported,
    /// notified) and then polled in the background.
    public func startDeviceFlow(account nameOrIssuer: String, scopes: [String]?, notify: Bool,
                                requestedBy: String? = nil) async throws(AgentError) -> DeviceFlow {
        let account = try resolve(nameOrIssuer)
        return try await flowLock(account.name).run { [self] () async throws(AgentError) -> DeviceFlow in
                if let pending = pendingLogin(of: account.name, browser: false) { return pending }
                if account.kind == .mytoken {
                    return try await startMytokenLogin(account, scopes: scopes, notify: notify, requestedBy: requestedBy)
                }
                let client = try await client(for: account)
                let authorization: DeviceAuthorization
                do throws(OIDCError) {
                    authorization = try await client.startDeviceAuthorization(scopes: scopes ?? account.scopes, audience: account.audience)
                } catch {
                    throw AgentError(error, account: account.name)
                }
                let flow = makeFlow { DeviceFlow(number: $0, account: account.name, authorization: authorization, requestedBy: requestedBy) }
                logger.info("device flow \(flow.number) started for \(account.name) by \(requestedBy ?? "the service"); code expires \(flow.expiresAt)")
                await currentObserver?.flowStarted(flow, notify: notify)
                flow.attach(poller: Task { await poll(flow, account: account, client: client) })
                return flow
        }
    }

    /// The account's login of that family still in progress. Browser logins are kept apart from
    /// device and mytoken logins, so starting one never hands back the other.
    func pendingLogin(of account: String, browser: Bool) -> DeviceFlow? {
        state.withLock { browser ? $0.pendingBrowserLogins[account] : $0.pendingFlows[account] }
            .flatMap { $0.state == .pending ? $0 : nil }
    }

    /// Registers a new pending login for its account; flow objects of every kind share one
    /// numbering (their D-Bus paths).
    func makeFlow(_ make: (Int) -> DeviceFlow) -> DeviceFlow {
        state.withLock { state in
            state.flowCount += 1
            let flow = make(state.flowCount)
            if flow.isBrowserLogin {
                state.pendingBrowserLogins[flow.account] = flow
            } else {
                state.pendingFlows[flow.account] = flow
            }
            return flow
        }
    }

    private func poll(_ flow: DeviceFlow, account: Account, client: OIDCClient) async {
        guard case .device(let authorization) = flow.grant else { return }
        await runLogin(flow, account: account) { [self] () async throws(AgentError) in
            let response: TokenResponse
            do throws(OIDCError) { response = try await client.pollDeviceToken(authorization) } catch {
                throw Self.flowError(error, account: account.name)
            }
            try await storeLogin(response, account: account, scopes: flow.scopes)
        }
    }

    /// Runs a login's `work` (polling, or waiting for the browser) and ends the flow with its
    /// outcome; every kind of login ends here, so their flow objects and signals behave alike.
    func runLogin(_ flow: DeviceFlow, account: Account, _ work: () async throws(AgentError) -> Void) async {
        do throws(AgentError) {
            try await work()
            if flow.finish(.completed) {
                logger.info("\(flow.kindName) \(flow.number) completed: \(account.name) is logged in")
                await currentObserver?.loginCompleted(account: account.name)
            }
        } catch {
            let state: DeviceFlowState = switch error {
            case .accessDenied: .denied
            case .expiredToken: .expired
            // A browser login that saw no redirect in time has expired like an unused code.
            case .timeout where flow.isBrowserLogin: .expired
            case .cancelled: .cancelled
            default: .failed
            }
            if flow.finish(state, failure: error) {
                logger.notice("\(flow.kindName) \(flow.number) for \(account.name) ended: \(error)")
            }
        }
        state.withLock { state in
            if state.pendingFlows[account.name] === flow { state.pendingFlows[account.name] = nil }
            if state.pendingBrowserLogins[account.name] === flow { state.pendingBrowserLogins[account.name] = nil }
        }
        await currentObserver?.flowFinished(flow)
    }

    /// Every login ends here, whatever the grant: the account's login secret — a refresh token,
    /// or for a mytoken account its mytoken (`loginSecretKind`) — goes to the keyring under the
    /// account's refresh lock before anything else sees the login; the account's old access
    /// tokens are dropped and the grant's own access token, if any, is cached under the scopes
    /// the login asked for.
    func storeLogin(_ secret: SecretString, account: Account, accessToken: AccessToken? = nil,
                    requestedScopes: [String] = []) async throws(AgentError) {
        try await refreshLock(account.name).run { [self] () async throws(AgentError) in
            state.withLock { $0.unsavedRotations[account.name] = nil }
            try await vault.save(secret, as: account.loginSecretKind, of: account)
        }
        await tokens.drop(account: account.name)
        if let accessToken {
            await tokens.store(accessToken, for: TokenKey(account: account.name, scopes: requestedScopes, audience: account.audience))
        }
    }

    /// `storeLogin` for an OpenID provider's answer (device, browser and password grants).
    func storeLogin(_ response: TokenResponse, account: Account, scopes: [String]) async throws(AgentError) {
        guard let refreshToken = response.refreshToken else {
            throw .provider(error: "no_refresh_token", description: "the provider issued no refresh token; add the offline_access scope")
        }
        state.withLock {
            $0.idTokens[account.name] = response.idToken
            $0.loginScopes[account.name] = scopes
        }
        try await storeLogin(refreshToken, account: account,
                             accessToken: AccessToken(value: response.accessToken.reveal(), tokenType: response.tokenType,
                                                      expiresAt: response.expiresAt, scopes: response.scopes ?? scopes,
                                                      audience: account.audience),
                             requestedScopes: scopes)
    }

    private static func flowError(_ error: OIDCError, account: String) -> AgentError {
        if case .invalidGrant = error { return .expiredToken(account: account) }
        return AgentError(error, account: account)
    }

    // MARK: Revocation

    /// Revokes the refresh token at the provider and deletes it locally. Returns whether the
    /// provider confirmed; when it could not be reached the local secret goes anyway unless
    /// `keepOnFailure`, in which case the provider's error is thrown and nothing is deleted.
    public func revoke(account name: String, keepOnFailure: Bool, recursive: Bool = false) async throws(AgentError) -> Bool {
        let account = try resolveName(name)
        if recursive && account.kind != .mytoken {
            throw .invalidArgument(field: RevokeOption.recursive.rawValue, reason: "applies only to mytoken accounts")
        }
        return try await refreshLock(account.name).run { [self] () async throws(AgentError) -> Bool in
                let unsaved = state.withLock { $0.unsavedRotations[account.name] }
                let stored = unsaved == nil ? try await vault.load(account.loginSecretKind, of: account) : nil
                guard let refreshToken = unsaved ?? stored else {
                    await tokens.drop(account: account.name)
                    return false
                }
                var revoked = false
                if account.kind == .mytoken {
                    revoked = try await revokeMytoken(refreshToken, of: account, recursive: recursive,
                                                      keepOnFailure: keepOnFailure)
                } else {
                    let client = try await client(for: account)
                    do throws(OIDCError) {
                        try await client.revoke(refreshToken, hint: .refreshToken)
                        revoked = true
                    } catch {
                        if keepOnFailure {
                            logger.warning("revoking \(account.name) at the provider failed; keeping the local secret: \(error)")
                            throw AgentError(error, account: account.name)
                        }
                        logger.warning("revoking \(account.name) at the provider failed; deleting the local secret anyway: \(error)")
                    }
                }
                try await vault.delete(account.loginSecretKind, of: account)
                state.withLock {
                    $0.unsavedRotations[account.name] = nil
                    $0.idTokens[account.name] = nil
                }
                await tokens.drop(account: account.name)
                logger.info("revoked the login of \(account.name) (at the provider: \(revoked))")
                await currentObserver?.loginRequired(account: account.name)
                return revoked
        }
    }
}
