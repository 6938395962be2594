import Foundation
import OIDC
@testable import OIDCAgentProtocol
import Secrets
import Testing

/// Requests as oidc-agent's clients send them, replies in the shapes they parse.
@Suite struct MessageTests {
    func parse(_ json: String) throws(RequestError) -> AgentRequest {
        let bytes = Array(json.utf8)
        return try bytes.withUnsafeBytes { raw in Result { () throws(RequestError) -> AgentRequest in try AgentRequest(json: raw) } }.get()
    }

    func text(_ reply: AgentReply) -> String { reply.json.withBytes { String(decoding: $0, as: UTF8.self) } }

    func object(_ reply: AgentReply) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text(reply).utf8)) as? [String: Any])
    }

    @Test func accessTokenByAccountWithEveryField() throws {
        // What oidc-token 4.2.6 sends for `oidc-token -t 600 -s "openid read" --aud "a b" --name app work`,
        // plus the Go library's extra key (ignored).
        let request = try parse(#"{"request":"access_token","account":"work","min_valid_period":600,"scope":"openid read","#
            + #""application_hint":"app","audience":"a b","mytoken_profile":""}"#)
        #expect(request == .accessToken(AccessTokenRequest(selector: .account("work"), minValidPeriod: 600,
                                                           scopes: ["openid", "read"], audience: ["a", "b"],
                                                           applicationHint: "app")))
    }

    @Test func accessTokenByIssuerForceAndDefaults() throws {
        guard case .accessToken(let request) = try parse(#"{"request":"access_token","issuer":"https://op.example/","min_valid_period":-1,"scope":""}"#) else {
            Issue.record("not an access token request")
            return
        }
        #expect(request.selector == .issuer("https://op.example/"))
        #expect(request.force)
        #expect(request.scopes == nil) // "" means the account's own scopes
        guard case .accessToken(let plain) = try parse(#"{"request":"access_token","account":"a"}"#) else { return }
        #expect(plain.minValidPeriod == nil && !plain.force)
        guard case .accessToken(let big) = try parse(#"{"request":"access_token","account":"a","min_valid_period":"604800"}"#) else { return }
        #expect(big.minValidPeriod == 604_800)
    }

    @Test func otherRequestTypes() throws {
        #expect(try parse(#"{"request":"check"}"#) == .check)
        #expect(try parse(#"{"request":"loaded_accounts","extra":[1,2]}"#) == .loadedAccounts)
        #expect(try parse(#"{"request":"account_info"}"#) == .accountInfo)
        #expect(try parse(#"{"request":"id_token","account":"work","application_hint":"x"}"#)
            == .idToken(IDTokenRequest(selector: .account("work"), scopes: nil, applicationHint: "x")))
        #expect(try parse(#"{"request":"add","config":"{}"}"#) == .unknown("add"))
    }

    @Test func badRequestsAreFailuresNotCrashes() {
        for body in [#"[1]"#, #"{"#, #"{"request":5}"#, #"{"account":"a"}"#, #"{"request":"access_token"}"#,
                     #"{"request":"access_token","account":"a","min_valid_period":1.5}"#,
                     #"{"request":"access_token","account":["a"]}"#, "",
                     #"{"request":"access_token","account":"\#(String(repeating: "x", count: 5000))"}"#] {
            #expect(throws: RequestError.self, "\(body.prefix(60))") { _ = try parse(body) }
        }
    }

    @Test func replyShapes() throws {
        let token = try object(.accessToken(Secret("eyJ.a\"b"), issuer: "https://op/", expiresAt: 1_700_000_000))
        #expect(token["status"] as? String == "success")
        #expect(token["access_token"] as? String == "eyJ.a\"b")
        #expect(token["issuer"] as? String == "https://op/")
        #expect(token["expires_at"] as? Int == 1_700_000_000)
        #expect(text(.success) == #"{"status":"success"}"#)
        #expect(text(.loadedAccounts(["a", "b"])) == #"{"status":"success","info":["a","b"]}"#)
        #expect(text(.accountInfo([(issuer: "https://op/", accounts: ["a"])]))
            == #"{"status":"success","info":{"https://op/":{"pubclient":false,"accounts":{"a":true}}}}"#)
        #expect(text(.unknownRequest) == #"{"status":"failure","error":"Bad Request: Unknown request type."}"#)
        let failure = try object(.failure(error: "no account named \"x\"\n", info: "add it"))
        #expect(failure["error"] as? String == "no account named \"x\"\n")
        #expect(failure["info"] as? String == "add it")
        let id = try object(.idToken(Secret("id"), issuer: "https://op/"))
        #expect(id["id_token"] as? String == "id")
    }

    @Test func repliesNeverPrintTheirToken() {
        let reply = AgentReply.accessToken(Secret("SECRET-TOKEN"), issuer: "https://op/", expiresAt: 1)
        #expect(!"\(reply)".contains("SECRET-TOKEN"))
        #expect(!String(reflecting: reply).contains("SECRET-TOKEN"))
    }
}

