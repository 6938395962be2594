// Provider answers: discovery documents (both well-known paths), token responses of every grant
// (with and without expires_in, so the JWT `exp` peek runs too), device authorization, dynamic
// registration, revocation, and error bodies at every status code.
import Foundation
import OIDC

let issuer = URL(string: "https://op.example/realm")!
let discovery = json("""
    {"issuer": "https://op.example/realm", "token_endpoint": "https://op.example/token",
     "device_authorization_endpoint": "https://op.example/device", "revocation_endpoint": "https://op.example/revoke",
     "registration_endpoint": "https://op.example/register", "authorization_endpoint": "https://op.example/auth"}
    """)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProvider(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let operation = input.byte() % 8
    let status = interestingStatuses[Int(input.byte()) % interestingStatuses.count]
    let confidential = input.byte() % 2 == 0
    let document = input.rest
    let answer = HTTPResponse(status: status, headers: ["content-type": "application/json"], body: document)
    runBlocking {
        let cache = ProviderMetadataCache()
        let credentials = confidential
            ? ClientCredentials(clientID: "c", authentication: .clientSecretBasic(SecretString("s3cret")))
            : .publicClient("c")
        func client(_ responses: [HTTPResponse]) -> OIDCClient {
            OIDCClient(issuer: issuer, credentials: credentials, audienceStyle: confidential ? .resource : .audience,
                       transport: ScriptedTransport(responses), cache: cache)
        }
        let known = HTTPResponse(status: 200, body: discovery)
        do {
            switch operation {
            case 0:
                // The fuzzed document as openid-configuration, or (after a 4xx) as RFC 8414 metadata.
                let first = status >= 400 && status < 500 ? HTTPResponse(status: 404) : answer
                _ = try await client([first, answer]).discover()
            case 1:
                _ = try await client([known, answer]).refresh(refreshToken: SecretString("rt-0123456789"),
                                                              scopes: ["openid"], audience: ["https://api.example"])
            case 2:
                _ = try await client([known, answer]).startDeviceAuthorization(scopes: ["openid"])
            case 3:
                var flow = DeviceAuthorization(deviceCode: SecretString("dc"), userCode: "U", 
                                               verificationURI: URL(string: "https://op.example/v")!,
                                               expiresAt: Date().addingTimeInterval(60))
                _ = try await client([known, answer]).requestDeviceToken(&flow)
            case 4:
                _ = try await client([known, answer]).deprecatedPasswordGrant(
                    username: "u", password: SecretString("pw-secret"), scopes: ["openid"])
            case 5:
                _ = try await OIDCClient.register(issuer: issuer, clientName: "tessera", scopes: ["openid"],
                                                  confidential: confidential,
                                                  transport: ScriptedTransport([known, answer]), cache: cache)
            case 6:
                try await client([known, answer]).revoke(SecretString("rt-0123456789"))
            default:
                // The discovery document itself answers the token request: exercises every field at once.
                _ = try await client([answer, answer]).refresh(refreshToken: SecretString("rt"))
            }
        } catch {
            // Every failure must be a typed OIDCError whose text can be built.
            _ = String(describing: error)
        }
    }
    return 0
}
