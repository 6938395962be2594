import FoundationEssentials
import Logging

/// The protocol client for one OAuth client at one OpenID provider: discovery, RFC 8628 device
/// flow, refresh, the deprecated password grant and RFC 7009 revocation. It holds no tokens;
/// the caller stores what it returns. Every method throws only `OIDCError`.
///
/// ```swift
/// let client = OIDCClient(issuer: issuer, credentials: .publicClient("my-client"))
/// let flow = try await client.startDeviceAuthorization(scopes: ["openid", "offline_access"])
/// show(flow.userCode, flow.verificationURIComplete ?? flow.verificationURI)
/// let tokens = try await client.pollDeviceToken(flow)
/// ```
public struct OIDCClient: Sendable {
    /// Sent as `User-Agent: Tessera/<version>`.
    public static let version = "0.1.0"
    static let deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"
    /// RFC 8628 §3.5: "increase the interval by 5 seconds for this and all subsequent requests".
    public static let slowDownIncrement: Duration = .seconds(5)

    public let issuer: URL
    public let credentials: ClientCredentials
    public let audienceStyle: AudienceStyle
    private let provider: ProviderConnection

    public init(issuer: URL, credentials: ClientCredentials, audienceStyle: AudienceStyle = .auto,
                transport: any HTTPTransport = CurlTransport(), cache: ProviderMetadataCache = .shared,
                logger: Logger = Logger(label: "io.tessera.oidc")) {
        self.issuer = issuer
        self.credentials = credentials
        self.audienceStyle = audienceStyle
        self.provider = ProviderConnection(issuer: issuer, transport: transport, cache: cache, logger: logger)
    }

    // MARK: Discovery

    /// The provider's metadata: `/.well-known/openid-configuration`, falling back to RFC 8414
    /// `/.well-known/oauth-authorization-server` when the first is not there (4xx). The document's
    /// `issuer` must equal ours; every endpoint must pass `URLPolicy`. Cached per issuer.
    public func discover() async throws(OIDCError) -> ProviderMetadata {
        try await provider.discover()
    }

    /// Discovery without a client (e.g. before registering one).
    public static func discover(issuer: URL, transport: any HTTPTransport = CurlTransport(),
                                cache: ProviderMetadataCache = .shared) async throws(OIDCError) -> ProviderMetadata {
        try await ProviderConnection(issuer: issuer, transport: transport, cache: cache,
                                     logger: Logger(label: "io.tessera.oidc")).discover()
    }

    // MARK: Device authorization grant (RFC 8628)

    /// Step 1: asks for a device code and a user code. `audience` goes out per `audienceStyle`.
    public func startDeviceAuthorization(scopes: [String], audience: [String] = []) async throws(OIDCError)
        -> DeviceAuthorization
    {
        let metadata = try await discover()
        guard let endpoint = metadata.deviceAuthorizationEndpoint else {
            throw .unsupported("the device flow (its discovery document has no device_authorization_endpoint)")
        }
        var form = FormBody()
        if !scopes.isEmpty { form.add("scope", scopes.joined(separator: " ")) }
        addAudience(audience, to: &form)
        // RFC 8628 §3.1 wants client_id only from unauthenticated clients, but providers
        // (django-oauth-toolkit among them) read it from the body in every case.
        if case .clientSecretBasic = credentials.authentication { form.add("client_id", credentials.clientID) }
        let requestedAt = Date()
        let response = try await post(form, to: endpoint, extraSecrets: [])
        let context = "the device authorization response"
        guard (200..<300).contains(response.status) else {
            throw provider.error(from: response, context: context, secrets: secrets())
        }
        let fields = try JSONFields(response.body, context: context)
        guard case .value(let expiresIn) = fields.seconds("expires_in"), expiresIn >= 1 else {
            throw .malformedResponse("\(context) lacks a positive \"expires_in\"")
        }
        let lifetime = UntrustedSeconds.duration(expiresIn, atMost: DeviceAuthorization.maximumLifetime)
        // "verification_url" is what some providers (Google) sent before RFC 8628 settled.
        var verificationURI = try fields.url("verification_uri")
        if verificationURI == nil { verificationURI = try fields.url("verification_url") }
        guard let verificationURI else {
            throw .malformedResponse("\(context) lacks the required field \"verification_uri\"")
        }
        // RFC 8628 §3.2: 5 s when absent; an unusable value is treated as absent, not trusted.
        var interval = Duration.seconds(5)
        if case .value(let seconds) = fields.seconds("interval") {
            interval = UntrustedSeconds.duration(seconds, atMost: DeviceAuthorization.intervalRange.upperBound)
        }
        return DeviceAuthorization(
            deviceCode: SecretString(try fields.requiredString("device_code")),
            userCode: try fields.requiredString("user_code"),
            verificationURI: verificationURI,
            verificationURIComplete: try fields.url("verification_uri_complete"),
            expiresAt: requestedAt.addingTimeInterval(CurlTransport.seconds(lifetime)),
            interval: interval,
            scopes: scopes, audience: audience)
    }

