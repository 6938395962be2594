// The unverified JWT payload peek (`exp` of an access token when expires_in is absent), reached
// both directly and through a token response that omits expires_in.
import Foundation
@testable import OIDC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWT(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let wrap = input.byte() % 3
    let bytes = input.rest
    let token: String
    switch wrap {
    case 0:
        // The bytes as the whole token.
        token = String(decoding: bytes, as: UTF8.self)
    case 1:
        // The bytes as a payload (any JSON), base64url-encoded between two fixed segments.
        let payload = bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        token = "eyJhbGciOiJSUzI1NiJ9.\(payload).c2ln"
    default:
        // A payload of {"exp": <bytes as text>}.
        let payload = Data("{\"exp\": \(String(decoding: bytes, as: UTF8.self))}".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        token = "eyJhbGciOiJSUzI1NiJ9.\(payload).c2ln"
    }
    _ = JWT.expiry(of: SecretString(token))
    let body: [String: Any] = ["access_token": token, "token_type": "Bearer"]
    if let document = try? JSONSerialization.data(withJSONObject: body),
       let fields = try? JSONFields(document, context: "fuzz") {
        if let response = try? TokenResponse(fields, receivedAt: Date()) {
            _ = response.expiresAt
            _ = response.description
        }
    }
    return 0
}
