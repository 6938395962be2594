import FoundationEssentials
import OIDC
import Secrets
import TesseraNames

/// Reading a mytoken the caller passed (never verified here: only to find where to send it).
public enum Mytokens {
    /// The server a mytoken names: the `iss` claim of a JWT mytoken (short tokens name none).
    static func server(of token: Secret) -> URL? {
        guard let issuer = claim("iss", of: token) else { return nil }
        return try? Validate.serverURL(issuer, field: CreateMytokenKey.mytokenServer.rawValue)
    }

    /// A string claim of a JWT mytoken's payload.
    public static func claim(_ name: String, of token: Secret) -> String? {
        JWT.claims(of: token)?[name]?.stringValue
    }
}

/// Sub-mytokens of a mytoken account, and mytokens the caller holds.
extension Agent {
    /// The server for a mytoken the caller passed: the one named in the call, else the token's own,
    /// else the default server (short tokens and transfer codes name none).
    func mytokenServer(for token: Secret, given: URL?, field: String) throws(AgentError) -> URL {
        if let given { return given }
        if let named = Mytokens.server(of: token) { return named }
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

    /// A mytoken account's mytoken used for one request (`use`), with the account's lock, rotation
    /// and rejection rules (`withLoginSecret`).
    private func withAccountMytoken<Value: Sendable>(
        _ nameOrIssuer: String?, _ use: @Sendable (Secret, MytokenClient) async throws(MytokenError) -> Refreshed<Value>
    ) async throws(AgentError) -> (Value, URL) {
        guard let nameOrIssuer else {
            throw .invalidArgument(field: "account", reason: "name an account or pass a mytoken")
        }
        let account = try resolve(nameOrIssuer)
        guard account.kind == .mytoken else {
            throw .invalidArgument(field: "account", reason: "\"\(account.name)\" is not a mytoken account")
        }
        let server = try MytokenSource.server(of: account)
        let client = try await mytokens.client(server)
        let value = try await withLoginSecret(of: account) { mytoken async throws(CredentialFailure) -> Refreshed<Value> in
            do throws(MytokenError) { return try await use(mytoken, client) } catch {
                // Only this answer means the mytoken itself is gone; it goes, and the account needs a login.
                if case .invalidToken = error { throw .rejected(AgentError(error, account: account.name)) }
                throw .failed(AgentError(error, account: account.name))
            }
        }
        return (value, server)
    }

    /// A sub-mytoken (or short token, or transfer code) from `account`'s mytoken or from `passed`.
    /// For an account, a rotated parent is stored before the answer; for a passed token the
    /// replacement is returned for the caller to keep.
    public func createMytoken(account nameOrIssuer: String?, passed: Secret?, server given: URL?,
                              request: MytokenRequest) async throws(AgentError) -> (IssuedMytoken, URL) {
        if let passed {
            let server = try mytokenServer(for: passed, given: given, field: CreateMytokenKey.mytokenServer.rawValue)
            let client = try await mytokens.client(server)
            do { return (try await client.createMytoken(from: passed, request), server) } catch {
                throw AgentError(error, account: nil)
            }
        }
        var (issued, server) = try await withAccountMytoken(nameOrIssuer) { mytoken, client async throws(MytokenError) in
            let issued = try await client.createMytoken(from: mytoken, request)
            return Refreshed(value: issued, rotated: issued.rotatedMytoken)
        }
        // The service stored the rotated parent; the caller has nothing to keep.
        issued.rotatedMytoken = nil
        return (issued, server)
    }

    /// An access token from a mytoken the caller holds: nothing stored, nothing cached.
    public func accessToken(withMytoken mytoken: Secret, server given: URL?, scopes: [String], audience: [String],
                            oidcIssuer: String?, comment: String?) async throws(AgentError) -> (MytokenAccessToken, URL) {
        let server = try mytokenServer(for: mytoken, given: given, field: MytokenTokenOption.mytokenServer.rawValue)
        let client = try await mytokens.client(server)
        do {
            return (try await client.accessToken(mytoken: mytoken, scopes: scopes, audiences: audience,
                                                 comment: comment, oidcIssuer: oidcIssuer), server)
        } catch {
            throw AgentError(error, account: nil)
        }
    }

    public func exchange(transferCode: Secret, server given: URL?) async throws(AgentError) -> (IssuedMytoken, URL) {
        let server: URL
        if let given { server = given } else {
            server = try defaultMytokenServer(field: MytokenServerOption.mytokenServer.rawValue,
                                              why: "a transfer code does not name its server")
        }
        let client = try await mytokens.client(server)
        do { return (try await client.exchange(transferCode: transferCode), server) } catch { throw AgentError(error, account: nil) }
    }

    // MARK: Templates, profiles and tokeninfo

    /// The server's template groups (`kind` nil) or its templates of one kind.
    public func mytokenTemplates(server given: URL?, kind: MytokenTemplateKind?, group: String?)
        async throws(AgentError) -> (json: String, entries: [String: String])
    {
        let server: URL
        if let given { server = given } else {
            server = try defaultMytokenServer(field: MytokenTemplatesOption.mytokenServer.rawValue, why: "no server was named")
        }
        let client = try await mytokens.client(server)
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
    public func mytokenInfo(_ action: MytokenTokeninfoAction, account nameOrIssuer: String?, passed: Secret?,
                            server given: URL?) async throws(AgentError) -> (MytokenTokeninfo, URL) {
        if let passed {
            let server = try mytokenServer(for: passed, given: given, field: MytokenInfoOption.mytokenServer.rawValue)
            let client = try await mytokens.client(server)
            do { return (try await client.tokeninfo(action, mytoken: passed), server) } catch {
                throw AgentError(error, account: nil)
            }
        }
        var (info, server) = try await withAccountMytoken(nameOrIssuer) { mytoken, client async throws(MytokenError) in
            let info = try await client.tokeninfo(action, mytoken: mytoken)
            return Refreshed(value: info, rotated: info.rotatedMytoken)
        }
        info.rotatedMytoken = nil
        return (info, server)
    }

    public func revoke(mytoken: Secret, server given: URL?, recursive: Bool) async throws(AgentError) {
        let server = try mytokenServer(for: mytoken, given: given, field: MytokenServerOption.mytokenServer.rawValue)
        let client = try await mytokens.client(server)
        do { try await client.revoke(mytoken, recursive: recursive) } catch { throw AgentError(error, account: nil) }
    }
}
