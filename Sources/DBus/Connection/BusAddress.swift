#if canImport(Glibc)
import Glibc
#endif

/// What a D-Bus address names (`unix:path=/run/user/1000/bus`, `unix:abstract=…;tcp:…`).
///
/// Read here, not with `dbus_parse_address`: `tessera token` derives the peer socket's name from
/// the address, and libdbus's parser was a twentieth of that process's time. Same rules (the
/// specification's, as libdbus applies them; `BusAddressTests` compares both on a corpus): the
/// whole address must be well formed, entries `method:key=value,…` split by `;`, each key and
/// value non-empty, values `%`-escaped except for `-0-9A-Za-z_/.\*`.
public enum BusAddress {
    /// The AF_UNIX socket of the address's first entry: its path, or `@name` for an abstract
    /// socket; nil for any other kind (`unix:runtime=`, `unix:dir=` are for servers, `tcp:` …).
    public static func unixSocket(of address: String) -> String? {
        guard let bytes = socketBytes(of: address) else { return nil }
        if bytes.count > 0 && bytes[0] == 0 { return "@" + String(decoding: bytes.span(1..<bytes.count), as: UTF8.self) }
        return String(decoding: bytes.span(0..<bytes.count), as: UTF8.self)
    }

    /// The `sun_path` bytes: the path, or a NUL and the name for Linux's abstract namespace.
    static func unixSocketBytes(of address: String) -> [UInt8]? { socketBytes(of: address)?.array }

    private static func socketBytes(of address: String) -> ByteBuffer? {
        var address = address
        return address.withUTF8 { bytes -> ByteBuffer? in
            guard let (isUnix, path, abstract) = firstEntry(bytes), isUnix else { return nil }
            if let path { return path }
            guard let abstract else { return nil }
            let named = ByteBuffer(capacity: abstract.count + 1)
            named.append(0)
            named.append(UnsafeRawBufferPointer(abstract.span(0..<abstract.count)))
            return named
        }
    }

    /// Whether the first entry's method is `unix`, and its first `path` and `abstract` values
    /// (unescaped, up to a `%00`, as libdbus's C strings end there); nil when any part of the
    /// address is malformed.
    private static func firstEntry(_ bytes: UnsafeBufferPointer<UInt8>) -> (Bool, ByteBuffer?, ByteBuffer?)? {
        var first: (Bool, ByteBuffer?, ByteBuffer?)?
        var position = 0
        while position < bytes.count {
            var entryEnd = position
            while entryEnd < bytes.count && bytes[entryEnd] != UInt8(ascii: ";") { entryEnd += 1 }
            var colon = position
            while colon < entryEnd && bytes[colon] != UInt8(ascii: ":") { colon += 1 }
            guard colon < entryEnd else { return nil }
            var path: ByteBuffer?, abstract: ByteBuffer?
            var pair = colon + 1
            while pair < entryEnd {
                var pairEnd = pair
                while pairEnd < entryEnd && bytes[pairEnd] != UInt8(ascii: ",") { pairEnd += 1 }
                var equals = pair
                while equals < pairEnd && bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                guard equals > pair, equals + 1 < pairEnd else { return nil }
                guard let value = unescaped(bytes, from: equals + 1, to: pairEnd) else { return nil }
                if first == nil {
                    let key = UnsafeBufferPointer(rebasing: bytes[pair..<equals])
                    if path == nil && key.elementsEqual("path".utf8) { path = value }
                    if abstract == nil && key.elementsEqual("abstract".utf8) { abstract = value }
                }
                pair = pairEnd + 1
            }
            if first == nil {
                first = (UnsafeBufferPointer(rebasing: bytes[position..<colon]).elementsEqual("unix".utf8), path, abstract)
            }
            position = entryEnd + 1
        }
        return first
    }

    private static func unescaped(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> ByteBuffer? {
        let value = ByteBuffer(capacity: end - start)
        var index = start
        var ended = false
        while index < end {
            var byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < end,
                      let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else { return nil }
                byte = high << 4 | low
                index += 3
            } else {
                guard isOptionallyEscaped(byte) else { return nil }
                index += 1
            }
            if byte == 0 { ended = true }
            if !ended { value.append(byte) }
        }
        return value
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isOptionallyEscaped(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "*"), UInt8(ascii: "."):
            true
        default: false
        }
    }
}
