/// A secret (refresh or access token, mytoken, device code, transfer code, client secret,
/// password) that cannot leak by accident: printing, interpolating, dumping or logging it shows
/// `<redacted>`. Read the value only where it goes on the wire or into the keyring, through
/// `reveal()` or `withUTF8CString`; call sites are easy to audit by searching for those names.
///
/// The one secret type of every module (OIDC, Keyring, the service's core, the CLI): it lives in
/// its own target with no dependencies, so the CLI can use it without linking Foundation or OIDC.
///
/// The value is kept in one native `String`, never re-encoded: Swift cannot wipe memory reliably
/// (copies may exist), so the aim is to make no extra copies. A native string's storage is
/// contiguous and NUL-terminated, so `withUTF8CString` hands C that storage itself.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// Adopts a NUL-terminated C string (e.g. libsecret's; the caller still frees the C copy).
    public init(copyingCString pointer: UnsafePointer<CChar>) {
        value = String(cString: pointer)
    }

    /// The secret itself: call it only where the value leaves the process on purpose.
    public func reveal() -> String { value }

    /// The value as a NUL-terminated C string, without making another copy. A value with a NUL
    /// character inside reads shorter in C: check `containsNUL` where that matters.
    public func withUTF8CString<Result, Failure: Error>(
        _ body: (UnsafePointer<CChar>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // withCString is rethrows only; keep the typed error by capturing it.
        var result: Swift.Result<Result, Failure>!
        value.withCString { pointer in
            do throws(Failure) { result = .success(try body(pointer)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    public var isEmpty: Bool { value.isEmpty }
    /// Length in UTF-8 bytes (safe to log).
    public var byteCount: Int { value.utf8.count }
    /// Whether a NUL character is inside (C APIs would cut the value there).
    public var containsNUL: Bool { value.utf8.contains(0) }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "Secret(<redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
