import Foundation
import Keyring
import OIDC
import TesseraNames

extension Account {
    /// The keyring item that holds the account's login: a refresh token, or a mytoken.
    var loginSecretKind: SecretKind { kind == .mytoken ? .mytoken : .refreshToken }
}

/// Mytoken accounts and mytokens the caller holds. A mytoken account's `issuer` is the OpenID
/// provider behind its mytoken server; its secret is the mytoken (keyring kind `mytoken`), used
/// under the same per-account lock and with the same token cache as a refresh token, because a
/// rotating mytoken must never be presented twice.
extension Agent {
    /// Capabilities asked for at login: access tokens, sub-mytokens (`tessera mytoken create`)
    /// and introspection.
    public static let loginCapabilities = ["AT", "create_mytoken", "tokeninfo"]

    // MARK: Servers

    /// The discovered client of the server at `url`, asked once per server and run.
    func mytokenClient(_ url: URL) async throws(AgentError) -> MytokenClient {
        let key = url.absoluteString
        if let client = state.withLock({ $0.mytokenClients[key] }) { return client }
        let client: MytokenClient
        do {
            client = try await MytokenClient.discover(server: url, transport: transport)
        } catch {
            throw AgentError(error, account: nil)
        }
        state.withLock { $0.mytokenClients[key] = client }
        return client
    }

    /// The server a mytoken names: the `iss` claim of a JWT mytoken (short tokens name none).
    static func server(of token: SecretString) -> URL? {
        guard let issuer = claim("iss", of: token) else { return nil }
        return try? Validate.serverURL(issuer, field: CreateMytokenKey.mytokenServer.rawValue)
    }

    /// A string claim of a JWT mytoken's payload (read, not verified: only to find where to send it).
    public static func claim(_ name: String, of token: SecretString) -> String? {
        let parts = token.reveal().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
              let claims = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        return claims[name] as? String
    }

    /// The server for a mytoken the caller passed: the one named in the call, else the token's own,
    /// else the default server (short tokens and transfer codes name none).
    func server(for token: SecretString, given: URL?, field: String) throws(AgentError) -> URL {
        if let given { return given }
        if let named = Self.server(of: token) { return named }
        return try defaultMytokenServer(field: field, why: "the mytoken is not a JWT that names its server")
    }

    /// The server of the user's mytoken accounts when they all use one. Callers pass `$MYTOKEN_URL`
    /// (or Tessera's `$MYTOKEN_SERVER`) as the server before it comes to this.
    public func defaultMytokenServer(field: String, why: String) throws(AgentError) -> URL {
        let accounts = self.accounts.filter { $0.kind == .mytoken && $0.mytokenServer != nil }
        var servers: [URL] = []
        for account in accounts where !servers.contains(account.mytokenServer!) { servers.append(account.mytokenServer!) }
        if servers.count == 1 { return servers[0] }
        if servers.isEmpty {
            throw .invalidArgument(field: field, reason: "is required: \(why), and there is no mytoken account to take "
                + "the server from; name it with --mytoken-server or MYTOKEN_URL")
        }
        let named = accounts.map { "\($0.name) (\($0.mytokenServer!.absoluteString))" }.joined(separator: ", ")
        throw .invalidArgument(field: field, reason: "is required: \(why), and the mytoken accounts \(named) use "
            + "different servers; choose one with --mytoken-server URL or MYTOKEN_URL")
    }

    // MARK: Accounts

