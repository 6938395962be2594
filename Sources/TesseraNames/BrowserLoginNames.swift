// The keys of `StartBrowserLogin` (TesseraAPI/BrowserLoginContract.swift has the call and its codecs).

/// Keys of `StartBrowserLogin`'s options.
public enum BrowserLoginOption: String, CaseIterable, Sendable {
    /// `as`: scopes to request at login; default: the account's scopes.
    case scopes
    /// `u`: seconds to wait for the browser's redirect (default 600, at most 3600).
    case timeout
    /// `b`: open the authorization URI in the browser (default true); false for a client that
    /// shows or opens it itself.
    case open

    public static let defaultTimeout: UInt32 = 600
}

/// Keys of `StartBrowserLogin`'s `info` reply dictionary.
public enum BrowserLoginInfoKey: String, CaseIterable, Sendable {
    /// `s`: the provider's authorization URL to open (carries state and the PKCE challenge, no secret).
    case authorizationURI = "authorization-uri"
    /// `s`: the loopback redirect URI the service listens on.
    case redirectURI = "redirect-uri"
    /// `x`: Unix time the service stops waiting.
    case expiresAt = "expires-at"
}
