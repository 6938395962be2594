import FoundationEssentials
import Secrets

/// A client of one mytoken server (oidc-mytoken API v0). Requests are JSON bodies; errors are the
/// server's `{error, error_description}` mapped to `MytokenError`. No method logs or puts a token
/// in an error.
public struct MytokenClient: Sendable {
    public let configuration: MytokenConfiguration
    let transport: any HTTPTransport

    public init(configuration: MytokenConfiguration, transport: any HTTPTransport) {
        self.configuration = configuration
        self.transport = transport
    }

    /// Reads `<server>/.well-known/mytoken-configuration` and checks the server names itself.
    public static func discover(server: URL, transport: any HTTPTransport) async throws(MytokenError) -> MytokenClient {
        try checkScheme(server)
        let base = server.absoluteString.hasSuffix("/") ? String(server.absoluteString.dropLast()) : server.absoluteString
        guard let url = URL(string: base + "/.well-known/mytoken-configuration") else {
            throw .invalidArgument("'\(server.absoluteString)' is not a mytoken server URL")
        }
        let response = try await send(transport, HTTPRequest(method: .get, url: url, headers: ["Accept": "application/json"]))
        guard response.status == 200 else {
            throw .invalidResponse("discovery at \(url.absoluteString) answered HTTP \(response.status)")
        }
        let configuration: MytokenConfiguration
        do {
            configuration = try JSONDecoder().decode(MytokenConfiguration.self, from: response.body)
        } catch {
            throw .invalidResponse("discovery at \(url.absoluteString) is not a mytoken configuration")
        }
        let issuer = configuration.issuer.hasSuffix("/") ? String(configuration.issuer.dropLast()) : configuration.issuer
        guard issuer == base else {
            throw .invalidResponse("the server at \(base) calls itself '\(configuration.issuer)'")
        }
        return MytokenClient(configuration: configuration, transport: transport)
    }

    /// Mytokens are bearer secrets: https only, plain http only to this machine (for test servers).
    private static func checkScheme(_ url: URL) throws(MytokenError) {
        do {
            try URLPolicy.check(url)
        } catch {
            throw .invalidArgument(
                "'\(url.absoluteString)' is not an https URL (plain http is allowed only to localhost)")
        }
    }

    // MARK: Access tokens

    /// An access token from `mytoken` (`grant_type=mytoken`). Scopes and audiences are sent as
    /// space-separated strings; a server ignores them for a mytoken without restrictions. When the
    /// mytoken rotates, `rotatedMytoken` holds its replacement: store it before using the token.
    public func accessToken(
        mytoken: Secret, scopes: [String] = [], audiences: [String] = [], comment: String? = nil,
        oidcIssuer: String? = nil
    ) async throws(MytokenError) -> MytokenAccessToken {
        var body: [String: JSONValue] = ["grant_type": "mytoken", "mytoken": .string(mytoken.reveal())]
        if !scopes.isEmpty { body["scope"] = .string(scopes.joined(separator: " ")) }
        if !audiences.isEmpty { body["audience"] = .string(audiences.joined(separator: " ")) }
        if let comment, !comment.isEmpty { body["comment"] = .string(comment) }
        if let oidcIssuer { body["oidc_issuer"] = .string(oidcIssuer) }
        let object = try await post(configuration.accessTokenEndpoint, body)
        guard let token = object["access_token"]?.stringValue, !token.isEmpty else {
            throw .invalidResponse("the access token answer has no access_token")
        }
        let audiences: [String]
        if let list = object["audience"]?.stringsValue {
            audiences = list
        } else if let text = object["audience"]?.stringValue {
            audiences = text.split(separator: " ").map(String.init)
        } else {
            audiences = []
        }
        return MytokenAccessToken(
            accessToken: Secret(token),
            tokenType: object["token_type"]?.stringValue ?? "Bearer",
            expiresIn: Self.integer(object["expires_in"]),
            scopes: object["scope"]?.stringValue?.split(separator: " ").map(String.init) ?? [],
            audiences: audiences,
            rotatedMytoken: Self.tokenUpdate(object))
    }