    /// Step 2, once: asks the token endpoint whether the user approved. Throws
    /// `.authorizationPending` / `.slowDown` while waiting; on `.slowDown` it has already added
    /// 5 s to `authorization.interval`, so a caller driving its own loop just waits that long.
    /// `pollDeviceToken(_:)` is the standard loop over this.
    public func requestDeviceToken(_ authorization: inout DeviceAuthorization) async throws(OIDCError) -> TokenResponse {
        var form = FormBody()
        form.add("grant_type", Self.deviceCodeGrant)
        form.add("device_code", authorization.deviceCode.reveal())
        addAudience(authorization.audience, to: &form)
        do {
            return try await tokenRequest(form, extraSecrets: [authorization.deviceCode])
        } catch .slowDown {
            authorization.interval += Self.slowDownIncrement
            provider.logger.debug("slow_down: polling interval now \(authorization.interval)")
            throw .slowDown
        }
    }

    /// Step 2: polls until the user approves (returns the tokens) or the flow ends: denied
    /// (`.accessDenied`), expired (`.expiredToken`, also when the device code's own `expires_in`
    /// passes without an answer), or the calling task is cancelled (`.cancelled`). Waits
    /// `interval` before each request and adds 5 s on every `slow_down`; a timed-out request
    /// doubles the interval (RFC 8628 §3.5 back-off).
    public func pollDeviceToken(_ authorization: DeviceAuthorization) async throws(OIDCError) -> TokenResponse {
        var authorization = authorization
        while true {
            let remaining = authorization.expiresAt.timeIntervalSinceNow
            guard remaining > 0 else { throw .expiredToken }
            do {
                let untilExpiry = UntrustedSeconds.duration(remaining, atMost: DeviceAuthorization.maximumLifetime)
                try await Task.sleep(for: min(authorization.interval, untilExpiry + .milliseconds(1)))
            } catch {
                throw .cancelled
            }
            guard authorization.expiresAt.timeIntervalSinceNow > 0 else { throw .expiredToken }
            do {
                return try await requestDeviceToken(&authorization)
            } catch .authorizationPending, .slowDown {
                continue
            } catch .transport(.timedOut) {
                authorization.interval = min(authorization.interval * 2, DeviceAuthorization.intervalRange.upperBound)
            }
        }
    }

    // MARK: Refresh and password grants

    /// RFC 6749 §6. `scopes` may narrow the grant (nil: as originally granted); `audience` goes
    /// out per `audienceStyle`. If the answer carries a `refreshToken` the old one is (at
    /// rotating providers) already dead: persist the new one before anything else.
    /// `.invalidGrant` means the refresh token is gone for good (also IAM's `invalid_token` in a
    /// 4xx, which says the same); other errors, and any 5xx, do not.
    public func refresh(refreshToken: SecretString, scopes: [String]? = nil, audience: [String] = [])
        async throws(OIDCError) -> TokenResponse
    {
        var form = FormBody()
        form.add("grant_type", "refresh_token")
        form.add("refresh_token", refreshToken.reveal())
        if let scopes, !scopes.isEmpty { form.add("scope", scopes.joined(separator: " ")) }
        addAudience(audience, to: &form)
        do {
            return try await tokenRequest(form, extraSecrets: [refreshToken])
        } catch .server(let status, "invalid_token", let description) where (400..<500).contains(status) {
            // INDIGO IAM answers an expired or unknown refresh token with 401 invalid_token
            // ("Refresh token for value … was not found"): on a refresh that is the grant gone,
            // as invalid_grant says elsewhere. The code stays in the description for people.
            throw .invalidGrant(description: "invalid_token" + (description.map { ": \($0)" } ?? ""))
        }
    }

