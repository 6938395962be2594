import FoundationEssentials

/// The one rule for "the same issuer" in the service (an issuer URL given to GetToken, a mytoken
/// server's provider list): case-insensitive, with or without trailing slashes.
struct IssuerKey: Hashable, Sendable {
    let text: String

    init(_ issuer: URL) {
        var text = issuer.absoluteString.lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        self.text = text
    }
}