    // MARK: Creating mytokens

    /// A sub-mytoken of `mytoken` (`grant_type=mytoken` at the mytoken endpoint). The server drops
    /// clauses wider than the parent's unless `failOnWiderRestrictions`; without `capabilities`
    /// the new token gets the parent's. With `responseType == .transferCode`, `token` is the code.
    public func createMytoken(from mytoken: Secret, _ request: MytokenRequest = MytokenRequest())
        async throws(MytokenError) -> IssuedMytoken
    {
        var body = try Self.body(for: request)
        body["grant_type"] = "mytoken"
        body["mytoken"] = .string(mytoken.reveal())
        if request.failOnWiderRestrictions { body["error_on_restrictions"] = true }
        return try Self.issued(await post(configuration.mytokenEndpoint, body))
    }

    /// A single-use transfer code for an existing mytoken (the token transfer endpoint).
    public func createTransferCode(for mytoken: Secret) async throws(MytokenError) -> MytokenTransferCode {
        guard let endpoint = configuration.tokenTransferEndpoint else { throw .unsupported("transfer codes") }
        let object = try await post(endpoint, ["mytoken": .string(mytoken.reveal())])
        guard let code = object["transfer_code"]?.stringValue, !code.isEmpty else {
            throw .invalidResponse("the transfer code answer has no transfer_code")
        }
        return MytokenTransferCode(code: Secret(code), expiresIn: Self.integer(object["expires_in"]))
    }

    /// The mytoken behind a transfer code (`grant_type=transfer_code`); the code is used up.
    public func exchange(transferCode: Secret) async throws(MytokenError) -> IssuedMytoken {
        try Self.issued(await post(configuration.mytokenEndpoint,
                                   ["grant_type": "transfer_code", "transfer_code": .string(transferCode.reveal())]))
    }

    // MARK: Login through the server's OIDC flow

    /// Starts a login at the OpenID provider `oidcIssuer` (`grant_type=oidc_flow`,
    /// `oidc_flow=authorization_code` with a native redirect, so the server answers with a
    /// consent URI and a polling code).
    public func startLogin(oidcIssuer: String, _ request: MytokenRequest = MytokenRequest())
        async throws(MytokenError) -> MytokenLogin
    {
        var body = try Self.body(for: request)
        body["grant_type"] = "oidc_flow"
        body["oidc_issuer"] = .string(oidcIssuer)
        body["oidc_flow"] = "authorization_code"
        body["redirect_type"] = "native"
        let object = try await post(configuration.mytokenEndpoint, body)
        guard let uri = object["consent_uri"]?.stringValue.flatMap(URL.init(string:)),
              let code = object["polling_code"]?.stringValue, !code.isEmpty
        else { throw .invalidResponse("the login answer has no consent_uri or polling_code") }
        let interval = Self.integer(object["interval"]) ?? 0
        return MytokenLogin(
            consentURI: uri, pollingCode: Secret(code),
            expiresIn: Self.integer(object["expires_in"]) ?? 300,
            interval: interval > 0 ? interval : 5)
    }

    /// One poll (`grant_type=polling_code`). Pending is decided by the `error` field, never the
    /// status: the server sends `authorization_pending` with HTTP 428.
    public func poll(_ login: MytokenLogin) async throws(MytokenError) -> MytokenPollResult {
        let body: [String: JSONValue] = ["grant_type": "polling_code", "polling_code": .string(login.pollingCode.reveal())]
        let (status, object) = try await exchange(configuration.mytokenEndpoint, body)
        if let error = object["error"]?.stringValue {
            if error == "authorization_pending" || error == "slow_down" { return .pending }
            throw MytokenError.fromServer(status: status, error: error, description: object["error_description"]?.stringValue)
        }
        guard (200..<300).contains(status) else { throw .invalidResponse("HTTP \(status) without an error object") }
        return .issued(try Self.issued(object))
    }

