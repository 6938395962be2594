import FoundationEssentials
import Secrets

/// Grants that use a credential the caller already holds, and revoking one (RFC 6749 §6 and §4.3, RFC 7009).
extension OIDCClient {
    // MARK: Refresh and password grants

    /// RFC 6749 §6. `scopes` may narrow the grant (nil: as originally granted); `audience` goes
    /// out per `audienceStyle`. If the answer carries a `refreshToken` the old one is (at
    /// rotating providers) already dead: persist the new one before anything else.
    /// `.invalidGrant` means the refresh token is gone for good (also IAM's `invalid_token` in a
    /// 4xx, which says the same); other errors, and any 5xx, do not.
    public func refresh(refreshToken: Secret, scopes: [String]? = nil, audience: [String] = [])
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
    public func deprecatedPasswordGrant(username: String, password: Secret, scopes: [String],
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
    public func revoke(_ token: Secret, hint: TokenTypeHint = .refreshToken) async throws(OIDCError) {
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
}
