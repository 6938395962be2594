import FoundationEssentials
import Glibc

/// Which URLs the client will talk to: https anywhere, plain http only to loopback hosts
/// (127.0.0.0/8, ::1, localhost) so a local test provider works without certificates.
public enum URLPolicy {
    public static func check(_ url: URL) throws(OIDCError) {
        switch url.scheme?.lowercased() {
        case "https":
            guard url.host?.isEmpty == false else { throw .insecureURL(url.absoluteString) }
        case "http":
            guard isLoopback(url.host ?? "") else { throw .insecureURL(url.absoluteString) }
        default:
            throw .insecureURL(url.absoluteString)
        }
    }

    /// The one loopback rule of the project (issue 12.8: `hasPrefix("127.")` let
    /// `127.evil.example` through): the name `localhost` exactly, an IPv6 literal equal to `::1`,
    /// or an IPv4 literal in 127.0.0.0/8 — read the way the resolver reads it (`inet_aton`:
    /// `127.1`, `0x7f.0.0.1` and `2130706433` are all 127.0.0.1), so what passes here is what
    /// the connection goes to. Anything else, including `localhost.` and `x.localhost`, is a name
    /// that DNS could send anywhere.
    public static func isLoopback(_ host: String) -> Bool {
        var host = host.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { return true }
        if host.contains(":") { return ipv6IsLoopback(host) }
        guard let address = ipv4Address(host) else { return false }
        return address >> 24 == 127
    }

    /// An IPv4 literal in the inet_aton forms (1 to 4 parts, each decimal, octal with a leading
    /// 0, or hex with 0x; the last part fills the remaining bytes), nil for anything else.
    static func ipv4Address(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            guard let value = ipv4Part(part) else { return nil }
            values.append(value)
        }
        var address: UInt64 = 0
        for value in values.dropLast() {
            guard value <= 0xFF else { return nil }
            address = address << 8 | value
        }
        let remainingBits = UInt64(8 * (5 - parts.count))
        guard let last = values.last, last < (1 << remainingBits) else { return nil }
        return UInt32(address << remainingBits | last)
    }

    private static func ipv4Part(_ part: Substring) -> UInt64? {
        // Digits only: Swift's integer parsing would also take a sign ("+5").
        guard !part.isEmpty, part.count <= 12, part.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == "x") }) else {
            return nil
        }
        if part.hasPrefix("0x") { return UInt64(part.dropFirst(2), radix: 16) }
        if part.count > 1 && part.hasPrefix("0") { return UInt64(part.dropFirst(), radix: 8) }
        return UInt64(part, radix: 10)
    }

    /// True for the IPv6 loopback address in any spelling (`::1`, `0:0:0:0:0:0:0:1`, …).
    private static func ipv6IsLoopback(_ text: String) -> Bool {
        var address = in6_addr()
        guard text.allSatisfy({ $0.isHexDigit || $0 == ":" }), inet_pton(AF_INET6, text, &address) == 1 else {
            return false
        }
        return withUnsafeBytes(of: &address) { bytes in bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1 }
    }
}
