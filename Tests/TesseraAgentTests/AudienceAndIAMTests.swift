import Foundation
import TestSupport
import Testing

/// Issue 13 through the real `tesserad`: how the audience goes out, and (with the test provider
/// in IAM mode) what INDIGO IAM users meet.
@Suite(.serialized, .exclusiveSession) struct AudienceAndIAMTests {
    /// Issue 13.2: a non-URI audience went out as RFC 8707 `resource`, which a provider refuses on
    /// a refresh (not granted at login; IAM: "Not a valid URI"). By default it now goes by value;
    /// `audience-style resource` still forces `resource`.
    @Test func audienceGoesByValueByDefault() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        #expect(try await world.check("ListAccounts").contains("'audience-style': <'auto'>"))
        try await world.login()
        let token = try await world.token("{'audience': <['example.audience']>}")
        #expect(!token.value.isEmpty)
        // A URI still goes as `resource`, which the provider records on the token.
        let api = "https://api.example.org"
        let forAPI = try await world.token("{'audience': <['\(api)']>}")
        let info = try await world.provider.tokenInfo(accessToken: forAPI.value)
        #expect(info.resource == [api] || info.resource == [], "\(String(describing: info.resource))")

        // The per-account style overrides.
        let forced = "\(world.account)-res"
        try await world.addAccount(forced, extra: ", 'audience-style': <'resource'>")
        #expect(try await world.check("ListAccounts").contains("'audience-style': <'resource'>"))
        try await world.login(forced)
        let refused = try await world.call("GetToken", forced, "{'audience': <['example.audience']>}")
        #expect(AgentWorld.errorName(refused) == "Provider" && refused.stderr.contains("invalid_target"), "\(refused.stderr)")
        let bogus = try await world.call("AddAccount", "\(world.account)-bogus",
                                         "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'x'>, 'audience-style': <'header'>}")
        #expect(AgentWorld.errorName(bogus) == "InvalidArgument" && bogus.stderr.contains("auto"))
    }

    /// The IAM page as a user follows it, against the provider in IAM mode: an account added
    /// without a client (registered at /iam/api/client-registration), a device login, then
    /// `token --aud example.audience`: the access token's `aud` claim holds it.
    @Test func iamPageAudienceLandsInTheAudClaim() async throws {
        let world = try await AgentWorld(.iam())
        try await world.check("AddAccount", world.account, "{'issuer': <'\(world.provider.issuer.absoluteString)'>, "
                                  + "'scopes': <['openid', 'offline_access', 'profile']>}")
        let listed = try await world.check("ListAccounts")
        #expect(listed.contains("'audience-style': <'auto'>"))
        try await world.login()
        let token = try await world.token("{'audience': <['example.audience']>}")
        #expect(TestProvider.audienceClaim(token.value) == ["example.audience"], "\(TestProvider.jwtClaims(token.value) ?? [:])")
        let plain = try await world.token()
        #expect(TestProvider.audienceClaim(plain.value) == nil)
        let api = "https://dcache.example.org"
        let forAPI = try await world.call("GetToken", world.account, "{'audience': <['\(api)']>}")
        // Not granted at login: IAM refuses a new resource on a refresh, and says so.
        #expect(AgentWorld.errorName(forAPI) == "Provider" && forAPI.stderr.contains("not originally granted"), "\(forAPI.stderr)")
    }

    /// Issue 13.3 against IAM's behaviour: an expired refresh token is 401 invalid_token; tesserad
    /// answers LoginRequired, signals it, and deletes the dead token (secret-tool sees none).
    @Test func iamExpiredRefreshTokenEndsTheLogin() async throws {
        let world = try await AgentWorld(.iam(accessTokenLifetime: 1, refreshTokenLifetime: 1), ownProvider: true)
        try await world.addAccount()
        try await world.login()
        #expect(try await world.storedRefreshToken() != nil)
        let monitorLog = "\(world.directory)/signals.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "interface='io.tessera.Agent1'"], logPath: monitorLog)
        defer { monitor.stop() }
        try await Task.sleep(for: .seconds(3))
        let result = try await world.call("GetToken", world.account, "{'force': <true>}")
        #expect(AgentWorld.errorName(result) == "LoginRequired", "\(result.stderr)")
        #expect(result.stderr.contains("was not found"))
        #expect(try await world.storedRefreshToken() == nil)
        try await eventually("LoginRequired is signalled") {
            ((try? String(contentsOfFile: monitorLog, encoding: .utf8)) ?? "").contains("member=LoginRequired")
        }
        // Logging in again works.
        try await world.login()
        #expect(!(try await world.token("{'force': <true>}")).value.isEmpty)
    }
}
