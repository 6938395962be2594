import FoundationEssentials
import Keyring
import OIDC
import Secrets

/// Where an account's access tokens come from: an OpenID provider with a refresh token
/// (`OIDCSource`) or a mytoken server with a mytoken (`MytokenSource`). The shape is GNOME Online
/// Accounts' provider interface: the agent above never branches on the kind of account; the token
/// cache, single-flight refreshes, the per-account lock, storing a rotation before replying and the
/// keyring rules live once, in `Agent` and `LoginSecrets`.
protocol CredentialSource: Sendable {
    /// Checks a new or changed account's settings with its server (registers a client, or finds
    /// the OpenID provider behind a mytoken server) and says what to store and what to forget.
    /// Nothing is stored here: the agent applies the result.
    func prepareAccount(name: String, settings: AccountSettings, existing: Account?) async throws(AgentError) -> PreparedAccount

    /// An access token from the account's login secret. A rotated secret comes back in the result
    /// and is stored by the caller before the token is handed out. `grantedScopes`: what the login
    /// was granted (a refresh asks for other scopes only when they differ).
    func refresh(_ account: Account, secret: Secret, scopes: [String], audience: [String],
                 grantedScopes: [String]) async throws(CredentialFailure) -> Refreshed<AccessToken>

    /// Starts the account's own kind of login at its server (a device flow, or a mytoken server's
    /// consent page): what to show the user, and the wait for the secret it issues.
    func startLogin(_ account: Account, scopes: [String]?) async throws(AgentError) -> LoginStart

    /// Revokes the secret at the server (`recursive`: with every token made from it, where the
    /// server knows such a thing; see `revokesRecursively`).
    func revoke(_ account: Account, secret: Secret, recursive: Bool) async throws(AgentError)

    /// Whether `revoke(recursive: true)` means anything for this kind of account.
    var revokesRecursively: Bool { get }
}

/// A result obtained with a login secret, and the secret's replacement when the server rotated it.
struct Refreshed<Value: Sendable>: Sendable {
    var value: Value
    var rotated: Secret?
    /// An ID token that came with it (OpenID providers), kept for GetIdToken.
    var idToken: Secret?
    /// When the server's answer arrived (for the log of how long a rotation was unsaved).
    var receivedAt: Date?
}

/// Why using a login secret failed.
enum CredentialFailure: Error, Sendable {
    /// The server says the secret can never work again (`invalid_grant`, `invalid_token`): it is
    /// deleted and the account needs a login. The error is the caller's answer (`LoginRequired`).
    case rejected(AgentError)
    /// Anything else (network, server, keyring): the secret stays.
    case failed(AgentError)
}

/// What `prepareAccount` found: the account to save and the secrets to change with it.
struct PreparedAccount: Sendable {
    enum Forget: Sendable, Equatable {
        case nothing
        /// Every keyring item of the old account (its server or kind changed).
        case everything
        case kinds([SecretKind])
    }

    var account: Account
    var forget: Forget = .nothing
    var clientSecret: Secret?
    /// A login secret that comes with the account (an imported mytoken, or a transfer code's).
    var loginSecret: Secret?
    /// The client registered for the account (RFC 7591/7592): its registration token is stored,
    /// and the client deleted again if the account cannot be added.
    var management: ClientManagement?
}

/// A login started at the server: how to make its `Login` (once it has a number) and the wait
/// for what it issues.
struct LoginStart: Sendable {
    var make: @Sendable (_ number: Int, _ requestedBy: String?) -> Login
    var wait: @Sendable (_ login: Login) async throws(AgentError) -> IssuedLogin
}

/// What a finished login issued: the login secret, and the access token that came with it.
struct IssuedLogin: Sendable {
    var secret: Secret
    var accessToken: AccessToken?
    /// The scopes the login asked for: the cache key of `accessToken`.
    var requestedScopes: [String] = []
    /// An OpenID login's ID token, and the scopes it was granted (nil for other logins).
    var idToken: Secret?
    var grantedScopes: [String]?
}

extension IssuedLogin {
    /// An OpenID provider's answer to a login (device, browser and password grants).
    init(_ response: TokenResponse, account: Account, scopes: [String]) throws(AgentError) {
        guard let refreshToken = response.refreshToken else {
            throw .provider(error: "no_refresh_token", description: "the provider issued no refresh token; add the offline_access scope")
        }
        self.init(secret: refreshToken,
                  accessToken: AccessToken(value: response.accessToken.reveal(), tokenType: response.tokenType,
                                           expiresAt: response.expiresAt, scopes: response.scopes ?? scopes,
                                           audience: account.audience),
                  requestedScopes: scopes, idToken: response.idToken, grantedScopes: scopes)
    }
}