    /// The resource owner password credentials grant (RFC 6749 §4.3). DEPRECATED: RFC 9700
    /// (OAuth 2.0 Security BCP) says it MUST NOT be used; it exists for providers that offer
    /// nothing else. The name says so at every call site. A wrong password is `.invalidGrant`.
    public func deprecatedPasswordGrant(username: String, password: SecretString, scopes: [String],
                                        audience: [String] = []) async throws(OIDCError) -> TokenResponse
    {
        var form = FormBody()
        form.add("grant_type", "password")
        form.add("username", username)
        form.add("password", password.reveal())
        if !scopes.isEmpty { form.add("scope", scopes.joined(separator: " ")) }
        addAudience(audience, to: &form)
        return try await tokenRequest(form, extraSecrets: [password])
    }

    // MARK: Revocation (RFC 7009)

    /// Revokes a token at the provider. Any 2xx counts as done, whatever the body (often empty).
    public func revoke(_ token: SecretString, hint: TokenTypeHint = .refreshToken) async throws(OIDCError) {
        let metadata = try await discover()
        guard let endpoint = metadata.revocationEndpoint else {
            throw .unsupported("token revocation (its discovery document has no revocation_endpoint)")
        }
        var form = FormBody()
        form.add("token", token.reveal())
        form.add("token_type_hint", hint.rawValue)
        let response = try await post(form, to: endpoint, extraSecrets: [token])
        guard (200..<300).contains(response.status) else {
            throw provider.error(from: response, context: "the revocation response", secrets: secrets([token]))
        }
    }

    // MARK: Dynamic client registration (RFC 7591, RFC 7592)

    /// The loopback redirect URI registered for browser logins: RFC 8252 §7.3 lets the port vary,
    /// so the listener's kernel-chosen port matches it.
    public static let loopbackRedirectURI = "http://127.0.0.1/callback"

    /// Registers a new client: device code, refresh token and (with `browserLogin`, the default)
    /// authorization code on a loopback redirect, so `login --browser` works on it too. A
    /// provider that refuses that combination (`invalid_client_metadata`, e.g. one grant type per
    /// client) is asked again for the device flow alone; `ClientRegistration.grantTypes` says what
    /// was granted. `confidential` asks for a secret (`client_secret_basic`); otherwise a public
    /// client (`none`). `initialAccessToken` for providers that require one. Keep the answer's
    /// `management` (RFC 7592) to delete the client later.
    public static func register(issuer: URL, clientName: String, scopes: [String] = [], confidential: Bool = false,
                                browserLogin: Bool = true, initialAccessToken: SecretString? = nil,
                                transport: any HTTPTransport = CurlTransport(),
                                cache: ProviderMetadataCache = .shared,
                                logger: Logger = Logger(label: "io.tessera.oidc")) async throws(OIDCError)
        -> ClientRegistration
    {
        let provider = ProviderConnection(issuer: issuer, transport: transport, cache: cache, logger: logger)
        let metadata = try await provider.discover()
        guard let endpoint = metadata.registrationEndpoint else {
            throw .unsupported("dynamic client registration (its discovery document has no registration_endpoint)")
        }
        func attempt(browser: Bool) async throws(OIDCError) -> ClientRegistration {
            try await register(at: endpoint, provider: provider, clientName: clientName, scopes: scopes,
                               confidential: confidential, browserLogin: browser, initialAccessToken: initialAccessToken)
        }
        guard browserLogin else { return try await attempt(browser: false) }
        do {
            return try await attempt(browser: true)
        } catch .server(400, let code, let description) where code == "invalid_client_metadata" || code == "invalid_redirect_uri" {
            logger.notice("\(issuer.absoluteString) refused a client for device, refresh and browser logins (\(code ?? ""): \(description ?? "")); registering for the device flow only")
            return try await attempt(browser: false)
        }
    }