    func addMytokenAccount(name: String, settings: AccountSettings, existing: Account?) async throws(AgentError) {
        // An imported JWT names its server; a login or a transfer code needs it named.
        let defaultServer = settings.transferCode != nil || settings.mytoken != nil
            ? try? defaultMytokenServer(field: AccountSetting.mytokenServer.rawValue, why: "") : nil
        guard let server = settings.mytokenServer ?? settings.mytoken.flatMap(Self.server(of:)) ?? defaultServer else {
            throw .invalidArgument(field: AccountSetting.mytokenServer.rawValue, reason: "is required for kind=mytoken")
        }
        if settings.clientID != nil || settings.clientSecret != nil {
            throw .invalidArgument(field: settings.clientID != nil ? AccountSetting.clientID.rawValue : AccountSetting.clientSecret.rawValue,
                                   reason: "does not apply to a mytoken account (the mytoken server is the client)")
        }
        if settings.mytoken != nil && settings.transferCode != nil {
            throw .invalidArgument(field: AccountSetting.transferCode.rawValue, reason: "give either mytoken or transfer-code, not both")
        }
        let client = try await mytokenClient(server)
        let issuer = try Self.oidcIssuer(settings.issuer, offeredBy: client.configuration)
        let account = Account(name: name, kind: .mytoken, issuer: issuer,
                              scopes: settings.scopes ?? (existing?.kind == .mytoken ? existing?.scopes : nil) ?? [],
                              audience: settings.audience ?? (existing?.kind == .mytoken ? existing?.audience : nil) ?? [],
                              mytokenServer: server,
                              mytokenRequest: settings.mytokenRequest ?? (existing?.kind == .mytoken ? existing?.mytokenRequest : nil))

        var given = settings.mytoken
        if let code = settings.transferCode {
            let issued: IssuedMytoken
            do { issued = try await client.exchange(transferCode: code) } catch { throw AgentError(error, account: nil) }
            given = issued.token
        }
        let mytoken = given
        // A login belongs to its server and provider; a new mytoken replaces the old one.
        let replacesLogin = existing.map {
            $0.issuer != account.issuer || $0.kind != account.kind || $0.mytokenServer != account.mytokenServer || mytoken != nil
        } ?? false
        try await refreshLock(name).run { [self] () async throws(AgentError) in
            try await commit(account, existing: existing) { (keyring: inout KeyringTransaction) async throws(AgentError) in
                let newKey = SecretVault.key(account, account.loginSecretKind)
                if let mytoken { try await keyring.save(mytoken, as: account.loginSecretKind, of: account) }
                guard let existing, replacesLogin else { return }
                for kind in SecretKind.allCases where !(mytoken != nil && SecretVault.key(existing, kind) == newKey) {
                    try await keyring.delete(kind, of: existing)
                }
            }
            if replacesLogin { state.withLock { $0.unsavedRotations[name] = nil } }
        }
        if mytoken != nil { await currentObserver?.loginCompleted(account: name) }
    }

    /// The OpenID issuer of a mytoken account, in the server's own spelling: the one asked for if
    /// the server offers it, else the server's only provider.
    static func oidcIssuer(_ wanted: URL?, offeredBy configuration: MytokenConfiguration) throws(AgentError) -> URL {
        let offered = configuration.providersSupported.compactMap { URL(string: $0.issuer) }
        func key(_ url: URL) -> String {
            var text = url.absoluteString.lowercased()
            while text.hasSuffix("/") { text.removeLast() }
            return text
        }
        if let wanted {
            if offered.isEmpty { return wanted }
            guard let match = offered.first(where: { key($0) == key(wanted) }) else {
                throw .invalidArgument(field: AccountSetting.oidcIssuer.rawValue,
                                       reason: "\(wanted.absoluteString) is not offered by \(configuration.issuer) (it offers "
                                           + offered.map(\.absoluteString).joined(separator: ", ") + ")")
            }
            return match
        }
        guard offered.count == 1, let only = offered.first else {
            throw .invalidArgument(field: AccountSetting.oidcIssuer.rawValue,
                                   reason: "is required: \(configuration.issuer) offers "
                                       + (offered.isEmpty ? "no provider list" : offered.map(\.absoluteString).joined(separator: ", ")))
        }
        return only
    }

    private func serverOf(_ account: Account) throws(AgentError) -> URL {
        guard let server = account.mytokenServer else {
            throw .invalidArgument(field: AccountSetting.mytokenServer.rawValue, reason: "account \"\(account.name)\" has none")
        }
        return server
    }

    /// The stored mytoken (or the rotation the keyring refused earlier), stored again if it was
    /// only in memory. Call under the account's refresh lock.
    private func currentMytoken(_ account: Account) async throws(AgentError) -> SecretString {
        let unsaved = state.withLock { $0.unsavedRotations[account.name] }
        let stored = unsaved == nil ? try await vault.load(.mytoken, of: account) : nil
        guard let mytoken = unsaved ?? stored else {
            throw .loginRequired(account: account.name, reason: "\"\(account.name)\" has no mytoken")
        }
        if let unsaved { try await persistRotation(unsaved, of: account) }
        return mytoken
    }

