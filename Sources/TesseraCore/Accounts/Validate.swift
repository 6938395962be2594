import FoundationEssentials
import OIDC

/// Input checks shared by the D-Bus methods and the account file, so a name the service accepts
/// is a name it can read back.
public enum Validate {
    public static let maxNameBytes = 128
    public static let maxStringBytes = 2048
    /// Room for `max`: IAM instances publish dozens of scopes.
    public static let maxListCount = 256

    /// An account name: 1–128 bytes of printable text, no surrounding spaces, and not a URL
    /// (GetToken takes an issuer URL in the same place).
    public static func accountName(_ name: String, field: String = "account") throws(AgentError) -> String {
        if name.isEmpty { throw .invalidArgument(field: field, reason: "must not be empty") }
        if name.utf8.count > maxNameBytes {
            throw .invalidArgument(field: field, reason: "is \(name.utf8.count) bytes, at most \(maxNameBytes) allowed")
        }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .invalidArgument(field: field, reason: "must not contain control characters")
        }
        if name != name.trimmingWhitespace() {
            throw .invalidArgument(field: field, reason: "must not start or end with a space")
        }
        if name.contains("://") {
            throw .invalidArgument(field: field, reason: "must not be a URL (URLs name issuers)")
        }
        return name
    }

    /// An issuer or server URL: absolute http(s) with a host, https unless the host is loopback
    /// (tokens must never cross a network in clear), no query or fragment (OIDC Discovery §4.1).
    public static func serverURL(_ text: String, field: String) throws(AgentError) -> URL {
        if text.isEmpty { throw .invalidArgument(field: field, reason: "must not be empty") }
        if text.utf8.count > maxStringBytes {
            throw .invalidArgument(field: field, reason: "is longer than \(maxStringBytes) bytes")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty, let url = components.url
        else { throw .invalidArgument(field: field, reason: "\"\(text)\" is not an absolute URL") }
        guard scheme == "https" || scheme == "http" else {
            throw .invalidArgument(field: field, reason: "must be an https URL, not \(scheme)")
        }
        if scheme == "http" && !isLoopback(host) {
            throw .invalidArgument(field: field, reason: "must use https (http is allowed only on loopback)")
        }
        if components.query != nil || components.fragment != nil {
            throw .invalidArgument(field: field, reason: "must not have a query or fragment")
        }
        if components.user != nil || components.password != nil {
            throw .invalidArgument(field: field, reason: "must not contain credentials")
        }
        return url
    }

    /// The OIDC client's rule, so the service never accepts an http URL its client would refuse:
    /// `localhost`, `::1`, or a dotted quad in 127.0.0.0/8 (not `127.1`, not `127.evil.example`).
    /// An endpoint the provider named (e.g. RFC 7592's client URI): absolute http(s), https unless
    /// loopback, no credentials; a query is allowed.
    public static func endpointURL(_ text: String, field: String) throws(AgentError) -> URL {
        guard text.utf8.count <= maxStringBytes, let components = URLComponents(string: text),
              let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty,
              let url = components.url, components.user == nil, components.password == nil
        else { throw .invalidArgument(field: field, reason: "is not an absolute URL") }
        guard scheme == "https" || (scheme == "http" && isLoopback(host)) else {
            throw .invalidArgument(field: field, reason: "must use https (http is allowed only on loopback)")
        }
        return url
    }

    public static func isLoopback(_ host: String) -> Bool {
        URLPolicy.isLoopback(host)
    }

    /// A short free-text value such as a client id.
    public static func text(_ value: String, field: String) throws(AgentError) -> String {
        if value.isEmpty { throw .invalidArgument(field: field, reason: "must not be empty") }
        if value.utf8.count > maxStringBytes {
            throw .invalidArgument(field: field, reason: "is longer than \(maxStringBytes) bytes")
        }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .invalidArgument(field: field, reason: "must not contain control characters")
        }
        return value
    }

    /// Scope tokens or audiences: each non-empty, no spaces (they are joined with spaces on the
    /// wire, RFC 6749 §3.3), printable ASCII for scopes.
    public static func words(_ values: [String], field: String) throws(AgentError) -> [String] {
        if values.count > maxListCount {
            throw .invalidArgument(field: field, reason: "has \(values.count) entries, at most \(maxListCount) allowed")
        }
        for value in values {
            if value.isEmpty { throw .invalidArgument(field: field, reason: "contains an empty entry") }
            if value.utf8.count > maxStringBytes {
                throw .invalidArgument(field: field, reason: "has an entry longer than \(maxStringBytes) bytes")
            }
            if value.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0 == "\"" || $0 == "\\" }) {
                throw .invalidArgument(field: field, reason: "entry \"\(value.prefix(64))\" contains a space, quote or control character")
            }
        }
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

    /// Mytokens (JWTs run to a few KB), short tokens and codes: one printable ASCII word.
    public static let maxSecretBytes = 16 * 1024

    public static func secret(_ value: String, field: String) throws(AgentError) -> String {
        if value.isEmpty { throw .invalidArgument(field: field, reason: "must not be empty") }
        if value.utf8.count > maxSecretBytes {
            throw .invalidArgument(field: field, reason: "is longer than \(maxSecretBytes) bytes")
        }
        if value.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value >= 0x7F }) {
            throw .invalidArgument(field: field, reason: "must be one word of printable ASCII (no spaces or line breaks)")
        }
        return value
    }
}
