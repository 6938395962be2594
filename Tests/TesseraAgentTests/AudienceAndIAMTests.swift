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
}
