// Names of the known-providers and ID-token parts of the contract (plain Swift, no D-Bus).

/// Keys of each `ListProviders` entry's `a{sv}` (and of a providers file's entries, which add
/// `short-name`).
public enum ProviderKey: String, CaseIterable, Sendable {
    /// `s`: the issuer URL.
    case issuer
    /// `s`: a name for people.
    case displayName = "display-name"
    /// `s` (absent when unknown): the page where a person registers a client.
    case registrationURI = "registration-uri"
    /// `s` (absent when none is published): a client anyone may use; `AddAccount` with `provider`
    /// uses it instead of registering one.
    case publicClientID = "public-client-id"
    /// `as`: the scopes the public client may ask for (what `max` means with it); may be empty.
    case scopes
    /// `s`: `audience`, `resource` or `auto` (by value: absolute URI → `resource`, else `audience`).
    case audienceParameter = "audience-parameter"
    /// `s`: anything else worth knowing (may be empty).
    case notes
    /// `s`: `built-in`, or the path of the user's providers file that defined or changed it.
    case source
}

/// Keys of `GetIdToken`'s options.
public enum IdTokenOption: String, CaseIterable, Sendable {
    /// `u`: seconds the ID token must stay valid (default 60); a shorter-lived one is replaced
    /// by a refresh with `openid`.
    case minValid = "min-valid"
    /// `b`: refresh for a new ID token even if the held one would do.
    case force
}
