import FoundationEssentials
import Secrets

/// A JSON object from a provider, read field by field so every missing field or wrong type
/// becomes an `OIDCError.malformedResponse` that names the field and the document.
struct JSONFields {
    private let object: [String: JSONValue]
    let context: String

    init(_ data: Data, context: String) throws(OIDCError) {
        guard let parsed = JSONValue.parse(data) else {
            throw .malformedResponse("\(context) is not JSON (\(BodySummary(data: data, contentType: nil)))")
        }
        guard let object = parsed.objectValue else {
            throw .malformedResponse("\(context) is JSON but not an object")
        }
        self.object = object
        self.context = context
    }

    /// Nil when the body is not a JSON object (for error bodies, which may be anything).
    init?(lenient data: Data, context: String) {
        guard let object = JSONValue.parseObject(data) else { return nil }
        self.object = object
        self.context = context
    }

    func has(_ key: String) -> Bool { object[key].map { !$0.isNull } ?? false }

    func string(_ key: String) throws(OIDCError) -> String? {
        guard has(key) else { return nil }
        guard let value = object[key]?.stringValue else { throw wrongType(key, "a string") }
        return value
    }

    func requiredString(_ key: String) throws(OIDCError) -> String {
        guard let value = try string(key) else { throw missing(key) }
        guard !value.isEmpty else { throw .malformedResponse("\(context): field \"\(key)\" is empty") }
        return value
    }

    /// Integers; numeric strings are accepted because some providers send `"3600"`.
    func integer(_ key: String) throws(OIDCError) -> Int? {
        guard has(key) else { return nil }
        if let string = object[key]?.stringValue {
            guard let value = Int(string) else { throw wrongType(key, "a number") }
            return value
        }
        guard let number = object[key]?.numberValue, let value = Int(exactly: number)
        else { throw wrongType(key, "a whole number") }
        return value
    }

    /// A number of seconds as a provider states it, not yet trusted: any JSON number or numeric
    /// string, whole or not, of any size or sign. The caller decides what a usable range is;
    /// nothing here converts to an integer, so no value can trap.
    func seconds(_ key: String) -> StatedSeconds {
        guard has(key) else { return .absent }
        let value: Double?
        if let string = object[key]?.stringValue {
            value = Double(string.trimmingWhitespace())
        } else {
            value = object[key]?.numberValue
        }
        guard let value, value.isFinite else { return .unusable }
        return .value(value)
    }

    func url(_ key: String) throws(OIDCError) -> URL? {
        guard let text = try string(key) else { return nil }
        guard let url = URL(string: text), url.scheme != nil, url.host != nil else {
            throw wrongType(key, "an absolute URL")
        }
        return url
    }

    func requiredURL(_ key: String) throws(OIDCError) -> URL {
        guard let value = try url(key) else { throw missing(key) }
        return value
    }

    func strings(_ key: String) throws(OIDCError) -> [String]? {
        guard has(key) else { return nil }
        guard let value = object[key]?.stringsValue else { throw wrongType(key, "an array of strings") }
        return value
    }

    private func missing(_ key: String) -> OIDCError {
        .malformedResponse("\(context) lacks the required field \"\(key)\"")
    }

    private func wrongType(_ key: String, _ expected: String) -> OIDCError {
        .malformedResponse("\(context): field \"\(key)\" is not \(expected)")
    }
}

/// What `JSONFields.seconds(_:)` found.
enum StatedSeconds: Equatable {
    case absent
    /// Present but not a finite number (a word, `"NaN"`, an overflowing literal, a boolean).
    case unusable
    /// Finite, but possibly negative or absurdly large.
    case value(Double)
}

/// Turns untrusted second counts into bounded `Duration`s: the only place a provider's number
/// becomes an integer, after clamping, so no answer can make a conversion trap.
enum UntrustedSeconds {
    /// `seconds` clamped to `0...limit` (NaN counts as 0, +∞ as `limit`), to the millisecond
    /// (rounded down).
    static func duration(_ seconds: Double, atMost limit: Duration) -> Duration {
        guard !seconds.isNaN, seconds > 0 else { return .zero }
        guard seconds < CurlTransport.seconds(limit) else { return limit }
        return .milliseconds(Int64((seconds * 1000).rounded(.down)))
    }

    /// A duration clamped to `0...limit` (for public initialisers that take a caller's value).
    static func clamp(_ duration: Duration, atMost limit: Duration) -> Duration {
        clamp(duration, to: .zero...limit)
    }

    static func clamp(_ duration: Duration, to range: ClosedRange<Duration>) -> Duration {
        min(max(duration, range.lowerBound), range.upperBound)
    }
}

/// A one-phrase description of a body that is not what was expected, safe to show a person.
struct BodySummary: CustomStringConvertible {
    let data: Data
    let contentType: String?

    var description: String {
        if data.isEmpty { return "an empty body" }
        let text = String(decoding: data.prefix(4096), as: UTF8.self)
        let lower = text.lowercased()
        if lower.contains("<html") || lower.contains("<!doctype") || contentType?.contains("html") == true {
            if let start = lower.firstRange(of: "<title>"), let end = lower[start.upperBound...].firstRange(of: "</title>") {
                let title = text[start.upperBound..<end.lowerBound].trimmingWhitespace()
                return "an HTML page titled \"\(Sanitizer.clip(title, to: 80))\""
            }
            return "an HTML page"
        }
        return "a \(contentType.map { "\($0) " } ?? "")body of \(data.count) bytes that is not JSON"
    }
}

/// Makes provider-supplied text safe for messages: no secrets we sent, no control characters,
/// bounded length.
enum Sanitizer {
    static func clean(_ text: String?, removing secrets: [Secret]) -> String? {
        guard var text else { return nil }
        for secret in secrets where secret.reveal().count >= 4 {
            text = text.replacing(secret.reveal(), with: "<redacted>")
        }
        text = String(text.unicodeScalars.map { $0.isControlOrFormat ? " " : Character($0) })
        return clip(text.trimmingWhitespace(), to: 300)
    }

    static func clip(_ text: String, to limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }
}