    /// The server said the stored mytoken is unknown, revoked, expired or rotated away: it can never
    /// work again, so it goes, and the account needs a login.
    private func mytokenRejected(_ account: Account, _ description: String?) async -> AgentError {
        logger.notice("the mytoken server rejected the mytoken of \(account.name) (invalid_token); deleting it")
        do { try await vault.delete(.mytoken, of: account) } catch {
            logger.warning("cannot delete the rejected mytoken of \(account.name): \(error.message)")
        }
        state.withLock { $0.unsavedRotations[account.name] = nil }
        await tokens.drop(account: account.name)
        await currentObserver?.loginRequired(account: account.name)
        return .loginRequired(account: account.name, reason: "the mytoken server no longer accepts the mytoken of \"\(account.name)\""
            + (description.map { " (\($0))" } ?? ""))
    }

    // MARK: Access tokens (called by the token cache's refresh, under the account's lock)

    func mytokenAccessToken(_ account: Account, scopes: [String], audience: [String]) async throws(AgentError) -> AccessToken {
        let client = try await mytokenClient(try serverOf(account))
        let mytoken = try await currentMytoken(account)
        let response: MytokenAccessToken
        do throws(MytokenError) {
            response = try await client.accessToken(mytoken: mytoken, scopes: scopes, audiences: audience,
                                                    comment: "tessera")
        } catch .invalidToken(let description) {
            throw await mytokenRejected(account, description)
        } catch {
            logger.warning("getting an access token for \(account.name) from its mytoken failed: \(error)")
            throw AgentError(error, account: account.name)
        }
        // The presented mytoken is dead once rotated: the replacement is stored first.
        if let rotated = response.rotatedMytoken { try await persistRotation(rotated, of: account) }
        let issuedAt = Date()
        return AccessToken(value: response.accessToken.reveal(), tokenType: response.tokenType,
                           expiresAt: issuedAt.addingTimeInterval(TimeInterval(response.expiresIn ?? 0)),
                           scopes: response.scopes.isEmpty ? scopes : response.scopes,
                           audience: response.audiences.isEmpty ? audience : response.audiences)
    }

    // MARK: Login (polling code)

    /// Starts the server's OIDC-flow login; call under the account's flow lock.
    func startMytokenLogin(_ account: Account, scopes: [String]?, notify: Bool,
                           requestedBy: String?) async throws(AgentError) -> DeviceFlow {
        let client = try await mytokenClient(try serverOf(account))
        var request = MytokenRequest(capabilities: Self.loginCapabilities, applicationName: "Tessera")
        if let fields = account.mytokenRequest {
            // What `tessera mytoken add` asked for, as the base; the default capabilities only
            // when it names neither capabilities nor a profile.
            request.profile = MytokenProfile(fields: fields)
            if fields["capabilities"] != nil || fields["include"] != nil { request.capabilities = nil }
        }
        if let scopes, !scopes.isEmpty, account.mytokenRequest?["restrictions"] == nil {
            request.restrictions = [MytokenRestriction(scope: scopes.joined(separator: " "))]
        }
        let login: MytokenLogin
        do {
            login = try await client.startLogin(oidcIssuer: account.issuer.absoluteString, request)
        } catch {
            throw AgentError(error, account: account.name)
        }
        let flow = makeFlow {
            DeviceFlow(number: $0, account: account.name, mytokenLogin: login, scopes: scopes ?? account.scopes,
                       requestedBy: requestedBy)
        }
        logger.info("mytoken login \(flow.number) started for \(account.name) by \(requestedBy ?? "the service"); consent expires \(flow.expiresAt)")
        await currentObserver?.flowStarted(flow, notify: notify)
        flow.attach(poller: Task { await pollMytokenLogin(flow, login: login, account: account, client: client) })
        return flow
    }

