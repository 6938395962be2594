// Mytoken server answers: the discovery document, access tokens (with token_update rotation),
// sub-mytokens (restrictions, capabilities, rotation), transfer codes, logins and polls, revocation.
import Foundation
@testable import OIDC

let server = URL(string: "https://mytoken.example/")!
let configurationDocument = json("""
    {"issuer": "https://mytoken.example", "access_token_endpoint": "https://mytoken.example/at",
     "mytoken_endpoint": "https://mytoken.example/mt", "revocation_endpoint": "https://mytoken.example/rev",
     "token_transfer_endpoint": "https://mytoken.example/tt", "providers_supported": [{"issuer": "https://op.example"}]}
    """)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMytoken(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let operation = input.byte() % 8
    let status = interestingStatuses[Int(input.byte()) % interestingStatuses.count]
    let answer = HTTPResponse(status: status, headers: ["content-type": "application/json"], body: input.rest)
    runBlocking {
        let mytoken = SecretString("mt-0123456789")
        do {
            if operation == 0 {
                let client = try await MytokenClient.discover(server: server, transport: ScriptedTransport([answer]))
                _ = client.configuration
                return
            }
            let client = try await MytokenClient.discover(
                server: server, transport: ScriptedTransport([HTTPResponse(status: 200, body: configurationDocument), answer]))
            switch operation {
            case 1:
                let token = try await client.accessToken(mytoken: mytoken, scopes: ["openid"], audiences: ["a"])
                _ = (token.expiresIn, token.scopes, token.audiences, token.rotatedMytoken?.description)
            case 2:
                let issued = try await client.createMytoken(from: mytoken, MytokenRequest())
                _ = String(describing: issued)
            case 3:
                _ = try await client.createTransferCode(for: mytoken)
            case 4:
                _ = try await client.exchange(transferCode: SecretString("tc"))
            case 5:
                let login = try await client.startLogin(oidcIssuer: "https://op.example")
                _ = (login.expiresIn, login.interval)
            case 6:
                let login = MytokenLogin(consentURI: server, pollingCode: SecretString("pc"), expiresIn: 300, interval: 5)
                _ = try await client.poll(login)
            default:
                try await client.revoke(mytoken, recursive: true)
            }
        } catch {
            _ = String(describing: error)
        }
    }
    return 0
}
