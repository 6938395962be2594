import OIDCAgentProtocol
import Testing

/// `oidc-gen -p` output as oidc-agent 4.2.6 prints it for a client it registered (IAM mode of the
/// test provider): what the import keeps, and what it names as not kept.
@Suite struct AccountConfigurationTests {
    static let registered = """
        {"name": "wlcg", "client_name": "oidc-agent:wlcg-host", "issuer_url": "https://iam.example.org/",
         "device_authorization_endpoint": "https://iam.example.org/devicecode", "daeSetByUser": 0,
         "client_id": "c1", "client_secret": "s1", "refresh_token": "r1", "cert_path": "/etc/ssl/certs/ca-certificates.crt",
         "scope": "openid offline_access", "audience": "", "redirect_uris": ["http://localhost:8080", "edu.kit.data.oidc-agent:/redirect"],
         "username": "", "password": "", "grant_types": ["refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
         "token_endpoint_auth_method": "client_secret_basic", "registration_access_token": "rat",
         "registration_client_uri": "https://iam.example.org/iam/api/client-registration/c1"}
        """

    @Test func aRegisteredClientsConfigurationIsKeptWhole() throws {
        let configuration = try OIDCAgentAccountConfiguration(json: Self.registered)
        #expect(configuration.redirectURIs == ["http://localhost:8080", "edu.kit.data.oidc-agent:/redirect"])
        #expect(configuration.registrationAccessToken?.reveal() == "rat")
        #expect(configuration.registrationClientURI == "https://iam.example.org/iam/api/client-registration/c1")
        #expect(configuration.ignored.isEmpty, "\(configuration.ignored)")
    }

    @Test func whatIsNotKeptIsNamed() throws {
        let text = Self.registered
            .replacingOccurrences(of: #""username": """#, with: #""username": "alice""#)
            .replacingOccurrences(of: #""password": """#, with: #""password": "secret""#)
            .replacingOccurrences(of: #""daeSetByUser": 0"#, with: #""daeSetByUser": 1"#)
            .replacingOccurrences(of: "/etc/ssl/certs/ca-certificates.crt", with: "/home/u/lab-ca.pem")
        let configuration = try OIDCAgentAccountConfiguration(json: text)
        #expect(configuration.ignored == ["cert_path", "device_authorization_endpoint", "password", "username"])
        #expect(throws: (any Error).self) {
            try OIDCAgentAccountConfiguration(json: #"{"issuer_url": "https://x/", "client_id": "c", "redirect_uris": "http://x"}"#)
        }
    }
}
