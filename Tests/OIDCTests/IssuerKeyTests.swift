import Foundation
import OIDC
import Testing

/// `IssuerKey`, the one rule for "the same issuer" (discovery, `iss`, the service's lookups).
@Suite struct IssuerKeyTests {
    static func key(_ text: String) throws -> IssuerKey { IssuerKey(try #require(URL(string: text))) }

    @Test(arguments: [
        ("https://idp.example.org/realms/egi", "https://idp.example.org/realms/egi/"),
        ("https://idp.example.org", "https://idp.example.org//"),
        ("https://IdP.Example.ORG/realms/egi", "https://idp.example.org/realms/egi"),
        ("HTTPS://idp.example.org:8443/x", "https://idp.example.org:8443/x/"),
    ])
    func sameIssuer(_ first: String, _ second: String) throws {
        #expect(try Self.key(first) == Self.key(second))
    }

    @Test(arguments: [
        ("https://idp.example.org/realms/EGI", "https://idp.example.org/realms/egi"),
        ("https://idp.example.org/realms/egi", "http://idp.example.org/realms/egi"),
        ("https://idp.example.org:8443", "https://idp.example.org"),
        ("https://idp.example.org/a", "https://idp.example.org/a/b"),
    ])
    func otherIssuer(_ first: String, _ second: String) throws {
        #expect(try Self.key(first) != Self.key(second))
    }
}
