import FoundationEssentials
import Keyring
import Logging
import OIDC
import Secrets
import Synchronization
import TesseraNames

/// An account at a mytoken server: its mytoken (keyring kind `mytoken`) is exchanged there for
/// access tokens; the login is the server's polling-code flow. The account's `issuer` is the
/// OpenID provider behind the server.
final class MytokenSource: CredentialSource {
    /// Capabilities asked for at login: access tokens, sub-mytokens (`tessera mytoken create`)
    /// and introspection.
    static let loginCapabilities = ["AT", "create_mytoken", "tokeninfo"]

    let transport: any HTTPTransport
    let logger: Logger
    /// Discovered servers, by URL (discovery is asked once per server and run).
    private let clients = Mutex<[String: MytokenClient]>([:])

    init(transport: any HTTPTransport, logger: Logger) {
        self.transport = transport
        self.logger = logger
    }

    var revokesRecursively: Bool { true }

    /// The discovered client of the server at `url`.
    func client(_ url: URL) async throws(AgentError) -> MytokenClient {
        let key = url.absoluteString
        if let client = clients.withLock({ $0[key] }) { return client }
        let client: MytokenClient
        do {
            client = try await MytokenClient.discover(server: url, transport: transport)
        } catch {
            throw AgentError(error, account: nil)
        }
        clients.withLock { $0[key] = client }
        return client
    }

    static func server(of account: Account) throws(AgentError) -> URL {
        guard let server = account.mytokenServer else {
            throw .invalidArgument(field: AccountSetting.mytokenServer.rawValue, reason: "account \"\(account.name)\" has none")
        }
        return server
    }

    func client(for account: Account) async throws(AgentError) -> MytokenClient {
        try await client(try Self.server(of: account))
    }

    // MARK: Accounts

    func prepareAccount(name: String, settings: AccountSettings, existing: Account?) async throws(AgentError) -> PreparedAccount {
        // An imported JWT names its server; a login or a transfer code needs it named.
        let defaultServer = settings.transferCode != nil || settings.mytoken != nil ? settings.defaultMytokenServer : nil
        guard let server = settings.mytokenServer ?? settings.mytoken.flatMap(Mytokens.server(of:)) ?? defaultServer else {
            throw .invalidArgument(field: AccountSetting.mytokenServer.rawValue, reason: "is required for kind=mytoken")
        }
        if settings.clientID != nil || settings.clientSecret != nil {
            throw .invalidArgument(field: settings.clientID != nil ? AccountSetting.clientID.rawValue : AccountSetting.clientSecret.rawValue,
                                   reason: "does not apply to a mytoken account (the mytoken server is the client)")
        }
        if settings.mytoken != nil && settings.transferCode != nil {
            throw .invalidArgument(field: AccountSetting.transferCode.rawValue, reason: "give either mytoken or transfer-code, not both")
        }
        let client = try await client(server)
        let issuer = try Self.oidcIssuer(settings.issuer, offeredBy: client.configuration)
        let account = Account(name: name, kind: .mytoken, issuer: issuer,
                              scopes: settings.scopes ?? (existing?.kind == .mytoken ? existing?.scopes : nil) ?? [],
                              audience: settings.audience ?? (existing?.kind == .mytoken ? existing?.audience : nil) ?? [],
                              mytokenServer: server,
                              mytokenRequest: settings.mytokenRequest ?? (existing?.kind == .mytoken ? existing?.mytokenRequest : nil))
        var mytoken = settings.mytoken
        if let code = settings.transferCode {
            do { mytoken = try await client.exchange(transferCode: code).token } catch { throw AgentError(error, account: nil) }
        }
        var prepared = PreparedAccount(account: account, loginSecret: mytoken)
        if let existing, existing.issuer != account.issuer || existing.kind != account.kind
            || existing.mytokenServer != account.mytokenServer || mytoken != nil {
            // A login belongs to its server and provider; a new mytoken replaces the old one.
            prepared.forget = .everything
        }
        return prepared
    }

    /// The OpenID issuer of a mytoken account, in the server's own spelling: the one asked for if
    /// the server offers it, else the server's only provider.
    static func oidcIssuer(_ wanted: URL?, offeredBy configuration: MytokenConfiguration) throws(AgentError) -> URL {
        let offered = configuration.providersSupported.compactMap { URL(string: $0.issuer) }
        if let wanted {
            if offered.isEmpty { return wanted }
            guard let match = offered.first(where: { IssuerKey($0) == IssuerKey(wanted) }) else {
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

    // MARK: Access tokens

    func refresh(_ account: Account, secret: Secret, scopes: [String], audience: [String],
                 grantedScopes: [String]) async throws(CredentialFailure) -> Refreshed<AccessToken> {
        let client: MytokenClient
        do { client = try await self.client(for: account) } catch { throw .failed(error) }
        let response: MytokenAccessToken
        do throws(MytokenError) {
            response = try await client.accessToken(mytoken: secret, scopes: scopes, audiences: audience, comment: "tessera")
        } catch {
            // Only this answer means the secret itself is gone; it goes, and the account needs a login.
            if case .invalidToken = error { throw .rejected(AgentError(error, account: account.name)) }
            throw .failed(AgentError(error, account: account.name))
        }
        let token = AccessToken(value: response.accessToken.reveal(), tokenType: response.tokenType,
                                expiresAt: Date().addingTimeInterval(TimeInterval(response.expiresIn ?? 0)),
                                scopes: response.scopes.isEmpty ? scopes : response.scopes,
                                audience: response.audiences.isEmpty ? audience : response.audiences)
        return Refreshed(value: token, rotated: response.rotatedMytoken)
    }

    // MARK: Revocation

    func revoke(_ account: Account, secret: Secret, recursive: Bool) async throws(AgentError) {
        let client = try await client(for: account)
        do throws(MytokenError) { try await client.revoke(secret, recursive: recursive) } catch {
            throw AgentError(error, account: account.name)
        }
    }
}
