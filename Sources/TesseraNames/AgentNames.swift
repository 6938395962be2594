
// The D-Bus contract of Tessera, written once: the service exports it and the CLI calls it, so
// neither side spells a name by hand. DESIGN.md ("The D-Bus contract") is the prose version.
// No Foundation here: the CLI links this module and must start in milliseconds.

/// Where the agent lives on the session bus.
public enum AgentBus {
    /// The well-known name `tesserad` owns.
    public static let name = "io.tessera.Agent1"
    /// The agent's object.
    public static let objectPath = "/io/tessera/Agent1"
    /// Device-flow objects are `<flowPathPrefix>/<n>`.
    public static let flowPathPrefix = "/io/tessera/Agent1/flows"
    /// The agent's interface.
    public static let interface = "io.tessera.Agent1"
    /// The interface of a device-flow object.
    public static let deviceFlowInterface = "io.tessera.DeviceFlow1"
}

/// Methods of `io.tessera.Agent1`.
public enum AgentMethod: String, CaseIterable, Sendable {
    /// `GetToken(s account, a{sv} options) → (s token, x expires_at, a{sv} info)`
    case getToken = "GetToken"
    /// `StartDeviceFlow(s account, a{sv} options) → (o flow, a{sv} info)`
    case startDeviceFlow = "StartDeviceFlow"
    /// `Revoke(s account, a{sv} options) → (b revoked_at_provider)`
    case revoke = "Revoke"
    /// `AddAccount(s name, a{sv} settings)`
    case addAccount = "AddAccount"
    /// `RemoveAccount(s name, a{sv} options)`
    case removeAccount = "RemoveAccount"
    /// `ListAccounts() → a(sa{sv})`
    case listAccounts = "ListAccounts"
    /// `StartBrowserLogin(s account, a{sv} options) → (o flow, a{sv} info)` (BrowserLoginContract.swift)
    case startBrowserLogin = "StartBrowserLogin"
    /// `CreateMytoken(s account, a{sv} request) → (s token, a{sv} info)`: a sub-mytoken (or a
    /// transfer code) from the account's mytoken, or from `request["mytoken"]` when `account` is "".
    case createMytoken = "CreateMytoken"
    /// `GetTokenWithMytoken(s mytoken, a{sv} options) → (s token, x expires_at, a{sv} info)`: an
    /// access token from a mytoken the caller holds (not stored, not cached).
    case getTokenWithMytoken = "GetTokenWithMytoken"
    /// `ExchangeTransferCode(s transfer_code, a{sv} options) → (s token, a{sv} info)`
    case exchangeTransferCode = "ExchangeTransferCode"
    /// `RevokeMytoken(s mytoken, a{sv} options)`: revokes a mytoken the caller holds.
    case revokeMytoken = "RevokeMytoken"
    /// `ListMytokenTemplates(a{sv} options) → (s json, a(ss) entries)`: a mytoken server's template
    /// groups, profiles or templates (`entries`: name and payload JSON; for groups the payload is "").
    case listMytokenTemplates = "ListMytokenTemplates"
    /// `MytokenInfo(s account, s action, a{sv} options) → (s json, aa{sv} rows, a{sv} info)`: the
    /// tokeninfo endpoint for the account's mytoken or `options["mytoken"]` when `account` is "".
    case mytokenInfo = "MytokenInfo"
    /// `StartMytokenLogin(a{sv} request) → (o flow, a{sv} info)`: the mytoken server's login for a
    /// new mytoken that is stored nowhere (`tessera mytoken new`); `request` as for CreateMytoken
    /// plus `mytoken-server`, `oidc-issuer`, `notify`; `info` as StartDeviceFlow's.
    case startMytokenLogin = "StartMytokenLogin"
    /// `FinishMytokenLogin(o flow) → (s token, a{sv} info)`: waits for that login and hands its
    /// mytoken to the caller that started it, once.
    case finishMytokenLogin = "FinishMytokenLogin"
    /// `LoginWithPassword(s account, a{sv} options)`: the deprecated resource owner password grant
    /// (RFC 6749 §4.3; RFC 9700 says not to use it) for providers that offer nothing else. The
    /// password travels only over the session bus, never on a command line; the service stores the
    /// resulting refresh token, emits `LoginCompleted` and forgets the password.
    case loginWithPassword = "LoginWithPassword"
    /// `ListProviders() → a(sa{sv})`: the known providers by short name (`ProviderKey`).
    case listProviders = "ListProviders"
    /// `SetAccount(s name, a{sv} settings)`: changes an account (keys of `AccountSetting.editable`).
    case setAccount = "SetAccount"
    /// `RenameAccount(s old, s new)`: keyring items and cached tokens follow the account.
    case renameAccount = "RenameAccount"
    /// `GetIdToken(s account, a{sv} options) → (s id_token, x expires_at)`.
    case getIdToken = "GetIdToken"
    /// `GetSettings() → a{sv}`: service-wide settings (`ServiceSetting`, SettingsNames.swift).
    case getSettings = "GetSettings"
    /// `SetSettings(a{sv})`: changes and persists the writable ones; unknown keys are refused.
    case setSettings = "SetSettings"
    /// `GetPolicy(s account) → (s default, a(ss) rules)`: the account's consent policy — the
    /// decision for programs without a rule (`ConsentDecision`) and the rules, application key
    /// (`flatpak:<app-id>`, `snap:<name>`, `exe:<path>`) → decision, sorted by key.
    case getPolicy = "GetPolicy"
    /// `SetPolicy(s account, s default)`: the decision for programs without a rule.
    case setPolicy = "SetPolicy"
    /// `SetApplicationPolicy(s account, s application, s decision)`: a rule for one program.
    case setApplicationPolicy = "SetApplicationPolicy"
    /// `ForgetApplication(s account, s application)`: drops a program's rule (it gets the default).
    case forgetApplication = "ForgetApplication"
}