    private func pollMytokenLogin(_ flow: DeviceFlow, login: MytokenLogin, account: Account, client: MytokenClient) async {
        await runLogin(flow, account: account) { [self] () async throws(AgentError) in
            let issued: IssuedMytoken
            do throws(MytokenError) { issued = try await client.waitForLogin(login) } catch {
                throw AgentError(error, account: account.name)
            }
            try await storeLogin(issued.token, account: account)
        }
    }

    // MARK: A new mytoken for the caller (stored nowhere)

    /// Starts the server's login for a mytoken the caller takes with the flow's `takeDelivered()`
    /// once it completes: the consent page is notified like any login, but nothing is stored and
    /// no account changes. An untaken mytoken is dropped two minutes after the login ends.
    public func startNewMytoken(server: URL, provider: String?, request: MytokenRequest, notify: Bool,
                                requestedBy: String?) async throws(AgentError) -> DeviceFlow {
        let client = try await mytokenClient(server)
        var wanted: URL?
        if let provider, !provider.contains("://"), let known = listProviders().first(where: { $0.shortName == provider }) {
            // A short name from the known-providers list (`-i egi`).
            wanted = known.issuer
        } else if let provider, !provider.contains("://") {
            // Else one of the server's providers by its published name.
            let offered = client.configuration.providersSupported
            let key = provider.lowercased()
            let matches = offered.filter {
                $0.name?.lowercased() == key || $0.name?.lowercased().split(separator: " ").first.map(String.init) == key
                    || URL(string: $0.issuer)?.host?.lowercased().split(separator: ".").contains(where: { $0 == key }) == true
            }
            guard matches.count == 1, let match = URL(string: matches[0].issuer) else {
                throw .invalidArgument(field: CreateMytokenKey.oidcIssuer.rawValue, reason: "\"\(provider.prefix(64))\" "
                    + (matches.isEmpty ? "names none" : "names more than one") + " of the providers of \(server.absoluteString): "
                    + offered.map { ($0.name.map { "\($0) " } ?? "") + "(\($0.issuer))" }.joined(separator: ", "))
            }
            wanted = match
        } else if let provider {
            wanted = try Validate.serverURL(provider, field: CreateMytokenKey.oidcIssuer.rawValue)
        }
        let issuer = try Self.oidcIssuer(wanted, offeredBy: client.configuration)
        let login: MytokenLogin
        do { login = try await client.startLogin(oidcIssuer: issuer.absoluteString, request) } catch {
            throw AgentError(error, account: nil)
        }
        let label = "a new mytoken from \(server.host ?? server.absoluteString)"
        let flow = state.withLock { state in
            state.flowCount += 1
            return DeviceFlow(number: state.flowCount, account: label, mytokenLogin: login, scopes: [], requestedBy: requestedBy)
        }
        logger.info("mytoken login \(flow.number) started for a new mytoken by \(requestedBy ?? "the service")")
        await currentObserver?.flowStarted(flow, notify: notify)
        flow.attach(poller: Task { [self] in
            do throws(MytokenError) {
                flow.deliver(try await client.waitForLogin(login))
                if flow.finish(.completed) { logger.info("mytoken login \(flow.number) completed: a new mytoken for its caller") }
            } catch {
                let agentError = AgentError(error, account: nil)
                let state: DeviceFlowState = switch error {
                case .accessDenied: .denied
                case .loginExpired, .expiredCode: .expired
                case .cancelled: .cancelled
                default: .failed
                }
                if flow.finish(state, failure: agentError) { logger.notice("mytoken login \(flow.number) ended: \(agentError)") }
            }
            await currentObserver?.flowFinished(flow)
            try? await Task.sleep(for: .seconds(120))
            _ = flow.takeDelivered()
        })
        return flow
    }

    // MARK: Revocation