    private static func register(at endpoint: URL, provider: ProviderConnection, clientName: String, scopes: [String],
                                 confidential: Bool, browserLogin: Bool, initialAccessToken: SecretString?)
        async throws(OIDCError) -> ClientRegistration
    {
        var document: [String: JSONValue] = [
            "client_name": .string(clientName),
            "grant_types": .array(([deviceCodeGrant, "refresh_token"] + (browserLogin ? ["authorization_code"] : [])).map(JSONValue.string)),
            "token_endpoint_auth_method": confidential ? "client_secret_basic" : "none",
        ]
        if browserLogin {
            document["redirect_uris"] = [.string(loopbackRedirectURI)]
            document["response_types"] = ["code"]
        }
        if !scopes.isEmpty { document["scope"] = .string(scopes.joined(separator: " ")) }
        var headers = ["Content-Type": "application/json"]
        if let initialAccessToken { headers["Authorization"] = "Bearer \(initialAccessToken.reveal())" }
        let body = JSONValue.object(document).data()
        let secrets = initialAccessToken.map { [$0] } ?? []
        let response = try await provider.send(
            HTTPRequest(method: .post, url: endpoint, headers: headers, body: body), secrets: secrets)
        let context = "the registration response"
        guard (200..<300).contains(response.status) else {
            throw provider.error(from: response, context: context, secrets: secrets)
        }
        return try registration(from: response, context: context)
    }

    /// Reads a registered client's configuration (RFC 7592 §2.1).
    public static func readRegistration(_ management: ClientManagement,
                                        transport: any HTTPTransport = CurlTransport(),
                                        logger: Logger = Logger(label: "io.tessera.oidc")) async throws(OIDCError)
        -> ClientRegistration
    {
        let (provider, headers) = managementRequest(management, transport: transport, logger: logger)
        let response = try await provider.send(HTTPRequest(method: .get, url: management.clientURI, headers: headers),
                                               secrets: [management.accessToken])
        let context = "the client configuration response"
        guard (200..<300).contains(response.status) else {
            throw provider.error(from: response, context: context, secrets: [management.accessToken])
        }
        return try registration(from: response, context: context)
    }

    /// Deletes a registered client at the provider (RFC 7592 §2.3): its tokens die with it.
    /// Any 2xx is done; 401 `invalid_token` means the token (or the client) is gone already.
    public static func deleteRegistration(_ management: ClientManagement,
                                          transport: any HTTPTransport = CurlTransport(),
                                          logger: Logger = Logger(label: "io.tessera.oidc")) async throws(OIDCError)
    {
        let (provider, headers) = managementRequest(management, transport: transport, logger: logger)
        let response = try await provider.send(HTTPRequest(method: .delete, url: management.clientURI, headers: headers),
                                               secrets: [management.accessToken])
        guard (200..<300).contains(response.status) else {
            throw provider.error(from: response, context: "the client deletion response", secrets: [management.accessToken])
        }
    }

    private static func managementRequest(_ management: ClientManagement, transport: any HTTPTransport, logger: Logger)
        -> (ProviderConnection, [String: String])
    {
        // `send` checks the URL policy; the issuer is not needed for these requests.
        (ProviderConnection(issuer: management.clientURI, transport: transport, cache: .shared, logger: logger),
         ["Authorization": "Bearer \(management.accessToken.reveal())"])
    }