/// Keys of `LoginWithPassword`'s options.
public enum PasswordLoginOption: String, CaseIterable, Sendable {
    /// `s`: the user name at the provider. Required.
    case username
    /// `s`: the password. Required; never logged, never part of an error message.
    case password
    /// `as`: scopes to request; default: the account's scopes.
    case scopes
}

/// Read-only properties of `io.tessera.Agent1` (org.freedesktop.DBus.Properties).
public enum AgentProperty: String, CaseIterable, Sendable {
    /// `s`: the service's version, e.g. `0.1.0`.
    case version = "Version"
    /// `as`: what is wrong in the user's providers file, one "file: field: reason" line each
    /// (read by `ListProviders`; empty when the file is fine or absent).
    case providerProblems = "ProviderProblems"
}

/// Signals of `io.tessera.Agent1`.
public enum AgentSignal: String, CaseIterable, Sendable {
    /// `LoginRequired(s account)`: the account's refresh token is gone or no longer accepted.
    case loginRequired = "LoginRequired"
    /// `LoginCompleted(s account)`: a login flow stored a new refresh token.
    case loginCompleted = "LoginCompleted"
    /// `AccountsChanged()`: an account was added, changed or removed.
    case accountsChanged = "AccountsChanged"
}

/// Members of `io.tessera.DeviceFlow1`.
public enum DeviceFlowMember {
    /// `Cancel()`
    public static let cancel = "Cancel"
    /// Property `State` (s): one of `DeviceFlowState`.
    public static let state = "State"
    /// Property `Account` (s): the account the flow logs in.
    public static let account = "Account"
    /// Signal `Completed()`.
    public static let completed = "Completed"
    /// Signal `Failed(s error_name, s message)`; `error_name` is a full `AgentErrorName` wire name.
    public static let failed = "Failed"
}

/// Values of a device flow's `State` property.
public enum DeviceFlowState: String, CaseIterable, Sendable {
    /// Waiting for the user to enter the code; the service polls.
    case pending
    /// The provider issued tokens; the refresh token is in the keyring.
    case completed
    /// The user denied access.
    case denied
    /// The device code expired before approval.
    case expired
    /// Cancelled through `Cancel()` or by removing the account.
    case cancelled
    /// Any other failure (provider, network, keyring); `Failed` carries the error.
    case failed

    public var isFinished: Bool { self != .pending }

    /// How the login stands, in the words every client shows (the notification, the CLI).
    public var summary: String {
        switch self {
        case .pending: "the login is waiting for approval"
        case .completed: "the login completed"
        case .denied: "the login was denied at the provider"
        case .expired: "the login code expired before it was approved"
        case .cancelled: "the login was cancelled"
        case .failed: "the login failed"
        }
    }
}

