import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

/// `HTTPTransport` over Foundation's `URLSession` (libcurl on Linux): an overall deadline per
/// request, a body cap enforced while receiving, no redirects, no cookies, no cache.
public final class URLSessionTransport: HTTPTransport {
    public struct Configuration: Sendable {
        /// The whole exchange, connect to last byte.
        public var timeout: Duration
        public var maximumBodySize: Int
        public var userAgent: String

        public init(timeout: Duration = .seconds(15), maximumBodySize: Int = 1 << 20,
                    userAgent: String = "Tessera/\(OIDCClient.version)") {
            self.timeout = timeout
            self.maximumBodySize = maximumBodySize
            self.userAgent = userAgent
        }
    }

    public let configuration: Configuration
    private let session: URLSession
    private let delegate: SessionDelegate

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.httpCookieStorage = nil
        sessionConfiguration.httpShouldSetCookies = false
        sessionConfiguration.urlCache = nil
        sessionConfiguration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let seconds = Self.seconds(configuration.timeout)
        sessionConfiguration.timeoutIntervalForRequest = seconds
        sessionConfiguration.timeoutIntervalForResource = seconds
        delegate = SessionDelegate()
        session = URLSession(configuration: sessionConfiguration, delegate: delegate, delegateQueue: nil)
    }

    deinit { session.invalidateAndCancel() }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try URLPolicy.check(request.url)
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method.rawValue
        urlRequest.timeoutInterval = Self.seconds(configuration.timeout)
        urlRequest.setValue("application/json", forHTTPHeaderField: "Accept")
        urlRequest.setValue(configuration.userAgent, forHTTPHeaderField: "User-Agent")
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        urlRequest.httpBody = request.body

        let task = session.dataTask(with: urlRequest)
        let id = task.taskIdentifier
        let delegate = self.delegate
        let timeout = configuration.timeout
        let url = request.url.absoluteString
        let timer = Task {
            try await Task.sleep(for: timeout)
            delegate.fail(id, with: .transport(.timedOut(url: url, seconds: Self.seconds(timeout))))
            task.cancel()
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                delegate.register(id, url: url, limit: configuration.maximumBodySize, timeout: Self.seconds(timeout),
                                  continuation: continuation)
                task.resume()
            }
        } onCancel: {
            delegate.fail(id, with: .cancelled)
            task.cancel()
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// URLSession's delegate: collects each task's body under the cap and finishes its continuation.
private final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private struct Exchange {
        var url: String
        var limit: Int
        var timeout: Double
        var continuation: CheckedContinuation<HTTPResponse, any Error>
        var body = Data()
        var failure: OIDCError?
    }

    private let exchanges = Mutex<[Int: Exchange]>([:])

    func register(_ id: Int, url: String, limit: Int, timeout: Double,
                  continuation: CheckedContinuation<HTTPResponse, any Error>) {
        exchanges.withLock { $0[id] = Exchange(url: url, limit: limit, timeout: timeout, continuation: continuation) }
    }

    /// Records why the task is about to be cancelled; the first reason wins.
    func fail(_ id: Int, with error: OIDCError) {
        exchanges.withLock { if $0[id]?.failure == nil { $0[id]?.failure = error } }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let id = dataTask.taskIdentifier
        let tooLarge = exchanges.withLock { exchanges -> Bool in
            guard let exchange = exchanges[id], response.expectedContentLength > Int64(exchange.limit) else { return false }
            exchanges[id]?.failure = .transport(.bodyTooLarge(url: exchange.url, limit: exchange.limit))
            return true
        }
        completionHandler(tooLarge ? .cancel : .allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let id = dataTask.taskIdentifier
        let tooLarge = exchanges.withLock { exchanges -> Bool in
            guard var exchange = exchanges[id], exchange.failure == nil else { return false }
            exchanges[id] = nil  // avoid a copy-on-write of the body while appending
            if exchange.body.count + data.count > exchange.limit {
                exchange.failure = .transport(.bodyTooLarge(url: exchange.url, limit: exchange.limit))
                exchanges[id] = exchange
                return true
            }
            exchange.body.append(data)
            exchanges[id] = exchange
            return false
        }
        if tooLarge { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)  // the 3xx itself completes the task; the client reports it
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let exchange = exchanges.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        if let failure = exchange.failure {
            exchange.continuation.resume(throwing: failure)
        } else if let error {
            exchange.continuation.resume(throwing: Self.map(error, exchange))
        } else if let http = task.response as? HTTPURLResponse {
            var headers: [String: String] = [:]
            for (name, value) in http.allHeaderFields {
                if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
            }
            exchange.continuation.resume(returning: HTTPResponse(status: http.statusCode, headers: headers, body: exchange.body))
        } else {
            exchange.continuation.resume(throwing: OIDCError.transport(.failed(url: exchange.url, reason: "no HTTP response")))
        }
    }

    private static func map(_ error: any Error, _ exchange: Exchange) -> OIDCError {
        let url = exchange.url
        guard let urlError = error as? URLError else {
            return .transport(.failed(url: url, reason: String(describing: type(of: error))))
        }
        switch urlError.code {
        case .timedOut:
            return .transport(.timedOut(url: url, seconds: exchange.timeout))
        case .cancelled:
            return .cancelled
        case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .networkConnectionLost,
            .notConnectedToInternet:
            return .transport(.cannotConnect(url: url, reason: urlError.localizedDescription))
        case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateHasUnknownRoot,
            .serverCertificateNotYetValid, .secureConnectionFailed:
            return .transport(.failed(url: url, reason: "TLS failed: \(urlError.localizedDescription)"))
        default:
            return .transport(.failed(url: url, reason: urlError.localizedDescription))
        }
    }
}
