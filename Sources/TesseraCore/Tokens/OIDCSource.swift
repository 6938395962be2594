import FoundationEssentials
import Keyring
import Logging
import OIDC
import Secrets
import TesseraNames

/// An account at an OpenID provider: a refresh token (RFC 6749 §6), the device flow to get one,
/// RFC 7009 to revoke it. The browser and password logins are this source's too
/// (`BrowserLogin.swift`, `PasswordLogin.swift`).
struct OIDCSource: CredentialSource {
    let vault: SecretVault
    let transport: any HTTPTransport
    let logger: Logger

    var revokesRecursively: Bool { false }

    /// The account's protocol client, with its client secret from the keyring.
    func client(for account: Account) async throws(AgentError) -> OIDCClient {
        guard let clientID = account.clientID else {
            throw .invalidArgument(field: AccountSetting.clientID.rawValue, reason: "account \"\(account.name)\" has no client id")
        }
        let secret = try await vault.load(.clientSecret, of: account)
        let credentials = ClientCredentials(clientID: clientID, authentication: secret.map { .clientSecretBasic($0) } ?? .none)
        return OIDCClient(issuer: account.issuer, credentials: credentials, audienceStyle: account.audienceStyle,
                          transport: transport, logger: logger)
    }

    func prepareAccount(name: String, settings: AccountSettings, existing: Account?) async throws(AgentError) -> PreparedAccount {
        guard let issuer = settings.issuer else {
            throw .invalidArgument(field: AccountSetting.issuer.rawValue, reason: "is required")
        }
        var account = Account(name: name, kind: settings.kind, issuer: issuer, clientID: settings.clientID,
                              scopes: settings.scopes ?? existing?.scopes ?? ["openid", "offline_access"],
                              audience: settings.audience ?? existing?.audience ?? [],
                              audienceStyle: settings.audienceStyle ?? existing?.audienceStyle ?? .auto,
                              mytokenServer: settings.mytokenServer)
        var clientSecret = settings.clientSecret
        var management: ClientManagement?
        if account.clientID != nil {
            // A client the user brought keeps its registered redirect URIs, and the management
            // of a client registered elsewhere (oidc-gen) moves along, so removing deletes it.
            let sameClient = existing?.clientID == account.clientID && existing.map { IssuerKey($0.issuer) } == IssuerKey(issuer)
            account.redirectURIs = settings.redirectURIs ?? (sameClient ? existing?.redirectURIs : nil)
            management = settings.management
            account.registrationClientURI = management?.clientURI ?? (sameClient ? existing?.registrationClientURI : nil)
        } else {
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
            management = registration.management
            account.registrationClientURI = management?.clientURI
            switch registration.credentials.authentication {
            case .none: break
            case .clientSecretBasic(let secret), .clientSecretPost(let secret): clientSecret = secret
            }
            logger.info("registered client \(registration.credentials.clientID) for \(name) at \(account.issuer.absoluteString)")
        }
        var prepared = PreparedAccount(account: account, clientSecret: clientSecret, management: management)
        if let existing {
            if existing.issuer != account.issuer || existing.kind != account.kind {
                prepared.forget = .everything
            } else if existing.clientID != account.clientID {
                // A refresh token is bound to the client that obtained it.
                prepared.forget = .kinds([.refreshToken] + (clientSecret == nil ? [.clientSecret] : [])
                                             + (management == nil ? [.registrationToken] : []))
            }
        }
        return prepared
    }

    func refresh(_ account: Account, secret: Secret, scopes: [String], audience: [String],
                 grantedScopes: [String]) async throws(CredentialFailure) -> Refreshed<AccessToken> {
        let client: OIDCClient
        do { client = try await self.client(for: account) } catch { throw .failed(error) }
        let response: TokenResponse
        do throws(OIDCError) {
            // Scopes go out only when they differ from the login's: "as originally granted" otherwise.
            response = try await client.refresh(refreshToken: secret,
                                                scopes: Set(scopes) == Set(grantedScopes) ? nil : scopes,
                                                audience: audience)
        } catch {
            // Only this answer means the secret itself is gone; it goes, and the account needs a login.
            if case .invalidGrant = error { throw .rejected(AgentError(error, account: account.name)) }
            throw .failed(AgentError(error, account: account.name))
        }
        logger.debug("refreshed \(account.name): lifetime \(response.lifetime)")
        let token = AccessToken(value: response.accessToken.reveal(), tokenType: response.tokenType,
                                expiresAt: response.expiresAt, scopes: response.scopes ?? scopes, audience: audience)
        let rotated = response.refreshToken.flatMap { $0 != secret ? $0 : nil }
        return Refreshed(value: token, rotated: rotated, idToken: response.idToken, receivedAt: response.receivedAt)
    }

    func revoke(_ account: Account, secret: Secret, recursive: Bool) async throws(AgentError) {
        let client = try await client(for: account)
        do throws(OIDCError) { try await client.revoke(secret, hint: .refreshToken) } catch {
            throw AgentError(error, account: account.name)
        }
    }
}