    private static func registration(from response: HTTPResponse, context: String) throws(OIDCError) -> ClientRegistration {
        let fields = try JSONFields(response.body, context: context)
        let clientID = try fields.requiredString("client_id")
        let authentication: ClientAuthentication
        if let secret = try fields.string("client_secret"), !secret.isEmpty {
            authentication = try fields.string("token_endpoint_auth_method") == "client_secret_post"
                ? .clientSecretPost(SecretString(secret)) : .clientSecretBasic(SecretString(secret))
        } else {
            authentication = .none
        }
        // 0 means "never"; anything past year 9999 is as good as never (and an untrusted number).
        var expiresAt: Date?
        if case .value(let seconds) = fields.seconds("client_secret_expires_at"), seconds > 0, seconds < 253_402_300_800 {
            expiresAt = Date(timeIntervalSince1970: seconds)
        }
        return ClientRegistration(
            credentials: ClientCredentials(clientID: clientID, authentication: authentication),
            registrationAccessToken: try fields.string("registration_access_token").flatMap { $0.isEmpty ? nil : SecretString($0) },
            registrationClientURI: try fields.url("registration_client_uri"),
            clientSecretExpiresAt: expiresAt,
            grantTypes: try fields.strings("grant_types"),
            redirectURIs: try fields.strings("redirect_uris"))
    }

    // MARK: Internals

    func addAudience(_ audience: [String], to form: inout FormBody) {
        for (name, value) in audienceStyle.parameters(for: audience) { form.add(name, value) }
    }

    /// Everything a request of ours may carry that must never appear in an error message.
    private func secrets(_ extra: [SecretString] = []) -> [SecretString] {
        var secrets = extra
        if let secret = credentials.secret {
            secrets.append(secret)
            let pair = "\(FormBody.escape(credentials.clientID)):\(FormBody.escape(secret.reveal()))"
            secrets.append(SecretString(Data(pair.utf8).base64EncodedString()))
        }
        return secrets
    }

    /// POSTs a form with the client's authentication (RFC 6749 §2.3.1).
    private func post(_ form: FormBody, to endpoint: URL, extraSecrets: [SecretString]) async throws(OIDCError)
        -> HTTPResponse
    {
        var form = form
        var headers = ["Content-Type": "application/x-www-form-urlencoded"]
        switch credentials.authentication {
        case .none:
            form.add("client_id", credentials.clientID)
        case .clientSecretPost(let secret):
            form.add("client_id", credentials.clientID)
            form.add("client_secret", secret.reveal())
        case .clientSecretBasic(let secret):
            // §2.3.1: both parts are form-encoded before Base64.
            let pair = "\(FormBody.escape(credentials.clientID)):\(FormBody.escape(secret.reveal()))"
            headers["Authorization"] = "Basic \(Data(pair.utf8).base64EncodedString())"
        }
        return try await provider.send(
            HTTPRequest(method: .post, url: endpoint, headers: headers, body: form.encoded),
            secrets: secrets(extraSecrets))
    }

    func tokenRequest(_ form: FormBody, extraSecrets: [SecretString]) async throws(OIDCError) -> TokenResponse {
        let metadata = try await discover()
        let response = try await post(form, to: metadata.tokenEndpoint, extraSecrets: extraSecrets)
        let receivedAt = Date()
        let context = "the token response"
        let allSecrets = secrets(extraSecrets)
        guard (200..<300).contains(response.status) else {
            throw provider.error(from: response, context: context, secrets: allSecrets)
        }
        // Some providers answer errors with 200; an `error` field without a token is one.
        if let fields = JSONFields(lenient: response.body, context: context), !fields.has("access_token"),
            (try? fields.string("error")) != nil
        {
            throw provider.error(from: response, context: context, secrets: allSecrets)
        }
        guard let fields = JSONFields(lenient: response.body, context: context) else {
            throw .malformedResponse(
                "\(context) is not a JSON object (\(BodySummary(data: response.body, contentType: response.contentType)))")
        }
        return try TokenResponse(fields, receivedAt: receivedAt)
    }
}

/// Issuer-level plumbing shared by the client and registration: discovery, URL policy, sending
/// with logging, and turning error answers into `OIDCError`.
struct ProviderConnection: Sendable {
    let issuer: URL
    let transport: any HTTPTransport
    let cache: ProviderMetadataCache
    let logger: Logger

