import FoundationEssentials
import Secrets

/// A started authorization code login (RFC 6749 §4.1 with PKCE, RFC 7636, on an RFC 8252 loopback
/// redirect): open `authorizationURL` in the user's browser, then hand this to
/// `OIDCClient.completeAuthorizationCode(_:timeout:)`.
///
/// `state` and `nonce` are unguessable and checked on the way back; the PKCE verifier stays in
/// this object and goes only to the token endpoint. The loopback socket lives as long as this object.
public final class AuthorizationCodeFlow: Sendable, CustomStringConvertible {
    public let authorizationURL: URL
    public let redirectURI: URL
    public let state: String
    public let nonce: String
    public let scopes: [String]
    public let audience: [String]
    let pkce: PKCE
    let listener: LoopbackRedirectListener

    init(authorizationURL: URL, state: String, nonce: String, scopes: [String], audience: [String], pkce: PKCE,
         listener: LoopbackRedirectListener) {
        self.authorizationURL = authorizationURL
        self.redirectURI = listener.redirectURI
        self.state = state
        self.nonce = nonce
        self.scopes = scopes
        self.audience = audience
        self.pkce = pkce
        self.listener = listener
    }

    public var description: String { "AuthorizationCodeFlow(redirect: \(redirectURI), scopes: \(scopes.joined(separator: " ")))" }
}

extension OIDCClient {
    /// How long `completeAuthorizationCode` waits for the browser by default.
    public static let defaultBrowserLoginTimeout: Duration = .seconds(600)

