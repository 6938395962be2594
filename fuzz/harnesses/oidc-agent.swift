// oidc-agent's client protocol as the compatibility socket reads it from any local process:
// request JSON, the plaintext and encrypted exchanges fed in fuzzed chunks, the frame header,
// and an encrypted request built as a real client would (so the decrypted JSON is fuzzed too).
import Foundation
import OIDCAgentProtocol

/// Feeds `bytes` in chunks of `chunk` bytes until the exchange answers, asks to send, or fails.
func feed(_ exchange: inout Exchange, _ bytes: [UInt8], chunk: Int) -> Exchange.Step? {
    var offset = 0
    var last: Exchange.Step?
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunk)
        do {
            last = try bytes[offset..<end].withUnsafeBytes { try exchange.receive($0) }
        } catch {
            return nil
        }
        offset = end
        if case .request(let result)? = last {
            if case .success(let request) = result { _ = exchange.reply(.failure(error: "fuzz", info: "\(request)")) }
            return last
        }
    }
    return last
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOIDCAgent(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let mode = input.byte() % 4
    let chunk = Int(input.byte() % 64) + 1
    let bytes = input.restBytes
    switch mode {
    case 0:
        _ = bytes.withUnsafeBytes { try? AgentRequest(json: $0) }
    case 1:
        var exchange = Exchange(limits: .init(maxRequestBytes: 4096))
        _ = feed(&exchange, bytes, chunk: chunk)
    case 2:
        _ = try? EncryptedFrame.completeLength(bytes[...], maxPlaintext: 4096)
    default:
        // A client that speaks the protocol correctly, carrying the fuzzed request.
        guard let client = try? KeyPair() else { return 0 }
        var exchange = Exchange(limits: .init(maxRequestBytes: 8192))
        guard case .send(let agentKey)? = feed(&exchange, client.publicKey.base64, chunk: chunk),
              let peer = try? PublicKey(base64: agentKey[...]),
              let session = try? SessionKey(peer: peer, own: client)
        else { preconditionFailure("the key exchange failed for a well-formed client key") }
        let frame = bytes.withUnsafeBytes { session.seal($0) }
        _ = feed(&exchange, frame, chunk: chunk)
    }
    return 0
}
