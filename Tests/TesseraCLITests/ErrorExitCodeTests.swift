import DBus
import TesseraAPI
import Testing
@testable import TesseraCLI

/// The CLI's half of the error path: every wire error name, and every D-Bus failure the client can
/// meet, to the exit code a script sees (DESIGN: 1 runtime, 2 usage, 3 login required, 4 service
/// not reachable). The expected codes are written out here, apart from `AgentClient.translate`,
/// so a wrong mapping fails; `coverage` makes the compiler ask for a row when a name is added.
@Suite struct ErrorExitCodeTests {
    static let agentErrors: [(AgentErrorName, Int32)] = [
        (.noSuchAccount, 1), (.invalidArgument, 2), (.loginRequired, 3), (.accessDenied, 1), (.expiredToken, 1),
        (.provider, 1), (.network, 1), (.keyringLocked, 1), (.keyringUnavailable, 1), (.cancelled, 1),
        (.notPermitted, 1), (.timeout, 1),
    ]

    static let busErrors: [(DBusError, Int32)] = [
        (.remote(name: .serviceUnknown, message: "no tesserad"), 4),
        (.remote(name: .nameHasNoOwner, message: "no owner"), 4),
        (.remote(name: "org.freedesktop.DBus.Error.NoServer", message: "no server"), 4),
        (.remote(name: "org.freedesktop.DBus.Error.Spawn.ChildExited", message: "exited"), 4),
        (.remote(name: .noReply, message: "late"), 1),
        (.remote(name: .unknownMethod, message: "old service"), 1),
        (.remote(name: "org.example.Other", message: "odd"), 1),
        (.remote(name: ErrorName(stringLiteral: AgentErrorName.loginRequired.wireName), message: "log in"), 3),
        (.remote(name: ErrorName(stringLiteral: AgentErrorName.invalidArgument.wireName), message: "bad"), 2),
        (.connectionFailed("no bus"), 4),
        (.disconnected, 4),
        (.cancelled, 130),
        (.invalidValue("odd"), 1),
    ]

    @Test func everyWireErrorNameHasItsExitCode() {
        for (name, expected) in Self.agentErrors {
            Self.coverage(name)
            #expect(AgentClient.translate(name, message: "m", account: "a").exitCode == expected, "\(name)")
            // The name alone decides, whatever the message says.
            #expect(AgentClient.translate(name, message: "log in with `tessera login a`", account: "a").exitCode == expected)
        }
        #expect(Set(Self.agentErrors.map(\.0)) == Set(AgentErrorName.allCases))
    }

    @Test func everyBusFailureHasItsExitCode() {
        for (error, expected) in Self.busErrors {
            #expect(AgentClient.translate(error, member: "GetToken", account: "a").exitCode == expected, "\(error)")
        }
    }

    static func coverage(_ name: AgentErrorName) {
        switch name {
        case .noSuchAccount, .invalidArgument, .loginRequired, .accessDenied, .expiredToken, .provider, .network,
             .keyringLocked, .keyringUnavailable, .cancelled, .notPermitted, .timeout: break
        }
    }
}
