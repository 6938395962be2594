import FoundationEssentials
import Logging
import Secrets

/// RFC 8628: the device authorization grant.
extension OIDCClient {
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
            deviceCode: Secret(try fields.requiredString("device_code")),
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
}
