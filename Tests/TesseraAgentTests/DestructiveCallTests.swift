import Foundation
import TestSupport
import Testing

/// Issue 12, item 8: a destructive call names the account it destroys.
@Suite(.serialized, .exclusiveSession) struct DestructiveCallTests {
    @Test func revokeAndRemoveAccountTakeAnAccountNameNotAnIssuer() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        try await world.login()
        let token = try #require(try await world.storedRefreshToken())
        let issuer = world.provider.issuer.absoluteString

        let revoke = try await world.call("Revoke", issuer, "{}")
        #expect(AgentWorld.errorName(revoke) == "InvalidArgument")
        #expect(revoke.stderr.contains("account name"))
        let remove = try await world.call("RemoveAccount", issuer, "{'revoke': <false>}")
        #expect(AgentWorld.errorName(remove) == "InvalidArgument")
        #expect(try await world.storedRefreshToken() == token)
        #expect(try await world.listedAccounts().contains(world.account))

        // Reading a token by issuer still works: it destroys nothing.
        _ = try await world.token("{}", account: issuer)
        try await world.check("Revoke", world.account, "{}")
        #expect(try await world.storedRefreshToken() == nil)
    }
}
