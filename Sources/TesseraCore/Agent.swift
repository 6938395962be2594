import FoundationEssentials
import Keyring
import Logging
import OIDC
import Secrets
import Synchronization
import TesseraNames

/// What the agent tells the outside world; the D-Bus layer turns these into exported objects,
/// signals and notifications. Every method is awaited, so e.g. a flow object is exported before
/// its flow starts polling.
public protocol AgentObserver: Sendable {
    func flowStarted(_ flow: Login, notify: Bool) async
    func flowFinished(_ flow: Login) async
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
    public var clientSecret: Secret?
    public var scopes: [String]?
    public var audience: [String]?
    public var audienceStyle: AudienceStyle?
    public var mytokenServer: URL?
    /// A mytoken to store with a mytoken account (import), or a transfer code to exchange for one.
    public var mytoken: Secret?
    public var transferCode: Secret?
    public var replace = false
    /// A known provider's short name: its issuer, public client and audience parameter are the defaults.
    public var provider: String?
    /// A refresh token to import (tested by refreshing it once the account is added).
    public var refreshToken: Secret?
    /// From an imported oidc-agent account: the client's registered redirect URIs, and the RFC
    /// 7592 management of a client oidc-gen registered (deleted with the account).
    public var redirectURIs: [String]?
    public var management: ClientManagement?
    /// A mytoken account's login request fields (`MytokenClient.fields(of:)`).
    public var mytokenRequest: [String: MytokenJSON]?
    /// The server of the user's mytoken accounts when they all use one (filled in by the agent):
    /// where a transfer code or an imported short token goes when no server is named.
    var defaultMytokenServer: URL?

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

/// The service's core, free of D-Bus: accounts, tokens, logins, revocation. It orchestrates;
/// what differs between kinds of account is behind `CredentialSource`.
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
        /// The ID token of each account's latest login or refresh that carried one (memory only).
        var idTokens: [String: Secret] = [:]
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
    let accountFile: AccountFile
    let vault: SecretVault
    let secrets: LoginSecrets
    let logins = LoginRegistry()
    let oidc: OIDCSource
    let mytokens: MytokenSource
    let logger: Logger
    private let observer = Mutex<(any AgentObserver)?>(nil)
    /// Known providers: the built-in list and the user's `providers.json` beside the account file.
    let providerCatalog: ProviderCatalog
    let transport: any HTTPTransport

    public init(accountFile: AccountFile, secrets: any SecretStore, transport: any HTTPTransport, logger: Logger,
                providers: ProviderCatalog? = nil) {
        self.accountFile = accountFile
        self.providerCatalog = providers
            ?? ProviderCatalog(userFile: Paths.directory(of: accountFile.path) + "/providers.json")
        self.transport = transport
        self.vault = SecretVault(store: secrets)
        self.secrets = LoginSecrets(vault: vault, logger: logger)
        self.oidc = OIDCSource(vault: vault, transport: transport, logger: logger)
        self.mytokens = MytokenSource(transport: transport, logger: logger)
        self.logger = logger
    }

    /// Issuers compare by `IssuerKey` (the one rule).
    static func issuerKey(_ url: URL) -> IssuerKey { IssuerKey(url) }

    /// The source of an account's tokens: the one place the kind of account is looked at.
    func source(_ kind: AccountKind) -> any CredentialSource {
        switch kind {
        case .oidc: oidc
        case .mytoken: mytokens
        }
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
}