    /// Revokes the account's mytoken at its server (under the account's lock). False when the
    /// server could not be asked and the caller lets the local secret go anyway.
    func revokeMytoken(_ mytoken: SecretString, of account: Account, recursive: Bool,
                       keepOnFailure: Bool) async throws(AgentError) -> Bool {
        do throws(AgentError) {
            let client = try await mytokenClient(try serverOf(account))
            do throws(MytokenError) { try await client.revoke(mytoken, recursive: recursive) } catch {
                throw AgentError(error, account: account.name)
            }
            return true
        } catch {
            if keepOnFailure {
                logger.warning("revoking \(account.name) at its mytoken server failed; keeping the mytoken: \(error)")
                throw error
            }
            logger.warning("revoking \(account.name) at its mytoken server failed; deleting the mytoken anyway: \(error)")
            return false
        }
    }

    // MARK: Mytokens the caller holds, and sub-mytokens

    /// A sub-mytoken (or short token, or transfer code) from `account`'s mytoken or from `passed`.
    /// For an account, a rotated parent is stored before the answer; for a passed token the
    /// replacement is returned for the caller to keep.
    public func createMytoken(account nameOrIssuer: String?, passed: SecretString?, server given: URL?,
                              request: MytokenRequest) async throws(AgentError) -> (IssuedMytoken, URL) {
        if let passed {
            let server = try server(for: passed, given: given, field: CreateMytokenKey.mytokenServer.rawValue)
            let client = try await mytokenClient(server)
            do { return (try await client.createMytoken(from: passed, request), server) } catch {
                throw AgentError(error, account: nil)
            }
        }
        guard let nameOrIssuer else {
            throw .invalidArgument(field: "account", reason: "name an account or pass a mytoken")
        }
        let account = try resolve(nameOrIssuer)
        guard account.kind == .mytoken else {
            throw .invalidArgument(field: "account", reason: "\"\(account.name)\" is not a mytoken account")
        }
        let server = try serverOf(account)
        let client = try await mytokenClient(server)
        return try await refreshLock(account.name).run { [self] () async throws(AgentError) -> (IssuedMytoken, URL) in
            let mytoken = try await currentMytoken(account)
            var issued: IssuedMytoken
            do throws(MytokenError) {
                issued = try await client.createMytoken(from: mytoken, request)
            } catch .invalidToken(let description) {
                throw await mytokenRejected(account, description)
            } catch {
                throw AgentError(error, account: account.name)
            }
            if let rotated = issued.rotatedMytoken {
                try await persistRotation(rotated, of: account)
                issued.rotatedMytoken = nil
            }
            return (issued, server)
        }
    }

    /// An access token from a mytoken the caller holds: nothing stored, nothing cached.
    public func accessToken(withMytoken mytoken: SecretString, server given: URL?, scopes: [String], audience: [String],
                            oidcIssuer: String?, comment: String?) async throws(AgentError) -> (MytokenAccessToken, URL) {
        let server = try server(for: mytoken, given: given, field: MytokenTokenOption.mytokenServer.rawValue)
        let client = try await mytokenClient(server)
        do {
            return (try await client.accessToken(mytoken: mytoken, scopes: scopes, audiences: audience,
                                                 comment: comment, oidcIssuer: oidcIssuer), server)
        } catch {
            throw AgentError(error, account: nil)
        }
    }

    public func exchange(transferCode: SecretString, server given: URL?) async throws(AgentError) -> (IssuedMytoken, URL) {
        var server: URL
        if let given { server = given } else {
            server = try defaultMytokenServer(field: MytokenServerOption.mytokenServer.rawValue,
                                              why: "a transfer code does not name its server")
        }
        let client = try await mytokenClient(server)
        do { return (try await client.exchange(transferCode: transferCode), server) } catch { throw AgentError(error, account: nil) }
    }

    // MARK: Templates, profiles and tokeninfo

    /// The server's template groups (`kind` nil) or its templates of one kind.
    public func mytokenTemplates(server given: URL?, kind: MytokenTemplateKind?, group: String?)
        async throws(AgentError) -> (json: String, entries: [String: String])
    {
        var server: URL
        if let given { server = given } else {
            server = try defaultMytokenServer(field: MytokenTemplatesOption.mytokenServer.rawValue, why: "no server was named")
        }
        let client = try await mytokenClient(server)
        do {
            guard let kind else {
                let groups = try await client.templateGroups()
                return (MytokenJSON.array(groups.map(MytokenJSON.string)).text,
                        Dictionary(groups.map { ($0, "") }, uniquingKeysWith: { a, _ in a }))
            }
            let templates = try await client.templates(kind, group: group)
            let json = MytokenJSON.array(templates.map { .object(["id": .string($0.id), "name": .string($0.name), "payload": $0.payload]) })
            return (json.text, Dictionary(templates.map { ($0.name, $0.payload.text) }, uniquingKeysWith: { a, _ in a }))
        } catch {
            throw AgentError(error, account: nil)
        }
    }