    func discover() async throws(OIDCError) -> ProviderMetadata {
        try URLPolicy.check(issuer)
        do {
            return try await cache.metadata(for: issuer) { try await fetchMetadata() }
        } catch let error as OIDCError {
            throw error
        } catch {
            throw .cancelled
        }
    }

    private func fetchMetadata() async throws(OIDCError) -> ProviderMetadata {
        let primary = Discovery.openIDConfigurationURL(issuer)
        var response = try await send(HTTPRequest(method: .get, url: primary), secrets: [])
        var source = ProviderMetadata.Source.openIDConfiguration
        var url = primary
        if (400..<500).contains(response.status), let fallback = Discovery.authorizationServerURL(issuer) {
            response = try await send(HTTPRequest(method: .get, url: fallback), secrets: [])
            (source, url) = (.oauthAuthorizationServer, fallback)
        }
        guard (200..<300).contains(response.status) else {
            throw .server(status: response.status, error: nil,
                          description: "no discovery document at \(url) (\(BodySummary(data: response.body, contentType: response.contentType)))")
        }
        let metadata = try ProviderMetadata(JSONFields(response.body, context: "the discovery document at \(url)"),
                                            source: source)
        guard Discovery.key(metadata.issuer) == Discovery.key(issuer) else {
            throw .issuerMismatch(expected: issuer.absoluteString, found: metadata.issuer.absoluteString)
        }
        for endpoint in [metadata.tokenEndpoint, metadata.deviceAuthorizationEndpoint, metadata.revocationEndpoint,
                         metadata.registrationEndpoint].compactMap({ $0 }) {
            try URLPolicy.check(endpoint)
        }
        return metadata
    }

    func send(_ request: HTTPRequest, secrets: [SecretString]) async throws(OIDCError) -> HTTPResponse {
        try URLPolicy.check(request.url)
        if Task.isCancelled { throw .cancelled }
        let start = ContinuousClock.now
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch let error as OIDCError {
            logger.debug("\(request) failed: \(error)")
            throw error
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .transport(.failed(url: request.url.absoluteString, reason: String(describing: type(of: error))))
        }
        logger.debug("\(request) → \(response) in \(ContinuousClock.now - start)")
        if (300..<400).contains(response.status) {
            throw .transport(.redirectRefused(url: request.url.absoluteString, status: response.status,
                                              location: response.headers["location"]))
        }
        return response
    }

    /// The error an unsuccessful answer stands for: below 500 the OAuth `error` field decides, not
    /// the status code (mytoken answers `authorization_pending` with 428); a 5xx is always
    /// `.server`; without an `error` field, a `.server` error that says what the body was.
    func error(from response: HTTPResponse, context: String, secrets: [SecretString]) -> OIDCError {
        guard let fields = JSONFields(lenient: response.body, context: context),
            let code = (try? fields.string("error")) ?? nil
        else {
            let summary = BodySummary(data: response.body, contentType: response.contentType)
            return .server(status: response.status, error: nil, description: "\(context) was \(summary)")
        }
        let description = Sanitizer.clean((try? fields.string("error_description")) ?? nil, removing: secrets)
        // A 5xx is the provider failing, whatever its body claims: an `invalid_grant` there must
        // not make the caller delete a refresh token that may well be valid (issue 12.8).
        if (500..<600).contains(response.status) {
            return .server(status: response.status, error: Sanitizer.clean(code, removing: secrets), description: description)
        }
        switch code {
        case "authorization_pending": return .authorizationPending
        case "slow_down": return .slowDown
        case "expired_token": return .expiredToken
        case "access_denied": return .accessDenied(description: description)
        case "invalid_grant": return .invalidGrant(description: description)
        case "invalid_client": return .invalidClient(description: description)
        case "invalid_scope": return .invalidScope(description: description)
        case "invalid_target": return .invalidTarget(description: description)
        case "unauthorized_client": return .unauthorizedClient(description: description)
        default:
            return .server(status: response.status, error: Sanitizer.clean(code, removing: secrets),
                           description: description)
        }
    }
}
