/// One connection's side of oidc-agent's protocol, free of sockets: bytes go in, and out come the
/// bytes to send, the request to answer, or an error that ends the connection.
///
/// Encrypted: the client's 44-byte public key → our public key → one `<len>:<nonce>:<cipher>`
/// request → one reply in the same form. Plaintext: a first message that is a JSON object is a
/// request and gets a plaintext reply (as the real agent does).
public struct Exchange {
    public enum Step {
        /// Nothing complete yet.
        case needMore
        /// Send these bytes (our public key, in one write), then keep reading.
        case send([UInt8])
        /// A whole request arrived (or a failure to answer at once, e.g. unknown JSON fields' types).
        case request(Result<AgentRequest, RequestError>)
    }

    public struct Limits: Sendable {
        /// Bytes a connection may send in all; a longer request closes it.
        public var maxRequestBytes: Int
        public init(maxRequestBytes: Int = 64 * 1024) { self.maxRequestBytes = maxRequestBytes }
    }

    private enum Phase {
        case start
        case plaintext
        case encrypted
        case answered
    }

    private var phase = Phase.start
    /// Set by the key exchange and kept after the request is read: the reply needs it.
    private var key: SessionKey?
    private var received: [UInt8] = []
    private let limits: Limits

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Whether the peer's request is still being read.
    public var isReading: Bool {
        if case .answered = phase { return false }
        return true
    }

    /// Takes newly read bytes. Throws for anything that is not oidc-agent's protocol; the caller
    /// then closes the connection without an answer.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer) throws(ProtocolError) -> Step {
        guard isReading else { return .needMore }
        guard received.count + bytes.count <= limits.maxRequestBytes else { throw .tooLarge(limits.maxRequestBytes) }
        received += bytes
        return try advance()
    }

    private mutating func advance() throws(ProtocolError) -> Step {
        switch phase {
        case .start:
            guard let first = received.first else { return .needMore }
            if first == UInt8(ascii: "{") {
                phase = .plaintext
                return try advance()
            }
            guard received.count >= PublicKey.encodedCount else { return .needMore }
            let peer = try PublicKey(base64: received[..<PublicKey.encodedCount])
            let own = try KeyPair()
            key = try SessionKey(peer: peer, own: own)
            phase = .encrypted
            received.removeFirst(PublicKey.encodedCount)
            return .send(own.publicKey.base64)
        case .plaintext:
            // Parsed only once the object could be complete, so a slow sender costs one parse.
            guard received.last(where: { !Self.isSpace($0) }) == UInt8(ascii: "}") else { return .needMore }
            let result = received.withUnsafeBytes { bytes in
                Result { () throws(RequestError) -> AgentRequest in try AgentRequest(json: bytes) }
            }
            if case .failure = result, received.count < limits.maxRequestBytes, !Self.isWholeJSON(received) {
                return .needMore // a '}' inside a string, not the end
            }
            phase = .answered
            return .request(result)
        case .encrypted:
            guard let key else { return .needMore }
            let maxPlaintext = limits.maxRequestBytes
            guard let length = try EncryptedFrame.completeLength(received[...], maxPlaintext: maxPlaintext) else {
                return .needMore
            }
            guard length <= limits.maxRequestBytes else { throw .tooLarge(limits.maxRequestBytes) }
            guard received.count >= length else { return .needMore }
            let plaintext = try key.open(received[..<length], maxPlaintext: maxPlaintext)
            phase = .answered
            return .request(plaintext.withBytes { bytes in
                Result { () throws(RequestError) -> AgentRequest in try AgentRequest(json: bytes) }
            })
        case .answered:
            return .needMore
        }
    }

    /// The bytes of a reply: encrypted with this exchange's key, or plaintext JSON for a plaintext
    /// request. One buffer, to be sent in one write.
    public func reply(_ reply: AgentReply) -> [UInt8] {
        let json = reply.json
        return json.withBytes { bytes in
            if let key { return key.seal(bytes) }
            return Array(bytes)
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 || byte == 0
    }

    /// Whether the braces balance outside strings: a failed parse of a balanced object is a bad
    /// request to answer, an unbalanced one may still be arriving.
    private static func isWholeJSON(_ bytes: [UInt8]) -> Bool {
        var depth = 0, inString = false, escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return depth <= 0
    }
}
