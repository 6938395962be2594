import Foundation
@testable import OIDC
import Secrets
import TestSupport
import Testing

/// Crashers `make fuzz` found in the mytoken client (fuzz/crashes): a number from the server is
/// untrusted and must never trap.
@Suite struct MytokenNumberTests {
    @Test func hugeNegativeAndFractionalSecondsNeverTrap() async throws {
        let server = try await MytokenServer.start()
        let configuration = try await MytokenClientTests.client(server).configuration
        let cases: [(String, Int?)] = [
            ("1e+30", MytokenClient.maximumSeconds),           // fuzz/crashes/mytoken-crash-2a4151c0…
            ("9223372036000000000", MytokenClient.maximumSeconds),
            ("-5", nil),
            ("3600.9", 3600),
            ("\"soon\"", nil),
        ]
        for (raw, expected) in cases {
            let client = MytokenClient(configuration: configuration, transport: MytokenClientTests.CannedTransport(
                status: 200, body: #"{"access_token": "at", "expires_in": \#(raw)}"#))
            let token = try await client.accessToken(mytoken: Secret("mt"))
            #expect(token.expiresIn == expected, "expires_in \(raw)")
            // What tesserad does with it: Unix seconds of the expiry.
            _ = Int64(Date().timeIntervalSince1970) + Int64(token.expiresIn ?? 0)
            let login = MytokenClient(configuration: configuration, transport: MytokenClientTests.CannedTransport(
                status: 200, body: #"{"consent_uri": "https://m.example/c", "polling_code": "pc", "expires_in": \#(raw), "interval": \#(raw)}"#))
            let started = try await login.startLogin(oidcIssuer: "https://op.example")
            #expect(started.expiresIn <= MytokenClient.maximumSeconds && started.interval <= MytokenClient.maximumSeconds)
        }
    }
}