    /// Polls `login` every `interval` seconds until consent, refusal, expiry or cancellation of
    /// the calling task (→ `.cancelled`). Expiry is `.loginExpired`, whether noticed here or by
    /// the server.
    public func waitForLogin(_ login: MytokenLogin) async throws(MytokenError) -> IssuedMytoken {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(login.expiresIn)
        while true {
            let wake = clock.now + .seconds(login.interval)
            if wake > deadline { throw .loginExpired }
            do {
                try await clock.sleep(until: wake)
            } catch {
                throw .cancelled
            }
            if Task.isCancelled { throw .cancelled }
            do {
                if case .issued(let token) = try await poll(login) { return token }
            } catch .expiredCode {
                throw .loginExpired
            }
        }
    }

    // MARK: Revocation

    /// Revokes a mytoken, short token or transfer code; `recursive` also revokes every token
    /// created from it. Unknown tokens are not an error (the server answers 204 either way).
    public func revoke(_ token: Secret, recursive: Bool = false, oidcIssuer: String? = nil) async throws(MytokenError) {
        guard let endpoint = configuration.revocationEndpoint else { throw .unsupported("revocation") }
        var body: [String: JSONValue] = ["token": .string(token.reveal())]
        if recursive { body["recursive"] = true }
        if let oidcIssuer { body["oidc_issuer"] = .string(oidcIssuer) }
        _ = try await post(endpoint, body)
    }

    // MARK: Wire

    /// The request's JSON fields (what a login or sub-mytoken request sends besides its grant),
    /// e.g. to keep as an account's login request and send later as a profile's fields.
    public static func fields(of request: MytokenRequest) throws(MytokenError) -> [String: MytokenJSON] {
        try body(for: request)
    }

    /// The request body. A JSON profile's fields come first and explicit fields replace them (the
    /// mytoken client's precedence); profile names go to `include` for the server to merge.
    private static func body(for request: MytokenRequest) throws(MytokenError) -> [String: JSONValue] {
        var body: [String: JSONValue] = request.profile.fields
        if !request.profile.include.isEmpty {
            body["include"] = MytokenTemplateInput.includeValue(request.profile.include)
        }
        if let restrictions = request.restrictionsJSON {
            body["restrictions"] = restrictions
        } else if !request.restrictions.isEmpty {
            body["restrictions"] = .array(try request.restrictions.map { (clause) throws(MytokenError) in try jsonObject(clause) })
        }
        if let capabilities = request.capabilities {
            guard !capabilities.isEmpty else {
                throw .invalidArgument("an empty capability list gives a useless token; leave it out to inherit")
            }
            body["capabilities"] = .array(capabilities.map(JSONValue.string))
        }
        if let subtokenCapabilities = request.subtokenCapabilities { body["subtoken_capabilities"] = .array(subtokenCapabilities.map(JSONValue.string)) }
        if let rotation = request.rotation, rotation.isEffective {
            body["rotation"] = try jsonObject(rotation)
        }
        if let name = request.name, !name.isEmpty { body["name"] = .string(name) }
        if body["response_type"] == nil || request.responseType != .token {
            body["response_type"] = .string(request.responseType.rawValue)
        }
        if let maxTokenLength = request.maxTokenLength {
            guard maxTokenLength > 0 else { throw .invalidArgument("max_token_len must be positive, not \(maxTokenLength)") }
            body["max_token_len"] = .integer(Int64(maxTokenLength))
        }
        if let applicationName = request.applicationName, !applicationName.isEmpty {
            body["application_name"] = .string(applicationName)
        }
        return body
    }

    private static func jsonObject(_ value: some Encodable) throws(MytokenError) -> JSONValue {
        guard let json = JSONValue(encoding: value) else { throw .invalidArgument("cannot encode \(type(of: value))") }
        return json
    }

