// The keys of the mytoken methods (`CreateMytoken`, `GetTokenWithMytoken`, `ExchangeTransferCode`,
// `RevokeMytoken`); their codecs are TesseraAPI/MytokenContract.swift.

/// Keys of `CreateMytoken`'s request.
public enum CreateMytokenKey: String, CaseIterable, Sendable {
    /// `s`: the parent mytoken when the call names no account ("" as account).
    case mytoken
    /// `s`: the server of `mytoken`; default: the `iss` claim of a JWT mytoken.
    case mytokenServer = "mytoken-server"
    /// `s`: restrictions as the mytoken client takes them: JSON (one clause object or an array of
    /// clauses; `nbf`/`exp` may be time strings, relative ones are sent as typed; `include` names
    /// server templates), or space-separated restriction template names. Excludes the
    /// single-clause keys below.
    case restrictions
    /// `s`: the file `restrictions` was read from (the caller reads it); it must then be JSON, and
    /// errors name the file.
    case restrictionsFile = "restrictions-file"
    /// `s`: `--profile`: a JSON object of request fields, or space-separated profile names.
    case profile
    /// `s`: `--rotation`: a JSON rotation object or space-separated rotation template names; the
    /// `rotation*` keys below are added to it.
    case rotationTemplate = "rotation-template"
    /// `s`: the file `rotation-template` was read from.
    case rotationFile = "rotation-file"
    /// `s`: not before, a time value (unix seconds, `2006-01-02 15:04` local, `+3d12h`, …).
    case notBefore = "nbf"
    /// `s`: expires at, a time value.
    case expiresAt = "exp"
    /// `as`: scopes the clause allows.
    case scopes
    /// `as`: audiences the clause allows.
    case audience
    /// `as`: hosts, IPs or CIDR ranges the token may be used from.
    case hosts
    /// `as`: country codes the token may be used from.
    case geoIPAllow = "geo-ip-allow"
    /// `as`: country codes the token may not be used from.
    case geoIPDisallow = "geo-ip-disallow"
    /// `t`: how many access tokens the clause allows.
    case usagesAT = "usages-at"
    /// `t`: how many other uses the clause allows.
    case usagesOther = "usages-other"
    /// `as`: capabilities of the new token (default: the parent's); each entry may be several
    /// space-separated names or a JSON array, `@name` names a capability template.
    case capabilities
    /// `as`: capabilities the new token may pass on.
    case subtokenCapabilities = "subtoken-capabilities"
    /// `as`: rotation triggers: `AT` and/or `other`.
    case rotation
    /// `u`: seconds each rotated token stays valid.
    case rotationLifetime = "rotation-lifetime"
    /// `b`: revoke the token family when a rotated-away token is replayed.
    case rotationAutoRevoke = "rotation-auto-revoke"
    /// `s`: a name for the token in the server's lists.
    case name
    /// `s`: `jwt` (default), `short` or `transfer`, or the client's `token`, `short_token`,
    /// `transfer_code`.
    case tokenType = "token-type"
    /// `u`: the longest JWT acceptable (longer: a short token).
    case maxTokenLength = "max-token-length"
    /// `b`: fail instead of dropping clauses wider than the parent's.
    case failOnWiderRestrictions = "error-on-restrictions"
    /// `s` (StartMytokenLogin only): the OpenID provider to log in at (default: the server's only one).
    case oidcIssuer = "oidc-issuer"
    /// `b` (StartMytokenLogin only): show the consent page in a notification (default true).
    case notify
}

/// Keys of `GetTokenWithMytoken`'s options.
public enum MytokenTokenOption: String, CaseIterable, Sendable {
    /// `s`: the mytoken's server; default: the `iss` claim of a JWT mytoken.
    case mytokenServer = "mytoken-server"
    /// `as`
    case scopes
    /// `as`
    case audience
    /// `s`: the OpenID issuer to ask (only for servers that need it).
    case oidcIssuer = "oidc-issuer"
    /// `s`: a comment the server records with the access token.
    case comment
}

/// Keys of `ExchangeTransferCode`'s and `RevokeMytoken`'s options.
public enum MytokenServerOption: String, CaseIterable, Sendable {
    /// `s`: the server; for RevokeMytoken default: the `iss` claim of a JWT mytoken.
    case mytokenServer = "mytoken-server"
    /// `b` (RevokeMytoken only): also revoke every token created from this one.
    case recursive
}

/// Keys of the `info` replies of the mytoken methods (GetTokenWithMytoken uses `TokenInfoKey` too).
public enum MytokenInfoKey: String, CaseIterable, Sendable {
    /// `s`: `jwt`, `short` or `transfer` (what `token` is).
    case tokenType = "token-type"
    /// `x`: unix time the token or code expires (absent: no expiry given).
    case expiresAt = "expires-at"
    /// `s`: the token's restrictions as JSON.
    case restrictions
    /// `as`
    case capabilities
    /// `s`: the mytoken server.
    case mytokenServer = "mytoken-server"
    /// `s`: the replacement of the caller's mytoken when the call rotated it; the caller must
    /// store it (the old one no longer works). Absent for account calls: the service stored it.
    case rotatedMytoken = "rotated-mytoken"
}

/// The mytoken client's `--token-type` values.
public enum MytokenTokenTypeName: String, CaseIterable, Sendable {
    case jwt, short, transfer

    /// Either spelling the mytoken client accepts: `jwt`/`token`, `short`/`short_token`,
    /// `transfer`/`transfer_code`.
    public init?(spelling: String) {
        switch spelling {
        case "jwt", "token": self = .jwt
        case "short", "short_token": self = .short
        case "transfer", "transfer_code": self = .transfer
        default: return nil
        }
    }

    public static let spellings = "jwt (or token), short (or short_token), transfer (or transfer_code)"
}

/// Keys of `ListMytokenTemplates`'s options.
public enum MytokenTemplatesOption: String, CaseIterable, Sendable {
    /// `s`: the server; default: the only mytoken account's.
    case mytokenServer = "mytoken-server"
    /// `s`: `groups`, `profiles`, `capabilities`, `restrictions` or `rotation`.
    case kind
    /// `s`: the template group (default: the server's default group `_`).
    case group
}

/// What `ListMytokenTemplates` lists.
public enum MytokenTemplatesKindName: String, CaseIterable, Sendable {
    case groups, profiles, capabilities, restrictions, rotation
}

/// Keys of `MytokenInfo`'s options.
public enum MytokenInfoOption: String, CaseIterable, Sendable {
    /// `s`: the mytoken to ask about when `account` is "".
    case mytoken
    /// `s`: its server; default: the `iss` claim of a JWT, else the only mytoken account's.
    case mytokenServer = "mytoken-server"
}

/// `MytokenInfo`'s actions (the tokeninfo endpoint's `introspect`, `event_history`,
/// `subtokens`, `list_mytokens`).
public enum MytokenInfoActionName: String, CaseIterable, Sendable {
    case introspect, history, subtokens, list
}
