/// A secret value (refresh token, mytoken, client secret). Printing, interpolating or dumping it
/// shows `<redacted>`; only `reveal()` and `withUTF8CString` give the value out, so a stray log
/// line cannot leak it.
///
/// Swift arrays cannot be wiped reliably (copies may exist), so the value is kept in one buffer
/// that is shared, never re-encoded; the C copies libsecret hands back are wiped by
/// `secret_password_free`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// UTF-8 bytes followed by one NUL, ready for the C API.
    private let terminatedUTF8: [UInt8]

    /// Fails for a value libsecret cannot keep intact: empty or containing a NUL character.
    public init(_ value: String) throws(KeyringError) {
        var bytes = Array(value.utf8)
        guard !bytes.isEmpty else { throw .invalidArgument("a secret cannot be empty") }
        guard !bytes.contains(0) else { throw .invalidArgument("a secret cannot contain a NUL character") }
        bytes.append(0)
        terminatedUTF8 = bytes
    }

    /// Adopts a NUL-terminated C string from libsecret (the caller still frees the C copy).
    init(copyingCString pointer: UnsafePointer<CChar>) {
        let length = strlenOf(pointer)
        terminatedUTF8 = UnsafeRawBufferPointer(start: pointer, count: length + 1).map { $0 }
    }

    /// The value as a string: call it only where the value leaves the process on purpose.
    public func reveal() -> String {
        String(decoding: terminatedUTF8.dropLast(), as: UTF8.self)
    }

    /// The value as a NUL-terminated C string, without making a Swift `String` of it.
    public func withUTF8CString<Result, Failure: Error>(
        _ body: (UnsafePointer<CChar>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // withUnsafeBufferPointer is rethrows only; keep the typed error by capturing it.
        var result: Swift.Result<Result, Failure>!
        terminatedUTF8.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                do throws(Failure) { result = .success(try body(chars.baseAddress!)) } catch { result = .failure(error) }
            }
        }
        return try result.get()
    }

    /// Length in UTF-8 bytes (safe to log).
    public var byteCount: Int { terminatedUTF8.count - 1 }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "Secret(<redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

private func strlenOf(_ pointer: UnsafePointer<CChar>) -> Int {
    var length = 0
    while pointer[length] != 0 { length += 1 }
    return length
}
