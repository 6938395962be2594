import CSodium

/// libsodium, initialised once. Every type here calls `Sodium.ready()` before its first use;
/// `sodium_init` is itself thread-safe and idempotent, the static only saves the call.
enum Sodium {
    private static let initialised: Bool = sodium_init() >= 0

    static func ready() throws(ProtocolError) {
        guard initialised else { throw .crypto("libsodium could not be initialised") }
    }

    /// Standard base64 with padding (oidc-agent's encoding for keys, nonces and ciphertexts).
    static func base64(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let capacity = sodium_base64_encoded_len(bytes.count, sodium_base64_VARIANT_ORIGINAL)
        var text = [UInt8](repeating: 0, count: capacity)
        text.withUnsafeMutableBufferPointer { out in
            _ = out.withMemoryRebound(to: CChar.self) { chars in
                sodium_bin2base64(chars.baseAddress!, capacity, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                  bytes.count, sodium_base64_VARIANT_ORIGINAL)
            }
        }
        text.removeLast() // the C string's terminator
        return text
    }

    /// Strict decoding of exactly `count` bytes (padding required, nothing ignored or left over).
    static func decodeBase64(_ text: ArraySlice<UInt8>, count: Int) throws(ProtocolError) -> [UInt8] {
        guard text.count == 4 * ((count + 2) / 3) else { throw .malformed("a base64 field has the wrong length") }
        var output = [UInt8](repeating: 0, count: count + 2)
        var written = 0
        let status = output.withUnsafeMutableBufferPointer { out in
            text.withUnsafeBufferPointer { input in
                input.withMemoryRebound(to: CChar.self) { chars in
                    sodium_base642bin(out.baseAddress!, out.count, chars.baseAddress!, chars.count, nil, &written, nil,
                                      sodium_base64_VARIANT_ORIGINAL)
                }
            }
        }
        guard status == 0, written == count else { throw .malformed("a base64 field does not decode") }
        output.removeLast(2)
        return output
    }
}

/// Bytes that must not outlive their use: allocated once, wiped with `sodium_memzero` on deinit.
/// Used for secret keys, shared keys and decrypted requests/replies.
public final class SecretBytes {
    let buffer: UnsafeMutableRawBufferPointer
    /// The used length (≤ the allocation).
    public private(set) var count: Int

    init(count: Int) {
        buffer = .allocate(byteCount: max(count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        self.count = count
    }

    /// A copy of `bytes`; the caller wipes its own copy.
    convenience init(copying bytes: some Collection<UInt8>) {
        self.init(count: bytes.count)
        UnsafeMutableRawBufferPointer(rebasing: buffer[..<bytes.count]).copyBytes(from: bytes)
    }

    /// The first byte, for libsodium (never null: the allocation has at least one byte).
    var pointer: UnsafeMutablePointer<UInt8> { buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) }

    func setCount(_ value: Int) {
        precondition(value <= buffer.count)
        count = value
    }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
    }

    deinit {
        sodium_memzero(buffer.baseAddress, buffer.count)
        buffer.deallocate()
    }
}

/// What can go wrong on the wire. Messages never include key or message bytes.
public enum ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The peer sent something that is not oidc-agent's protocol.
    case malformed(String)
    /// The message does not decrypt with the session key (tampered, or another key).
    case decryption
    case tooLarge(Int)
    case crypto(String)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed message: \(why)"
        case .decryption: "the message does not decrypt with the session key"
        case .tooLarge(let limit): "the message is larger than \(limit) bytes"
        case .crypto(let why): why
        }
    }
}
