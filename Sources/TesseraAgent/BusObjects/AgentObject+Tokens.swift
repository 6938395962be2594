import DBus
import FoundationEssentials
import OIDC
import TesseraAPI
import TesseraCore

/// `GetToken`, `GetIdToken` and `Revoke`: arguments checked here, the work is `Agent`'s.
extension AgentObject {
    func getToken(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try GetTokenOptions(dbusOptions: options) }
        var request = TokenRequest(account: account)
        if let scopes = options.scopes { request.scopes = try Validate.words(scopes, field: GetTokenOption.scopes.rawValue) }
        if let audience = options.audience { request.audience = try Validate.words(audience, field: GetTokenOption.audience.rawValue) }
        // Any value: above the provider's lifetime a freshly refreshed token comes back, and its
        // expires_at says how long it really lives (as oidc-token does).
        if let minValid = options.minValid { request.minValid = minValid }
        if let timeout = options.timeout {
            guard (1...Self.maxTimeout).contains(timeout) else {
                throw .invalidArgument(field: GetTokenOption.timeout.rawValue, reason: "must be between 1 and \(Self.maxTimeout) seconds")
            }
            request.timeout = timeout
        }
        if let application = options.application { _ = try Validate.text(application, field: GetTokenOption.application.rawValue) }
        request.force = options.force ?? false
        request.interactive = options.interactive ?? false
        if request.interactive {
            request.requestedBy = Self.requester(caller, application: options.application.map { String($0.prefix(80)) })
        }
        try await consent.check(caller, account: account, item: .accessToken(scopes: request.scopes, audience: request.audience),
                                hint: options.application,
                                wait: options.timeout.map { .seconds($0) } ?? ConsentGate.defaultWait)
        let (token, resolved) = try await agent.token(request)
        return Self.tokenReply(token, of: resolved).body
    }

    func revoke(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try RevokeOptions(dbusOptions: options) }
        return [.bool(try await agent.revoke(account: account, keepOnFailure: options.keepOnFailure ?? false,
                                             recursive: options.recursive ?? false))]
    }

    func getIdToken(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try IdTokenOptions(dbusOptions: options) }
        try await consent.check(caller, account: account, item: .idToken, hint: nil)
        let token = try await agent.idToken(account: account, minValid: options.minValid ?? GetTokenOption.defaultMinValid,
                                            force: options.force ?? false)
        return [.string(token.value), .int64(token.expiresAt.map { Int64($0.timeIntervalSince1970.rounded(.down)) } ?? 0)]
    }
}
