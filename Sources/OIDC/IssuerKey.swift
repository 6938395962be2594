import FoundationEssentials

/// The one rule for "the same issuer", used by discovery (the document's `issuer` against ours),
/// the authorization response's `iss`, the metadata cache, and the service (an issuer URL given
/// to GetToken, a provider picked on a mytoken server, an account's changed issuer).
///
/// Scheme and host compare case-insensitively (RFC 3986 §6.2.2.1); the path compares exactly,
/// as providers tell realms apart by it (Keycloak's `/realms/EGI` is not `/realms/egi`); trailing
/// slashes are ignored, as providers differ in publishing them.
public struct IssuerKey: Hashable, Sendable {
    public let text: String

    public init(_ issuer: URL) {
        var text = issuer.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        if let separator = text.firstRange(of: "://") {
            let rest = text[separator.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? text.endIndex
            text = text[..<authorityEnd].lowercased() + text[authorityEnd...]
        }
        self.text = text
    }
}
