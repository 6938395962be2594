/// Who a consent rule is about, as the bus and the kernel say, never as the caller describes itself.
///
/// A sandboxed caller is named by its sandbox (the app id cannot be chosen by code inside the
/// sandbox); anything else by the executable it runs. The wire and file form is `flatpak:<app-id>`,
/// `snap:<name>` or `exe:<absolute path>`, as `../shared/DESIGN.md` names them.
public enum ApplicationID: Hashable, Sendable, CustomStringConvertible {
    case flatpak(String)
    case snap(String)
    case executable(String)

    /// The `kind:value` form used on D-Bus, in the accounts file and by the CLI.
    public var key: String {
        switch self {
        case .flatpak(let id): "flatpak:\(id)"
        case .snap(let name): "snap:\(name)"
        case .executable(let path): "exe:\(path)"
        }
    }

    public var description: String { key }

    /// Parses the `kind:value` form; nil for anything else (an empty value, an unknown kind, a
    /// relative executable path, or control characters that could forge lines in logs).
    public init?(key: String) {
        guard let colon = key.firstIndex(of: ":") else { return nil }
        let kind = key[..<colon]
        let value = String(key[key.index(after: colon)...])
        guard !value.isEmpty, value.utf8.count <= 4096,
              !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return nil }
        switch kind {
        case "flatpak": self = .flatpak(value)
        case "snap": self = .snap(value)
        case "exe":
            guard value.hasPrefix("/") else { return nil }
            self = .executable(value)
        default: return nil
        }
    }
}
