import FoundationEssentials
import Logging
import Secrets

/// Dynamic client registration (RFC 7591) and client management (RFC 7592).
extension OIDCClient {
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
                                browserLogin: Bool = true, initialAccessToken: Secret? = nil,
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
                                 confidential: Bool, browserLogin: Bool, initialAccessToken: Secret?)
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
                ? .clientSecretPost(Secret(secret)) : .clientSecretBasic(Secret(secret))
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
            registrationAccessToken: try fields.string("registration_access_token").flatMap { $0.isEmpty ? nil : Secret($0) },
            registrationClientURI: try fields.url("registration_client_uri"),
            clientSecretExpiresAt: expiresAt,
            grantTypes: try fields.strings("grant_types"),
            redirectURIs: try fields.strings("redirect_uris"))
    }
}