    /// A tokeninfo action for `account`'s mytoken (a rotation stored before the answer) or for a
    /// passed one (the replacement returned in the answer).
    public func mytokenInfo(_ action: MytokenTokeninfoAction, account nameOrIssuer: String?, passed: SecretString?,
                            server given: URL?) async throws(AgentError) -> (MytokenTokeninfo, URL) {
        if let passed {
            let server = try server(for: passed, given: given, field: MytokenInfoOption.mytokenServer.rawValue)
            let client = try await mytokenClient(server)
            do { return (try await client.tokeninfo(action, mytoken: passed), server) } catch {
                throw AgentError(error, account: nil)
            }
        }
        guard let nameOrIssuer else { throw .invalidArgument(field: "account", reason: "name an account or pass a mytoken") }
        let account = try resolve(nameOrIssuer)
        guard account.kind == .mytoken else {
            throw .invalidArgument(field: "account", reason: "\"\(account.name)\" is not a mytoken account")
        }
        let server = try serverOf(account)
        let client = try await mytokenClient(server)
        return try await refreshLock(account.name).run { [self] () async throws(AgentError) -> (MytokenTokeninfo, URL) in
            let mytoken = try await currentMytoken(account)
            var info: MytokenTokeninfo
            do throws(MytokenError) {
                info = try await client.tokeninfo(action, mytoken: mytoken)
            } catch .invalidToken(let description) {
                throw await mytokenRejected(account, description)
            } catch {
                throw AgentError(error, account: account.name)
            }
            if let rotated = info.rotatedMytoken {
                try await persistRotation(rotated, of: account)
                info.rotatedMytoken = nil
            }
            return (info, server)
        }
    }

    public func revoke(mytoken: SecretString, server given: URL?, recursive: Bool) async throws(AgentError) {
        let server = try server(for: mytoken, given: given, field: MytokenServerOption.mytokenServer.rawValue)
        let client = try await mytokenClient(server)
        do { try await client.revoke(mytoken, recursive: recursive) } catch { throw AgentError(error, account: nil) }
    }
}

extension AgentError {
    /// The agent's answer for a mytoken failure. `invalid_token` of a stored mytoken is handled by
    /// the caller (the secret goes, LoginRequired); here it is a token the caller passed or a code.
    init(_ error: MytokenError, account: String?) {
        let who = account ?? "the mytoken"
        switch error {
        case .invalidTimeValue, .invalidRestriction:
            self = .invalidArgument(field: CreateMytokenKey.restrictions.rawValue, reason: error.description)
        case .invalidArgument(let what):
            self = .invalidArgument(field: "request", reason: what)
        case .invalidToken:
            self = .provider(error: "invalid_token", description: error.description)
        case .expiredCode, .loginExpired:
            if let account { self = .expiredToken(account: account) } else {
                self = .provider(error: "expired_token", description: error.description)
            }
        case .accessDenied:
            self = .accessDenied(account: who)
        case .usageRestricted, .insufficientCapabilities:
            self = .notPermitted(error.description)
        case .provider(let code, let description):
            self = .provider(error: code, description: description ?? error.description)
        case .unknownTemplate:
            self = .provider(error: "invalid_request", description: error.description)
        case .server(_, let code, let description):
            self = .provider(error: code, description: description)
        case .cancelled:
            self = .cancelled("the request to the mytoken server was cancelled")
        case .unsupported(let what):
            self = .provider(error: "unsupported", description: "the mytoken server does not support \(what)")
        case .network(let what):
            self = .network("mytoken server: \(what)")
        case .invalidResponse(let what):
            self = .provider(error: "malformed_response", description: "the mytoken server sent an unexpected answer: \(what)")
        }
    }
}
