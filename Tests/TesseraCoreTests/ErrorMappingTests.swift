import Keyring
import OIDC
import TesseraNames
import Testing
@testable import TesseraCore

/// Every case of every error the service gets from below, walked to the wire name it answers with.
/// The expected names are written out here, independently of `SourceErrors.swift`, so a wrong
/// mapping fails; each sample list covers every case (the `coverage` switches make the compiler
/// ask for a new sample when a case is added).
@Suite struct ErrorMappingTests {
    static let keyring: [(KeyringError, AgentErrorName)] = [
        (.locked, .keyringLocked),
        (.unavailable("no Secret Service"), .keyringUnavailable),
        (.noDefaultCollection, .keyringUnavailable),
        (.permissionDenied("denied"), .notPermitted),
        (.timeout(.seconds(25)), .timeout),
        (.cancelled, .cancelled),
        (.invalidArgument("bad"), .invalidArgument),
        (.other("odd"), .keyringUnavailable),
    ]

    static let oidc: [(OIDCError, AgentError.Asking, AgentErrorName)] = [
        (.authorizationPending, .request, .provider),
        (.slowDown, .request, .provider),
        (.expiredToken, .request, .expiredToken),
        (.accessDenied(description: nil), .request, .accessDenied),
        (.invalidGrant(description: "gone"), .request, .loginRequired),
        (.invalidGrant(description: nil), .deviceLogin, .expiredToken),
        (.invalidGrant(description: "wrong password"), .passwordLogin, .accessDenied),
        (.invalidClient(description: "unknown client"), .request, .provider),
        (.invalidScope(description: nil), .request, .provider),
        (.invalidTarget(description: nil), .request, .provider),
        (.unauthorizedClient(description: nil), .request, .provider),
        (.unauthorizedClient(description: nil), .passwordLogin, .provider),
        (.server(status: 503, error: nil, description: nil), .request, .provider),
        (.transport(.timedOut(url: "https://op.example", seconds: 15)), .request, .network),
        (.transport(.cannotConnect(url: "https://op.example", reason: "refused")), .request, .network),
        (.transport(.redirectRefused(url: "https://op.example", status: 302, location: nil)), .request, .provider),
        (.transport(.bodyTooLarge(url: "https://op.example", limit: 1 << 20)), .request, .provider),
        (.transport(.failed(url: "https://op.example", reason: "reset")), .request, .network),
        (.malformedResponse("no access_token"), .request, .provider),
        (.insecureURL("http://op.example"), .request, .invalidArgument),
        (.issuerMismatch(expected: "https://a", found: "https://b"), .request, .provider),
        (.unsupported("the device flow"), .request, .provider),
        (.cancelled, .request, .cancelled),
        (.stateMismatch, .request, .provider),
        (.loginTimedOut(seconds: 600), .request, .timeout),
    ]

    static let mytoken: [(MytokenError, String?, AgentErrorName)] = [
        (.invalidTimeValue("+3x"), nil, .invalidArgument),
        (.invalidRestriction("not JSON"), nil, .invalidArgument),
        (.invalidArgument("empty"), nil, .invalidArgument),
        (.invalidToken(description: "expired"), nil, .provider),
        (.invalidToken(description: "expired"), "mt", .loginRequired),
        (.expiredCode(description: nil), nil, .provider),
        (.expiredCode(description: nil), "mt", .expiredToken),
        (.accessDenied(description: nil), "mt", .accessDenied),
        (.usageRestricted(description: nil), "mt", .notPermitted),
        (.insufficientCapabilities(description: nil), "mt", .notPermitted),
        (.provider(error: "invalid_scope", description: nil), "mt", .provider),
        (.unknownTemplate(description: "unknown include name: 'x'"), nil, .provider),
        (.server(status: 500, error: "internal_server_error", description: nil), "mt", .provider),
        (.loginExpired, "mt", .expiredToken),
        (.cancelled, "mt", .cancelled),
        (.unsupported("transfer codes"), nil, .provider),
        (.network("refused"), "mt", .network),
        (.invalidResponse("not JSON"), "mt", .provider),
    ]

    @Test func everyKeyringErrorHasItsWireName() {
        for (error, expected) in Self.keyring {
            #expect(AgentError(error).name == expected, "\(error)")
            Self.coverage(error)
        }
    }

    @Test func everyOIDCErrorHasItsWireName() {
        for (error, asking, expected) in Self.oidc {
            #expect(AgentError(error, account: "acct", asking: asking).name == expected, "\(error) asking \(asking)")
            Self.coverage(error)
        }
    }

    @Test func everyMytokenErrorHasItsWireName() {
        for (error, account, expected) in Self.mytoken {
            #expect(AgentError(error, account: account).name == expected, "\(error) for \(account ?? "a passed token")")
            Self.coverage(error)
        }
    }

    @Test func accountFileErrorsAreNotPermitted() {
        #expect(AgentError(AccountFileError.writeFailed(file: "/x/accounts.json", reason: "read-only")).name == .notPermitted)
    }

    /// The advice is attached once, by the error table: every message says what to do, and no
    /// message says it twice.
    @Test func messagesCarryTheirAdviceOnce() {
        let samples: [AgentError] = [
            .noSuchAccount("x"), .loginRequired(account: "x", reason: "\"x\" is not logged in"), .accessDenied(account: "x"),
            .expiredToken(account: "x"), .network("refused"), .keyringLocked("locked"), .keyringUnavailable("none"),
        ]
        for error in samples {
            let advice = error.advice ?? ""
            #expect(!advice.isEmpty, "\(error.name): no advice")
            #expect(error.message.hasSuffix("; " + advice), "\(error.message)")
            #expect(error.message.components(separatedBy: advice).count == 2, "\(error.message)")
        }
        #expect(AgentError.loginRequired(account: "wlcg", reason: "r").message == "r; log in with `tessera login wlcg`")
        #expect(AgentError.noSuchAccount("x").message.contains("tessera account list"))
        // A refused password names its own way out, and nothing else is added.
        let password = AgentError(OIDCError.invalidGrant(description: nil), account: "x", asking: .passwordLogin)
        #expect(password.message.hasSuffix("run `tessera login x --password` again"))
    }

    // The compiler checks these switches: a new case needs a sample above (and a decision).
    static func coverage(_ error: KeyringError) {
        switch error {
        case .locked, .unavailable, .noDefaultCollection, .permissionDenied, .timeout, .cancelled, .invalidArgument, .other: break
        }
    }

    static func coverage(_ error: OIDCError) {
        switch error {
        case .authorizationPending, .slowDown, .expiredToken, .accessDenied, .invalidGrant, .invalidClient, .invalidScope,
             .invalidTarget, .unauthorizedClient, .server, .transport, .malformedResponse, .insecureURL, .issuerMismatch,
             .unsupported, .cancelled, .stateMismatch, .loginTimedOut: break
        }
    }

    static func coverage(_ error: MytokenError) {
        switch error {
        case .invalidTimeValue, .invalidRestriction, .invalidArgument, .invalidToken, .expiredCode, .accessDenied,
             .usageRestricted, .insufficientCapabilities, .provider, .unknownTemplate, .server, .loginExpired, .cancelled, .unsupported,
             .network, .invalidResponse: break
        }
    }
}
