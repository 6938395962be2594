import FoundationEssentials
import Synchronization

/// One HTTP request as the OIDC client builds it. Bodies are form-encoded by `FormBody`.
/// Its description shows method and URL only: headers and body may carry credentials.
public struct HTTPRequest: Sendable, CustomStringConvertible {
    public enum Method: String, Sendable { case get = "GET", post = "POST", delete = "DELETE" }

    public var method: Method
    public var url: URL
    /// Header names as sent; `Accept` and `User-Agent` are set by the transport.
    public var headers: [String: String]
    public var body: Data?

    public init(method: Method, url: URL, headers: [String: String] = [:], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    public var description: String { "\(method.rawValue) \(url.absoluteString)" }
}

/// Its description shows the status and size only: bodies carry tokens.
public struct HTTPResponse: Sendable, CustomStringConvertible {
    public var status: Int
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var contentType: String? { headers["content-type"] }
    public var description: String { "HTTP \(status) (\(body.count) bytes)" }
}

/// The seam between the protocol client and the network. Implementations must bound every
/// request in time and size, never follow redirects, and throw only `OIDCError`
/// (`.transport`, `.cancelled`); any other error is reported as `.transport(.failed)`.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// `application/x-www-form-urlencoded` (the WHATWG/HTML encoding RFC 6749 §B refers to).
public struct FormBody: Sendable {
    private var fields: [(String, String)] = []

    public init() {}

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }
    public mutating func add(_ name: String, _ value: String?) { if let value { add(name, value) } }

    public var encoded: Data {
        Data(fields.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&").utf8)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"), UInt8(ascii: "*"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: " "):
                out += "+"
            default:
                out += "%" + Hex.byte(byte)
            }
        }
        return out
    }
}