/// Keys of `GetToken`'s options (`a{sv}`); unknown keys are rejected with `InvalidArgument`.
public enum GetTokenOption: String, CaseIterable, Sendable {
    /// `as`: scopes to request; default: the account's scopes.
    case scopes
    /// `as`: audiences (RFC 8707 resources or legacy `audience`); default: the account's.
    case audience
    /// `u`: seconds the token must stay valid; default 60.
    case minValid = "min-valid"
    /// `b`: refresh even if a cached token would do.
    case force
    /// `b`: when a login is needed, start one, notify, and wait up to `timeout`.
    case interactive
    /// `u`: seconds an interactive call waits for the login; default 300.
    case timeout
    /// `s`: a display hint naming the asking application (never trusted for policy).
    case application

    public static let defaultMinValid: UInt32 = 60
    public static let defaultTimeout: UInt32 = 300
}

/// Keys of `GetToken`'s `info` reply dictionary.
public enum TokenInfoKey: String, CaseIterable, Sendable {
    /// `s`: usually `Bearer`.
    case tokenType = "token-type"
    /// `as`: the scopes the token carries (as granted, or as requested when the provider is silent).
    case scopes
    /// `as`: the audiences requested.
    case audience
    /// `s`: the issuer URL.
    case issuer
    /// `s`: the account that answered (useful when the call named an issuer URL).
    case account
}

/// Keys of `StartDeviceFlow`'s options.
public enum DeviceFlowOption: String, CaseIterable, Sendable {
    /// `as`: scopes to request at login; default: the account's scopes.
    case scopes
    /// `b`: show a desktop notification with the code (default true).
    case notify
}

/// Keys of `StartDeviceFlow`'s `info` reply dictionary.
public enum DeviceFlowInfoKey: String, CaseIterable, Sendable {
    /// `s`
    case userCode = "user-code"
    /// `s`
    case verificationURI = "verification-uri"
    /// `s` (absent when the provider has none)
    case verificationURIComplete = "verification-uri-complete"
    /// `x`: Unix time the device code expires.
    case expiresAt = "expires-at"
    /// `u`: seconds between polls.
    case interval
}

/// Keys of `Revoke`'s options.
public enum RevokeOption: String, CaseIterable, Sendable {
    /// `b`: keep the local secret when the provider cannot be reached.
    case keepOnFailure = "keep-on-failure"
    /// `b`: mytoken accounts only: also revoke every mytoken created from the account's.
    case recursive
}

/// Keys of `RemoveAccount`'s options.
public enum RemoveAccountOption: String, CaseIterable, Sendable {
    /// `b`: revoke the refresh token at the provider first (default true); the local secret
    /// goes either way.
    case revoke
}

/// Keys of `AddAccount`'s settings and of the per-account dictionary `ListAccounts` returns.
public enum AccountSetting: String, CaseIterable, Sendable {
    /// `s`: issuer URL (https, or http on loopback). Required.
    case issuer
    /// `s`: OAuth client id; absent → dynamic registration when the provider offers it.
    case clientID = "client-id"
    /// `s`: client secret; stored in the keyring, never returned. Write-only.
    case clientSecret = "client-secret"
    /// `as`: default scopes.
    case scopes
    /// `as`: default audiences.
    case audience
    /// `s`: `resource` (RFC 8707, default) or `audience` (legacy parameter).
    case audienceStyle = "audience-style"
    /// `s`: `oidc` (default) or `mytoken`.
    case kind
    /// `s`: mytoken server URL, for `kind` = `mytoken`.
    case mytokenServer = "mytoken-server"
    /// `s`: for `kind` = `mytoken`, the OpenID issuer behind the mytoken server (the mytoken
    /// client's name for `issuer`; either may be given). Default: the server's only provider.
    case oidcIssuer = "oidc-issuer"
    /// `s` (write-only): a mytoken to store for a `mytoken` account (import instead of a login).
    case mytoken
    /// `s` (write-only): a transfer code the service exchanges for the mytoken to store.
    case transferCode = "transfer-code"
    /// `s` (write-only): an account configuration as `oidc-gen -p NAME` prints it (oidc-agent's
    /// decrypted JSON): issuer, client id and secret, refresh token, scopes and audience are taken
    /// from it; keys given beside it win.
    case oidcAgentConfig = "oidc-agent-config"
    /// `b`: replace an existing account of that name instead of failing.
    case replace
    /// `s` (AddAccount only): a known provider's short name (`ListProviders`) instead of `issuer`:
    /// its issuer, public client and audience parameter become the account's defaults.
    case provider
    /// `s` (write-only): a refresh token to import instead of a login; tested by refreshing it.
    case refreshToken = "refresh-token"
    /// `s` (ListAccounts only): the RFC 7592 configuration URI of the client Tessera registered for
    /// the account (deleted with it); absent for a client the user brought.
    case registrationClientURI = "registration-client-uri"
    /// `a{sv}` (AddAccount, kind=mytoken): what the account's logins ask the mytoken server for —
    /// `CreateMytoken`'s restriction, capability, rotation, profile and name keys. Stored in the
    /// account file as the request's JSON fields (relative times kept, so each login counts from
    /// its own time).
    case mytokenRequest = "mytoken-request"
    /// `b` (ListAccounts only): a refresh token or mytoken is in the keyring.
    case loggedIn = "logged-in"
    /// `b` (ListAccounts only): a client secret is in the keyring.
    case hasClientSecret = "has-client-secret"
    /// `ax` (ListAccounts only): expiry (Unix time) of each access token the service holds in
    /// memory for the account; empty when none. Never the tokens themselves.
    case tokenExpiresAt = "token-expires-at"

