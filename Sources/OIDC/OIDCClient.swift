import FoundationEssentials
import Logging
import Secrets

/// The protocol client for one OAuth client at one OpenID provider: discovery, RFC 8628 device
/// flow, refresh, the deprecated password grant and RFC 7009 revocation. It holds no tokens;
/// the caller stores what it returns. Every method throws only `OIDCError`. The grants live in
/// `OIDCClient+DeviceFlow.swift`, `OIDCClient+Grants.swift` (refresh, password, revocation) and
/// `OIDCClient+Registration.swift`; `ProviderConnection` sends, discovers and reads error answers.
///
/// ```swift
/// let client = OIDCClient(issuer: issuer, credentials: .publicClient("my-client"))
/// let flow = try await client.startDeviceAuthorization(scopes: ["openid", "offline_access"])
/// show(flow.userCode, flow.verificationURIComplete ?? flow.verificationURI)
/// let tokens = try await client.pollDeviceToken(flow)
/// ```
public struct OIDCClient: Sendable {
    static let deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"
    /// RFC 8628 §3.5: "increase the interval by 5 seconds for this and all subsequent requests".
    public static let slowDownIncrement: Duration = .seconds(5)

    public let issuer: URL
    public let credentials: ClientCredentials
    public let audienceStyle: AudienceStyle
    let provider: ProviderConnection

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

    // MARK: Internals

    func addAudience(_ audience: [String], to form: inout FormBody) {
        for (name, value) in audienceStyle.parameters(for: audience) { form.add(name, value) }
    }

    /// Everything a request of ours may carry that must never appear in an error message.
    func secrets(_ extra: [Secret] = []) -> [Secret] {
        var secrets = extra
        if let secret = credentials.secret {
            secrets.append(secret)
            let pair = "\(FormBody.escape(credentials.clientID)):\(FormBody.escape(secret.reveal()))"
            secrets.append(Secret(Data(pair.utf8).base64EncodedString()))
        }
        return secrets
    }

    /// POSTs a form with the client's authentication (RFC 6749 §2.3.1).
    func post(_ form: FormBody, to endpoint: URL, extraSecrets: [Secret]) async throws(OIDCError)
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

    func tokenRequest(_ form: FormBody, extraSecrets: [Secret]) async throws(OIDCError) -> TokenResponse {
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
