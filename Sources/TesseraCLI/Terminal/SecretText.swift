/// A token, password or client secret on its way through the CLI. Interpolating or dumping it
/// prints a placeholder, so it cannot slip into an error message or a debug line by accident; the
/// few places that must hand it on call `revealed()`.
public struct SecretText: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
                          CustomReflectable {
    private let value: String

    public init(_ value: String) { self.value = value }

    public func revealed() -> String { value }
    public var isEmpty: Bool { value.isEmpty }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "SecretText(<redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}
