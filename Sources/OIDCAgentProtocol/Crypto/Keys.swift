import CSodium

/// An X25519 public key as oidc-agent sends it: 32 bytes, standard base64 with padding, exactly
/// 44 ASCII bytes and no terminator.
public struct PublicKey: Sendable, Equatable {
    public static let byteCount = Int(crypto_box_PUBLICKEYBYTES)
    /// The length of the base64 form on the wire.
    public static let encodedCount = 44

    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(ProtocolError) {
        guard bytes.count == Self.byteCount else { throw .malformed("a public key has \(Self.byteCount) bytes") }
        self.bytes = bytes
    }

    /// Parses the 44-byte base64 form.
    public init(base64 text: ArraySlice<UInt8>) throws(ProtocolError) {
        try Sodium.ready()
        bytes = try Sodium.decodeBase64(text, count: Self.byteCount)
    }

    /// The 44-byte base64 form.
    public var base64: [UInt8] { bytes.withUnsafeBytes { Sodium.base64($0) } }
}

/// A fresh X25519 key pair for one connection; the secret half is wiped when the pair goes.
public final class KeyPair {
    public let publicKey: PublicKey
    let secretKey: SecretBytes

    public init() throws(ProtocolError) {
        try Sodium.ready()
        var publicBytes = [UInt8](repeating: 0, count: PublicKey.byteCount)
        let secret = SecretBytes(count: Int(crypto_box_SECRETKEYBYTES))
        let status = publicBytes.withUnsafeMutableBufferPointer { pk in crypto_box_keypair(pk.baseAddress!, secret.pointer) }
        guard status == 0 else { throw .crypto("cannot generate a key pair") }
        publicKey = try PublicKey(bytes: publicBytes)
        secretKey = secret
    }
}

/// The key both directions of one exchange use: `crypto_box_beforenm(peer, own secret)`
/// (X25519 then HSalsa20). Messages are `crypto_secretbox_easy` under it, which is what NaCl's
/// `crypto_box_easy` does — so a client may use either. Wiped on deinit.
public final class SessionKey {
    static let nonceCount = Int(crypto_secretbox_NONCEBYTES)
    static let macCount = Int(crypto_secretbox_MACBYTES)

    private let key: SecretBytes

    /// Fails for a peer key libsodium rejects (a low-order point gives an all-zero secret).
    public init(peer: PublicKey, own: KeyPair) throws(ProtocolError) {
        try Sodium.ready()
        let key = SecretBytes(count: Int(crypto_box_BEFORENMBYTES))
        let status = peer.bytes.withUnsafeBufferPointer { pk in crypto_box_beforenm(key.pointer, pk.baseAddress!, own.secretKey.pointer) }
        guard status == 0 else { throw .malformed("the peer's public key is not usable") }
        self.key = key
    }

    /// `<len>:<nonce_b64>:<cipher_b64>` with a fresh random nonce.
    public func seal(_ plaintext: UnsafeRawBufferPointer) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: Self.nonceCount)
        nonce.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        var cipher = [UInt8](repeating: 0, count: plaintext.count + Self.macCount)
        cipher.withUnsafeMutableBufferPointer { c in
            nonce.withUnsafeBufferPointer { n in
                // An empty plaintext still needs a valid pointer.
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { empty in
                    let message = plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(empty.baseAddress!)
                    _ = crypto_secretbox_easy(c.baseAddress!, message, UInt64(plaintext.count), n.baseAddress!, key.pointer)
                }
            }
        }
        var frame = Array(String(plaintext.count).utf8)
        frame.append(UInt8(ascii: ":"))
        frame += nonce.withUnsafeBytes { Sodium.base64($0) }
        frame.append(UInt8(ascii: ":"))
        frame += cipher.withUnsafeBytes { Sodium.base64($0) }
        return frame
    }

    /// Decrypts a whole frame (as `EncryptedFrame.completeLength` measured it).
    public func open(_ frame: ArraySlice<UInt8>, maxPlaintext: Int) throws(ProtocolError) -> SecretBytes {
        let header = try EncryptedFrame.header(frame, maxPlaintext: maxPlaintext)
        guard let header, frame.count == header.totalCount else { throw .malformed("the message is incomplete") }
        let nonceStart = frame.startIndex + header.digits + 1
        let nonceEnd = nonceStart + EncryptedFrame.nonceTextCount
        guard frame[nonceEnd] == UInt8(ascii: ":") else { throw .malformed("no ':' after the nonce") }
        let nonce = try Sodium.decodeBase64(frame[nonceStart..<nonceEnd], count: Self.nonceCount)
        let cipherCount = header.plaintextCount + Self.macCount
        let cipher = try Sodium.decodeBase64(frame[(nonceEnd + 1)...], count: cipherCount)
        let plaintext = SecretBytes(count: header.plaintextCount)
        let status = cipher.withUnsafeBufferPointer { c in
            nonce.withUnsafeBufferPointer { n in
                crypto_secretbox_open_easy(plaintext.pointer, c.baseAddress!, UInt64(cipherCount), n.baseAddress!, key.pointer)
            }
        }
        guard status == 0 else { throw .decryption }
        return plaintext
    }
}

/// oidc-agent's framing of one encrypted message: `<len>:<nonce_b64>:<cipher_b64>`, where `len`
/// is the plaintext length in decimal. There is no terminator, so the reader computes where the
/// message ends from `len` (and trusts that, not the peer's closing).
public enum EncryptedFrame {
    static let nonceTextCount = 4 * ((SessionKey.nonceCount + 2) / 3)
    /// `len` has at most this many digits (a bound far above any request).
    static let maxDigits = 9

    struct Header {
        let digits: Int
        let plaintextCount: Int
        var totalCount: Int {
            digits + 1 + EncryptedFrame.nonceTextCount + 1 + 4 * ((plaintextCount + SessionKey.macCount + 2) / 3)
        }
    }

    /// The frame's whole length once its `len:` prefix has arrived; nil while it has not.
    public static func completeLength(_ received: ArraySlice<UInt8>, maxPlaintext: Int) throws(ProtocolError) -> Int? {
        try header(received, maxPlaintext: maxPlaintext)?.totalCount
    }

    static func header(_ received: ArraySlice<UInt8>, maxPlaintext: Int) throws(ProtocolError) -> Header? {
        var value = 0
        var digits = 0
        for byte in received {
            if byte == UInt8(ascii: ":") {
                guard digits > 0 else { throw .malformed("the message does not start with its length") }
                return Header(digits: digits, plaintextCount: value)
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), digits < maxDigits else {
                throw .malformed("the message does not start with its length")
            }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            guard value <= maxPlaintext else { throw .tooLarge(maxPlaintext) }
        }
        return nil
    }
}