    /// The keys a caller may pass to `AddAccount`.
    public static let settable: [AccountSetting] = [
        .issuer, .clientID, .clientSecret, .scopes, .audience, .audienceStyle, .kind, .mytokenServer, .oidcIssuer,
        .mytoken, .transferCode, .replace, .provider, .refreshToken, .mytokenRequest, .oidcAgentConfig,
    ]

    /// The keys a caller may pass to `SetAccount`.
    public static let editable: [AccountSetting] = [
        .issuer, .clientID, .clientSecret, .scopes, .audience, .audienceStyle,
    ]

    /// `scopes = ['max']`: every scope the provider supports (its public client's published
    /// scopes, else discovery's `scopes_supported`).
    public static let maxScopes = "max"
}

/// Values of the `kind` account setting.
public enum AccountKindName: String, CaseIterable, Sendable {
    case oidc
    case mytoken
}

/// Values of the `audience-style` account setting.
public enum AudienceStyleName: String, CaseIterable, Sendable {
    /// RFC 8707 `resource` parameter.
    case resource
    /// The legacy `audience` parameter some providers (e.g. INDIGO IAM) expect.
    case audience
    /// By value (the default): an absolute URI as `resource`, anything else as `audience`.
    case auto
}

/// The error names the agent replies with: `io.tessera.Agent1.Error.<rawValue>`.
public enum AgentErrorName: String, CaseIterable, Sendable {
    case noSuchAccount = "NoSuchAccount"
    case invalidArgument = "InvalidArgument"
    case loginRequired = "LoginRequired"
    case accessDenied = "AccessDenied"
    case expiredToken = "ExpiredToken"
    case provider = "Provider"
    case network = "Network"
    case keyringLocked = "KeyringLocked"
    case keyringUnavailable = "KeyringUnavailable"
    case cancelled = "Cancelled"
    case notPermitted = "NotPermitted"
    case timeout = "Timeout"

    public static let prefix = "io.tessera.Agent1.Error."

    /// The full D-Bus error name.
    public var wireName: String { Self.prefix + rawValue }

    /// The name for a full wire name, or nil for a name that is not the agent's.
    public init?(wireName: String) {
        guard wireName.hasPrefix(Self.prefix) else { return nil }
        self.init(rawValue: String(wireName.dropFirst(Self.prefix.count)))
    }

    /// What a person can do about it, for clients that show more than the message.
    public var advice: String {
        switch self {
        case .noSuchAccount: "check the name with `tessera account list` or add it with `tessera account add`"
        case .invalidArgument: "fix the named argument and try again"
        case .loginRequired: "log in with `tessera login <account>`"
        case .accessDenied: "the login was denied at the provider; start it again and approve it"
        case .expiredToken: "the login code expired; start the login again"
        case .provider: "the provider refused the request; see its error description"
        case .network: "check the network and the issuer URL, then try again"
        case .keyringLocked: "unlock the login keyring (e.g. in Seahorse) and try again"
        case .keyringUnavailable: "start a Secret Service such as gnome-keyring-daemon"
        case .cancelled: "the operation was cancelled"
        case .notPermitted: "the caller is not allowed to do this"
        case .timeout: "nothing happened within the timeout; try again or raise `timeout`"
        }
    }
}
