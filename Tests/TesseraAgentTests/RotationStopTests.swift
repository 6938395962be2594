import Foundation
import TestSupport
import Testing

/// Issue 12, item 6: a clean stop never drops a rotated refresh token the provider has already
/// answered with, and a clean stop is not reported as a takeover.
@Suite(.serialized, .exclusiveSession) struct RotationStopTests {
    /// A rotating provider whose refresh answers arrive 1.5 s after it has rotated, and a
    /// logged-in account; returns the refresh token in the keyring.
    static func slowRotation() async throws -> (AgentWorld, String) {
        let world = try await AgentWorld(.init(rotateRefreshTokens: true, refreshTokenReuseProtection: true), ownProvider: true)
        try await world.addAccount()
        try await world.login()
        let token = try #require(try await world.storedRefreshToken())
        try await world.provider.setRefreshAnswerDelay(milliseconds: 1500)
        return (world, token)
    }

    /// Starts a forced refresh through gdbus and returns once the provider has rotated (its answer
    /// still on the way).
    static func refreshUntilRotated(_ world: AgentWorld) async throws -> Task<CommandResult?, Never> {
        let answered = try await world.provider.stats().refreshesAnswered
        let environment = world.environment
        let account = world.account
        let call = Task {
            try? await Command.run(
                "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                          "--method", "io.tessera.Agent1.GetToken", account, "{'force': <true>}"],
                environment: environment, timeout: .seconds(30))
        }
        try await eventually("the provider rotated the refresh token") {
            try await world.provider.stats().refreshesAnswered > answered
        }
        return call
    }

    @Test func sigtermWaitsForARotationInFlight() async throws {
        let (world, before) = try await Self.slowRotation()
        let call = try await Self.refreshUntilRotated(world)
        world.agent.stop(signal: SIGTERM)  // SIGKILL after 3 s: the answer comes 1.5 s after the rotation
        _ = await call.value
        let after = try #require(try await world.storedRefreshToken())
        #expect(after != before)
        #expect(world.agent.log().contains("waiting for 1 refresh(es) in flight"))
        try await world.provider.setRefreshAnswerDelay(milliseconds: 0)
        try await world.restartAgent()
        let token = try await world.token("{'force': <true>}")
        #expect(try await world.provider.tokenInfo(accessToken: token.value).active)
    }

    @Test func replaceWaitsForARotationInFlight() async throws {
        let (world, before) = try await Self.slowRotation()
        let call = try await Self.refreshUntilRotated(world)
        let old = world.agent!
        world.agent = try await AgentProcess(environment: world.environment, logPath: "\(world.directory)/replacement.log",
                                             arguments: ["--replace"])
        try await eventually("the replaced tesserad exits") { !old.process.isRunning }
        _ = await call.value
        #expect(old.log().contains("took over"))
        #expect(try await world.storedRefreshToken() != before)
        try await world.provider.setRefreshAnswerDelay(milliseconds: 0)
        let token = try await world.token("{'force': <true>}")
        #expect(try await world.provider.tokenInfo(accessToken: token.value).active)
    }

    @Test func aCleanStopIsNotCalledATakeover() async throws {
        let world = try await AgentWorld()
        world.agent.stop(signal: SIGTERM)
        let log = world.agent.log()
        #expect(log.contains("stopping"))
        #expect(!log.contains("took over"))
    }
}
