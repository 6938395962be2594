import FoundationEssentials
import OIDC
import Secrets
import TesseraNames

/// Access tokens and the login secrets they come from: the rules every kind of account shares.
extension Agent {
    public func token(_ request: TokenRequest) async throws(AgentError) -> (AccessToken, Account) {
        let account = try resolve(request.account)
        let scopes = request.scopes ?? account.scopes
        let audience = request.audience ?? account.audience
        do {
            return (try await cachedOrRefreshed(account, scopes: scopes, audience: audience, request: request), account)
        } catch .loginRequired(let name, let reason) where request.interactive {
            logger.info("\(name) needs a login (\(reason)); starting one for an interactive request")
            let login = try await startDeviceFlow(account: account.name, scopes: nil, notify: true,
                                                  requestedBy: request.requestedBy)
            try await wait(for: login, seconds: request.timeout)
            var again = request
            again.force = false
            return (try await cachedOrRefreshed(account, scopes: scopes, audience: audience, request: again), account)
        }
    }

    private func wait(for login: Login, seconds: UInt32) async throws(AgentError) {
        switch await login.finished(within: .seconds(Int(seconds))) {
        case .success?: return
        case .failure(let error)?: throw error
        case nil:
            throw .timeout("no login for \"\(login.account)\" within \(seconds) s; the login stays open: approve it and ask again")
        }
    }

    /// The cache's token, or one refresh shared by every caller asking for the same key.
    private func cachedOrRefreshed(_ account: Account, scopes: [String], audience: [String],
                                   request: TokenRequest) async throws(AgentError) -> AccessToken {
        let key = TokenKey(account: account.name, scopes: scopes, audience: audience)
        // A hit needs no hop to the cache's actor.
        if !request.force, let cached = tokens.cached(key, minValid: TimeInterval(request.minValid)) { return cached }
        let source = source(account.kind)
        do {
            return try await tokens.token(for: key, minValid: TimeInterval(request.minValid), force: request.force) {
                [self] () async throws(AgentError) -> AccessToken in
                // The account as it is now: an edit since the request began changed what was granted.
                let current = state.withLock { $0.accounts.first { $0.name == account.name } } ?? account
                let granted = current.loginScopes ?? current.scopes
                return try await withLoginSecret(of: account) { secret async throws(CredentialFailure) -> Refreshed<AccessToken> in
                    try await source.refresh(account, secret: secret, scopes: scopes, audience: audience, grantedScopes: granted)
                }
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw .cancelled("the request was cancelled")
        }
    }

    /// Uses the account's login secret: alone (the account's lock), with an unsaved rotation
    /// stored first, a new rotation stored before the result is returned, and the secret deleted
    /// — and `LoginRequired` signalled — when the server rejects it for good.
    func withLoginSecret<Value: Sendable>(
        of account: Account, _ use: @Sendable (Secret) async throws(CredentialFailure) -> Refreshed<Value>
    ) async throws(AgentError) -> Value {
        try await secrets.locks.run(account.name) { [self] () async throws(AgentError) -> Value in
            // A clean stop waits for uses in flight (their rotation must reach the keyring) and
            // lets no new one start.
            guard rotations.enter() else { throw .cancelled("tesserad is stopping") }
            defer { rotations.leave() }
            guard let secret = try await secrets.current(of: account) else {
                throw .loginRequired(account: account.name, reason: "\"\(account.name)\" is not logged in")
            }
            let result: Refreshed<Value>
            let sentAt = ContinuousClock.now
            do throws(CredentialFailure) { result = try await use(secret) } catch {
                switch error {
                case .failed(let error):
                    logger.warning("using the login of \(account.name) failed: \(error)")
                    throw error
                case .rejected(let error):
                    throw await loginRejected(account, error)
                }
            }
            if let rotated = result.rotated {
                try await secrets.storeRotation(rotated, of: account)
                // The windows in which a SIGKILL loses the login (issue 12, item 6): from the answer
                // (the server has rotated) to the keyring write, and — because a server finishes a
                // request whose client died — from the request itself.
                if let receivedAt = result.receivedAt {
                    let afterAnswer = Int((Date().timeIntervalSince(receivedAt) * 1000).rounded())
                    let afterRequest = (ContinuousClock.now - sentAt).components
                    let requestMilliseconds = afterRequest.seconds * 1000 + afterRequest.attoseconds / 1_000_000_000_000_000
                    let what = account.kind == .mytoken ? "mytoken" : "refresh token"
                    logger.debug("stored the rotated \(what) of \(account.name) \(afterAnswer) ms after the provider's answer, \(requestMilliseconds) ms after the request")
                }
            }
            if let idToken = result.idToken { state.withLock { $0.idTokens[account.name] = idToken } }
            return result.value
        }
    }

    /// The server said the secret can never work again: it goes, and the account needs a login.
    private func loginRejected(_ account: Account, _ error: AgentError) async -> AgentError {
        logger.notice("the server rejected the \(account.loginSecretKind.rawValue) of \(account.name); deleting it")
        do { try await secrets.delete(of: account) } catch {
            logger.warning("cannot delete the rejected \(account.loginSecretKind.rawValue) of \(account.name): \(error.message)")
        }
        await tokens.drop(account: account.name)
        await currentObserver?.loginRequired(account: account.name)
        // An import being tested is answered to its caller; anything else lost its login behind
        // the user's back (IAM: refresh tokens live 30 days), so offer a new one.
        if !state.withLock({ $0.importing.contains(account.name) }) {
            await currentObserver?.loginExpired(account: account.name)
        }
        return error
    }

    /// Ends every login-secret use: waits up to `timeout` for those in flight (whose rotated
    /// secret must reach the keyring) and refuses new ones. Returns how many did not finish.
    public func finishRotations(within timeout: Duration) async -> Int {
        let inFlight = rotations.inFlight
        if inFlight > 0 { logger.notice("waiting for \(inFlight) refresh(es) in flight to store their rotated tokens") }
        return await rotations.closeAndDrain(timeout: timeout)
    }

    // MARK: Revocation

    /// Revokes the login secret at its server and deletes it locally. Returns whether the server
    /// confirmed; when it could not be reached the local secret goes anyway unless
    /// `keepOnFailure`, in which case the server's error is thrown and nothing is deleted.
    public func revoke(account name: String, keepOnFailure: Bool, recursive: Bool = false) async throws(AgentError) -> Bool {
        // A destructive call: by name only, never "the first account" of an issuer.
        let account = try resolveName(name)
        let source = source(account.kind)
        if recursive && !source.revokesRecursively {
            throw .invalidArgument(field: RevokeOption.recursive.rawValue, reason: "applies only to mytoken accounts")
        }
        return try await secrets.locks.run(account.name) { [self] () async throws(AgentError) -> Bool in
            guard let secret = try await secrets.current(of: account, storingUnsaved: false) else {
                await tokens.drop(account: account.name)
                return false
            }
            var revoked = false
            do throws(AgentError) {
                try await source.revoke(account, secret: secret, recursive: recursive)
                revoked = true
            } catch {
                if keepOnFailure {
                    logger.warning("revoking \(account.name) at its server failed; keeping the local secret: \(error)")
                    throw error
                }
                logger.warning("revoking \(account.name) at its server failed; deleting the local secret anyway: \(error)")
            }
            try await secrets.delete(of: account)
            state.withLock { $0.idTokens[account.name] = nil }
            await tokens.drop(account: account.name)
            logger.info("revoked the login of \(account.name) (at the server: \(revoked))")
            await currentObserver?.loginRequired(account: account.name)
            return revoked
        }
    }
}