    private static func issued(_ object: [String: JSONValue]) throws(MytokenError) -> IssuedMytoken {
        let typeName = object["mytoken_type"]?.stringValue ?? (object["transfer_code"] != nil ? "transfer_code" : "token")
        guard let type = MytokenResponseType(rawValue: typeName) else {
            throw .invalidResponse("unknown mytoken_type '\(typeName)'")
        }
        let key = type == .transferCode ? "transfer_code" : "mytoken"
        guard let token = object[key]?.stringValue, !token.isEmpty else {
            throw .invalidResponse("the answer has no \(key)")
        }
        return IssuedMytoken(
            token: Secret(token), type: type, expiresIn: integer(object["expires_in"]),
            restrictions: decode([MytokenRestriction].self, object["restrictions"]) ?? [],
            capabilities: object["capabilities"]?.stringsValue ?? [],
            subtokenCapabilities: object["subtoken_capabilities"]?.stringsValue ?? [],
            rotation: decode(MytokenRotation.self, object["rotation"]),
            rotatedMytoken: tokenUpdate(object))
    }

    static func tokenUpdate(_ object: [String: JSONValue]) -> Secret? {
        guard let token = object["token_update"]?["mytoken"]?.stringValue,
              !token.isEmpty else { return nil }
        return Secret(token)
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ value: JSONValue?) -> T? {
        guard let value, !value.isNull else { return nil }
        return value.decode(type)
    }

    /// The most seconds a server's `expires_in` or `interval` is believed: a century, so adding it
    /// to the current time as Int64 seconds or a Date can never overflow.
    static let maximumSeconds = 100 * 366 * 86_400

    /// A server's count of seconds: untrusted, so a negative or non-numeric one counts as absent
    /// and a huge one (1e30, 2^63) is clamped instead of trapping (found by `make fuzz`).
    static func integer(_ value: JSONValue?) -> Int? {
        guard let seconds = value?.numberValue else { return nil }
        guard seconds.isFinite, seconds >= 0 else { return nil }
        return seconds >= Double(maximumSeconds) ? maximumSeconds : Int(seconds)
    }

    /// POSTs `body` and returns the JSON object of a successful answer (empty for 204).
    func post(_ url: URL, _ body: [String: JSONValue]) async throws(MytokenError) -> [String: JSONValue] {
        let (status, object) = try await exchange(url, body)
        if let error = object["error"]?.stringValue {
            throw MytokenError.fromServer(status: status, error: error, description: object["error_description"]?.stringValue)
        }
        guard (200..<300).contains(status) else { throw .invalidResponse("HTTP \(status) without an error object") }
        return object
    }

    private func exchange(_ url: URL, _ body: [String: JSONValue]) async throws(MytokenError) -> (Int, [String: JSONValue]) {
        let data = JSONValue.object(body).data()
        let response = try await Self.send(transport, HTTPRequest(
            method: .post, url: url,
            headers: ["Content-Type": "application/json", "Accept": "application/json"], body: data))
        if response.body.isEmpty { return (response.status, [:]) }
        guard let object = JSONValue.parseObject(response.body) else {
            if (200..<300).contains(response.status) {
                throw .invalidResponse("\(url.path) answered HTTP \(response.status) with a body that is not JSON")
            }
            throw .invalidResponse("\(url.path) answered HTTP \(response.status) without an error object")
        }
        return (response.status, object)
    }

    static func send(_ transport: any HTTPTransport, _ request: HTTPRequest) async throws(MytokenError) -> HTTPResponse {
        do {
            return try await transport.send(request)
        } catch OIDCError.cancelled {
            throw .cancelled
        } catch OIDCError.transport(let problem) {
            throw .network(problem.description)
        } catch is CancellationError {
            throw .cancelled
        } catch {
            if Task.isCancelled { throw .cancelled }
            throw .network("\(request.description): \(error)")
        }
    }
}
