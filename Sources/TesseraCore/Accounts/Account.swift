import FoundationEssentials
import OIDC
import TesseraNames

/// How an account gets its tokens.
public enum AccountKind: String, Sendable, CaseIterable {
    /// A refresh token from the OpenID provider, used directly.
    case oidc
    /// A mytoken from a mytoken server, exchanged for access tokens there.
    case mytoken
}

/// One configured account. No secret lives here: the refresh token (or mytoken) and the client
/// secret are in the keyring under the account's name and issuer.
public struct Account: Sendable, Equatable {
    public var name: String
    public var kind: AccountKind
    public var issuer: URL
    public var clientID: String?
    public var scopes: [String]
    public var audience: [String]
    public var audienceStyle: AudienceStyle
    public var mytokenServer: URL?
    /// RFC 7592 client configuration URI of a client Tessera registered for this account; its
    /// registration access token is in the keyring. Removing the account deletes the client.
    public var registrationClientURI: URL?
    /// A mytoken account's login request: the JSON fields sent with each login (restrictions,
    /// capabilities, rotation, profile, name), as `MytokenTemplateInput` made them; nil: the defaults.
    public var mytokenRequest: [String: MytokenJSON]?
    /// The scopes the stored login was granted, where they differ from `scopes` (a login with
    /// other scopes, or `scopes` changed by SetAccount since): a refresh then names `scopes`,
    /// else the provider answers with the login's. Kept in the file so a restart remembers it.
    public var loginScopes: [String]?
    /// The redirect URIs registered for a client the user brought (an oidc-agent import):
    /// `login --browser` listens on one of their loopback ports. Nil: any loopback port.
    public var redirectURIs: [String]?
    /// Which programs get its tokens (issue 17); the default lets every program of the user.
    public var policy = AccountPolicy()

    public init(name: String, kind: AccountKind = .oidc, issuer: URL, clientID: String? = nil,
                scopes: [String] = ["openid", "offline_access"], audience: [String] = [],
                audienceStyle: AudienceStyle = .auto, mytokenServer: URL? = nil, mytokenRequest: [String: MytokenJSON]? = nil,
                registrationClientURI: URL? = nil) {
        self.mytokenRequest = mytokenRequest
        self.registrationClientURI = registrationClientURI
        self.name = name
        self.kind = kind
        self.issuer = issuer
        self.clientID = clientID
        self.scopes = scopes
        self.audience = audience
        self.audienceStyle = audienceStyle
        self.mytokenServer = mytokenServer
    }
}