/// The encrypted exchange, both ends driven here.
@Suite struct CryptoTests {
    /// A client's side built from the same primitives, to drive `Exchange` directly.
    struct Client {
        let pair = try! KeyPair()
        func key(_ serverKey: [UInt8]) throws -> SessionKey {
            try SessionKey(peer: PublicKey(base64: serverKey[...]), own: pair)
        }
    }

    func feed(_ exchange: inout Exchange, _ bytes: [UInt8]) throws -> Exchange.Step {
        try bytes.withUnsafeBytes { raw in try exchange.receive(raw) }
    }

    @Test func wholeExchangeInPieces() throws {
        var exchange = Exchange()
        let client = Client()
        let publicKey = client.pair.publicKey.base64
        #expect(publicKey.count == 44)
        // The key arriving in two pieces.
        guard case .needMore = try feed(&exchange, Array(publicKey[..<20])) else { Issue.record("early step"); return }
        guard case .send(let serverKey) = try feed(&exchange, Array(publicKey[20...])) else { Issue.record("no key"); return }
        #expect(serverKey.count == 44)
        let key = try client.key(serverKey)
        let request = Array(#"{"request":"check"}"#.utf8)
        let frame = request.withUnsafeBytes { key.seal($0) }
        #expect(try EncryptedFrame.completeLength(frame[...], maxPlaintext: 1000) == frame.count)
        // Byte by byte: only the last byte completes it.
        for byte in frame.dropLast() {
            guard case .needMore = try feed(&exchange, [byte]) else { Issue.record("completed early"); return }
        }
        guard case .request(.success(.check)) = try feed(&exchange, [frame.last!]) else { Issue.record("no request"); return }
        let reply = exchange.reply(.success)
        let opened = try key.open(reply[...], maxPlaintext: 1000)
        #expect(opened.withBytes { String(decoding: $0, as: UTF8.self) } == #"{"status":"success"}"#)
    }

    @Test func tamperedOrForeignMessagesAreRefused() throws {
        var exchange = Exchange()
        let client = Client()
        guard case .send(let serverKey) = try feed(&exchange, client.pair.publicKey.base64) else { return }
        // Sealed with another session's key: right shape, wrong MAC.
        let stranger = try Client().key(serverKey)
        let frame = Array(#"{"request":"check"}"#.utf8).withUnsafeBytes { stranger.seal($0) }
        #expect(throws: ProtocolError.decryption) { _ = try feed(&exchange, frame) }

        var flipped = Exchange()
        guard case .send(let key2) = try feed(&flipped, client.pair.publicKey.base64) else { return }
        var good = Array(#"{"request":"check"}"#.utf8).withUnsafeBytes { try! client.key(key2).seal($0) }
        good[good.count - 3] = good[good.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: ProtocolError.self) { _ = try feed(&flipped, good) }
    }

    @Test func garbageAndHugeFramesEndTheConnection() throws {
        var garbage = Exchange()
        #expect(throws: ProtocolError.self) { _ = try feed(&garbage, Array(String(repeating: "!", count: 44).utf8)) }
        // A low-order X25519 point (all zeros) gives no usable key.
        var zero = Exchange()
        #expect(throws: ProtocolError.self) { _ = try feed(&zero, Array("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".utf8)) }
        var huge = Exchange()
        let client = Client()
        _ = try feed(&huge, client.pair.publicKey.base64)
        #expect(throws: ProtocolError.tooLarge(64 * 1024)) { _ = try feed(&huge, Array("99999999:".utf8)) }
        var notLength = Exchange()
        _ = try feed(&notLength, client.pair.publicKey.base64)
        #expect(throws: ProtocolError.self) { _ = try feed(&notLength, Array("12a:".utf8)) }
        var flood = Exchange()
        #expect(throws: ProtocolError.tooLarge(64 * 1024)) {
            _ = try feed(&flood, Array(repeating: UInt8(ascii: "{"), count: 70 * 1024))
        }
    }

    @Test func plaintextRequestGetsPlaintextReply() throws {
        var exchange = Exchange()
        guard case .needMore = try feed(&exchange, Array(#"{"request":"check","x":"}"#.utf8)) else {
            Issue.record("a '}' inside a string ended the request")
            return
        }
        guard case .request(.success(.check)) = try feed(&exchange, Array(#""}"#.utf8)) else { Issue.record("no request"); return }
        #expect(String(decoding: exchange.reply(.success), as: UTF8.self) == #"{"status":"success"}"#)
        var bad = Exchange()
        guard case .request(.failure) = try feed(&bad, Array(#"{"request":}"#.utf8)) else { Issue.record("not a failure"); return }
    }
}
