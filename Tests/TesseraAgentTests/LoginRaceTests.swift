import Foundation
import TestSupport
import Testing

/// Regression tests for races between concurrent calls about one account's login.
@Suite(.serialized, .exclusiveSession) struct LoginRaceTests {
    /// StartBrowserLogin used to look for a pending browser login without the account's login
    /// lock and then await the keyring and the provider, so two calls at once could each bind a
    /// listener, export a flow object and open a browser. Both calls must get the one login.
    @Test func concurrentBrowserLoginsShareOneLogin() async throws {
        let world = try await AgentWorld()
        for round in 0..<3 {
            let name = "\(world.account)-\(round)"
            try await world.addAccount(name)
            let environment = world.environment
            let call = ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                        "--method", "io.tessera.Agent1.StartBrowserLogin", name, "{'open': <false>}"]
            async let first = Command.run("gdbus", call, environment: environment)
            async let second = Command.run("gdbus", call, environment: environment)
            let replies = try await [first, second].map(\.stdout)
            let paths = replies.map { AgentWorld.capture(#"objectpath '([^']+)'"#, in: $0) }
            #expect(paths[0] != nil && paths[0] == paths[1], "round \(round): \(replies)")
        }
    }
}
