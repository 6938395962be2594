/// A secret (access or refresh token, device code, client secret, password) that cannot leak by
/// accident: printing, interpolating, dumping or logging it shows `<redacted>`. Read the value
/// only where it goes on the wire or into the keyring, through `reveal()`.
public struct SecretString: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret itself. Call sites are easy to audit: search for `reveal()`.
    public func reveal() -> String { value }

    public var isEmpty: Bool { value.isEmpty }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
