import Testing
@testable import TesseraCore

/// `Validate.isLoopback` used to take any host starting with "127." (so `127.evil.example`, a DNS
/// name anyone can register under, got plain http); the service and its OIDC client now share one
/// rule (`URLPolicy.isLoopback`): numeric forms mean what the resolver makes of them (`127.1` is
/// 127.0.0.1), names must be exactly `localhost`.
@Suite struct ValidateTests {
    @Test(arguments: [
        ("127.0.0.1", true), ("127.1.2.3", true), ("[::1]", true), ("::1", true), ("localhost", true), ("LOCALHOST", true),
        ("127.1", true), ("127.evil.example", false), ("localhost.evil.example", false), ("128.0.0.1", false),
        ("127.0.0.256", false), ("evil.example", false),
    ])
    func loopbackHosts(host: String, loopback: Bool) {
        #expect(Validate.isLoopback(host) == loopback, "\(host)")
    }

    @Test func plainHTTPOnlyToLoopback() throws {
        #expect(try Validate.serverURL("http://127.0.0.1:8000/o", field: "issuer").host == "127.0.0.1")
        #expect(try Validate.serverURL("http://[::1]:8000/o", field: "issuer").port == 8000)
        #expect(try Validate.serverURL("http://127.1/", field: "issuer").host == "127.1")
        for text in ["http://127.evil.example/", "http://localhost.evil.example/", "http://127.0.0.256/"] {
            #expect(throws: AgentError.self, "\(text)") { try Validate.serverURL(text, field: "issuer") }
        }
        #expect(try Validate.serverURL("https://127.evil.example/", field: "issuer").scheme == "https")
    }
}