    /// Step 1: binds the loopback listener and builds the authorization URL: `response_type=code`,
    /// `client_id`, `redirect_uri`, `scope`, `state`, `nonce` (when `openid` is asked for),
    /// `code_challenge` + `code_challenge_method=S256`, and the audience per `audienceStyle`
    /// (RFC 8707 §2.1 allows `resource` on the authorization request).
    ///
    /// `redirectURIs`: the client's registered ones, for a client with fixed loopback ports (an
    /// oidc-agent client): the first whose port is free is listened on and sent as registered.
    /// Empty: any port on 127.0.0.1 (RFC 8252 §7.3), as a client Tessera registered allows.
    public func startAuthorizationCode(scopes: [String], audience: [String] = [], redirectURIs: [String] = [])
        async throws(OIDCError) -> AuthorizationCodeFlow
    {
        let metadata = try await discover()
        guard let endpoint = metadata.authorizationEndpoint else {
            throw .unsupported("the authorization code flow (its discovery document has no authorization_endpoint)")
        }
        try URLPolicy.check(endpoint)
        let listener = try Self.listener(for: redirectURIs)
        let pkce = PKCE()
        let state = Base64URL.random(bytes: 24)
        let nonce = Base64URL.random(bytes: 24)
        var form = FormBody()
        form.add("response_type", "code")
        form.add("client_id", credentials.clientID)
        form.add("redirect_uri", listener.redirectURI.absoluteString)
        if !scopes.isEmpty { form.add("scope", scopes.joined(separator: " ")) }
        form.add("state", state)
        if scopes.contains("openid") { form.add("nonce", nonce) }
        form.add("code_challenge", pkce.challenge)
        form.add("code_challenge_method", PKCE.method)
        addAudience(audience, to: &form)
        guard var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false) else {
            throw .malformedResponse("the authorization_endpoint \(endpoint) is not a usable URL")
        }
        let query = String(decoding: form.encoded, as: UTF8.self)
        components.percentEncodedQuery = [components.percentEncodedQuery, query].compactMap { $0 }.filter { !$0.isEmpty }
            .joined(separator: "&")
        guard let url = components.url else {
            throw .malformedResponse("cannot build an authorization URL from \(endpoint)")
        }
        return AuthorizationCodeFlow(authorizationURL: url, state: state, nonce: nonce, scopes: scopes,
                                     audience: audience, pkce: pkce, listener: listener)
    }

    /// Step 2: waits for the browser's redirect, checks `state` (and `iss`, RFC 9207, when the
    /// provider sends it), shows the browser a closing page, and exchanges the code with the
    /// verifier. Errors: `.stateMismatch` (an answer that is not this login's), `.accessDenied`
    /// (the user declined), the provider's other redirect errors as the token endpoint's would be,
    /// `.loginTimedOut` after `timeout`, `.cancelled` when the calling task is cancelled.
    public func completeAuthorizationCode(_ flow: AuthorizationCodeFlow,
                                          timeout: Duration = OIDCClient.defaultBrowserLoginTimeout)
        async throws(OIDCError) -> TokenResponse
    {
        let issuer = self.issuer
        let code = try await flow.listener.receive(timeout: timeout) { parameters in
            Self.checkRedirect(parameters, state: flow.state, issuer: issuer)
        }
        return try await exchangeAuthorizationCode(code, for: flow)
    }

    /// The token request of step 2 alone (RFC 6749 §4.1.3 + RFC 7636 §4.5), for a caller that
    /// received the code itself. The ID token's `nonce` must be the flow's (OIDC Core §3.1.3.7).
    public func exchangeAuthorizationCode(_ code: Secret, for flow: AuthorizationCodeFlow) async throws(OIDCError)
        -> TokenResponse
    {
        var form = FormBody()
        form.add("grant_type", "authorization_code")
        form.add("code", code.reveal())
        form.add("redirect_uri", flow.redirectURI.absoluteString)
        form.add("code_verifier", flow.pkce.verifier.reveal())
        addAudience(flow.audience, to: &form)
        let tokens = try await tokenRequest(form, extraSecrets: [code, flow.pkce.verifier])
        if flow.scopes.contains("openid"), let idToken = tokens.idToken {
            guard Self.nonce(of: idToken) == flow.nonce else {
                throw .malformedResponse("the ID token's nonce is not the one this login sent; the answer was not meant for it")
            }
        }
        return tokens
    }

    /// The browser's page and the verdict for one redirect's query parameters.
    static func listener(for redirectURIs: [String]) throws(OIDCError) -> LoopbackRedirectListener {
        let fixed = redirectURIs.compactMap(LoopbackRedirect.init)
        if fixed.isEmpty {
            if !redirectURIs.isEmpty {
                throw .unsupported("a browser login with this client: none of its redirect URIs is http://localhost:PORT or "
                                   + "http://127.0.0.1:PORT (\(redirectURIs.prefix(4).joined(separator: " ")))")
            }
            return try LoopbackRedirectListener()
        }
        var lastError: OIDCError?
        for redirect in fixed {
            do { return try LoopbackRedirectListener(fixed: redirect) } catch { lastError = error }
        }
        throw lastError ?? .unsupported("a browser login with this client")
    }

    static func checkRedirect(_ parameters: [String: String], state: String, issuer: URL)
        -> (LoopbackRedirectListener.Page, Result<Secret, OIDCError>)
    {
        func failed(_ error: OIDCError, _ message: String) -> (LoopbackRedirectListener.Page, Result<Secret, OIDCError>) {
            (LoopbackRedirectListener.Page(status: 400, title: "Login failed", message: message), .failure(error))
        }
        // RFC 6749 §10.12: an answer without our state may be a forged one; nothing else in it counts.
        guard let returned = parameters["state"], constantTimeEqual(returned, state) else {
            return failed(.stateMismatch,
                          "This answer does not belong to the login Tessera started. Start the login again. You can close this window.")
        }
        if let iss = parameters["iss"], URL(string: iss).map({ IssuerKey($0) == IssuerKey(issuer) }) != true {
            return failed(.issuerMismatch(expected: issuer.absoluteString, found: Sanitizer.clip(iss, to: 200)),
                          "The answer came from another provider than expected. You can close this window.")
        }
        if let error = parameters["error"] {
            let description = Sanitizer.clean(parameters["error_description"], removing: [])
            let mapped = redirectError(error, description: description)
            let message = if case .accessDenied = mapped {
                "You declined the login. You can close this window."
            } else {
                "The provider refused the login (\(Sanitizer.clip(error, to: 60))). You can close this window."
            }
            return failed(mapped, message)
        }
        guard let code = parameters["code"], !code.isEmpty else {
            return failed(.malformedResponse("the provider's redirect carries neither a code nor an error"),
                          "The provider's answer has no authorization code. Start the login again. You can close this window.")
        }
        return (LoopbackRedirectListener.Page(status: 200, title: "Logged in",
                                              message: "Tessera received the login. You can close this window."),
                .success(Secret(code)))
    }

    /// RFC 6749 §4.1.2.1 error codes, named as the token endpoint's are.
    static func redirectError(_ code: String, description: String?) -> OIDCError {
        switch code {
        case "access_denied": .accessDenied(description: description)
        case "invalid_scope": .invalidScope(description: description)
        case "unauthorized_client": .unauthorizedClient(description: description)
        case "invalid_target": .invalidTarget(description: description)
        default: .server(status: 302, error: Sanitizer.clip(code, to: 60), description: description)
        }
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The `nonce` claim of an ID token, unverified: it came straight from the token endpoint over
    /// the channel the issuer URL names (OIDC Core §3.1.3.7 allows TLS in place of the signature).
    static func nonce(of idToken: Secret) -> String? {
        JWT.claims(of: idToken)?["nonce"]?.stringValue
    }
}
