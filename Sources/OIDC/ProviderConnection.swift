import FoundationEssentials
import Logging
import Secrets

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
        guard IssuerKey(metadata.issuer) == IssuerKey(issuer) else {
            throw .issuerMismatch(expected: issuer.absoluteString, found: metadata.issuer.absoluteString)
        }
        for endpoint in [metadata.tokenEndpoint, metadata.deviceAuthorizationEndpoint, metadata.revocationEndpoint,
                         metadata.registrationEndpoint].compactMap({ $0 }) {
            try URLPolicy.check(endpoint)
        }
        return metadata
    }

    func send(_ request: HTTPRequest, secrets: [Secret]) async throws(OIDCError) -> HTTPResponse {
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
    func error(from response: HTTPResponse, context: String, secrets: [Secret]) -> OIDCError {
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
