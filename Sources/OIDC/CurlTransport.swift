import CCurl
import FoundationEssentials
import Posix
import Synchronization

/// `HTTPTransport` over libcurl's multi interface, driven by one thread of its own ("http") that
/// sleeps in `curl_multi_poll` — with no timeout when nothing is in flight, so an idle service
/// does not wake. Per request: one overall deadline (`CURLOPT_TIMEOUT_MS`), the body cap enforced
/// while receiving, no redirects followed, http and https only (`URLPolicy` narrows plain http to
/// loopback), no cookies, no cache; proxies come from the environment (`https_proxy`, `no_proxy`,
/// …, read by libcurl) and certificates are checked against the system's CA store.
///
/// Why not `URLSession`: on Linux it is this same libcurl behind FoundationNetworking, which runs
/// on libdispatch queues (starting dispatch's worker pool and its 1 Hz monitor) and loads full
/// Foundation. Why a thread and not the D-Bus event loop: a request costs one hand-off either way,
/// which is nothing next to a network round trip, and the loop stays free of libcurl's sockets.
public final class CurlTransport: HTTPTransport {
    public struct Configuration: Sendable {
        /// The whole exchange, connect to last byte.
        public var timeout: Duration
        public var maximumBodySize: Int
        /// tesserad sends `Tessera/<version>` (TesseraNames' `TesseraVersion`, the one copy).
        public var userAgent: String

        public init(timeout: Duration = .seconds(15), maximumBodySize: Int = 1 << 20,
                    userAgent: String = "Tessera") {
            self.timeout = timeout
            self.maximumBodySize = maximumBodySize
            self.userAgent = userAgent
        }
    }

    public let configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try URLPolicy.check(request.url)
        let exchange = CurlExchange(request: request, configuration: configuration)
        guard let engine = CurlEngine.shared else {
            throw OIDCError.transport(.failed(url: request.url.absoluteString, reason: CurlEngine.unavailableReason))
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                exchange.install(continuation)
                engine.start(exchange)
            }
        } onCancel: {
            engine.cancel(exchange)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// A libcurl multi handle. `curl_multi_wakeup` is the one call made on other threads than the
/// engine's, and libcurl documents it as safe to call from any thread; everything else stays on
/// the engine thread.
private struct MultiHandle: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
}

/// An exchange's easy handle and header list: used on the engine thread while the transfer runs,
/// freed by the exchange's deinit once the engine has let go of it.
private struct EasyHandle: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let headerList: UnsafeMutablePointer<curl_slist>?
}

/// The process's one libcurl multi handle and the thread that drives it.
private final class CurlEngine: Sendable {
    /// Made on the first request, which is when libcurl is loaded; nil when it cannot be.
    static let shared: CurlEngine? = tessera_curl_load() == nil ? CurlEngine() : nil

    /// Why `shared` is nil (libcurl missing or too old), for the request's error.
    static var unavailableReason: String { tessera_curl_load().map { String(cString: $0) } ?? "libcurl is unavailable" }

    private let multi: MultiHandle
    private let queue = Mutex<(starting: [CurlExchange], cancelling: [CurlExchange])>(([], []))

    private init() {
        tessera_curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        guard let pointer = tessera_curl_multi_init() else { preconditionFailure("curl_multi_init failed (out of memory)") }
        multi = MultiHandle(pointer: pointer)
        Posix.startThread(named: "http") { [self] in run() }
    }

    func start(_ exchange: CurlExchange) {
        queue.withLock { $0.starting.append(exchange) }
        tessera_curl_multi_wakeup(multi.pointer)
    }

    func cancel(_ exchange: CurlExchange) {
        queue.withLock { $0.cancelling.append(exchange) }
        tessera_curl_multi_wakeup(multi.pointer)
    }

    private func run() {
        var running: [UnsafeMutableRawPointer: CurlExchange] = [:]
        while true {
            let (starting, cancelling) = queue.withLock { queue in
                defer { queue = ([], []) }
                return queue
            }
            for exchange in starting {
                guard let easy = exchange.makeHandle() else { continue }
                running[easy] = exchange
                tessera_curl_multi_add_handle(multi.pointer, easy)
            }
            for exchange in cancelling {
                if let easy = exchange.easyHandle, running.removeValue(forKey: easy) != nil {
                    tessera_curl_multi_remove_handle(multi.pointer, easy)
                }
                exchange.finish(.failure(OIDCError.cancelled))
            }
            var active: Int32 = 0
            tessera_curl_multi_perform(multi.pointer, &active)
            var left: Int32 = 0
            while let message = tessera_curl_multi_info_read(multi.pointer, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let exchange = running.removeValue(forKey: easy) else { continue }
                let code = message.pointee.data.result
                tessera_curl_multi_remove_handle(multi.pointer, easy)
                exchange.complete(code)
            }
            // curl shortens the wait to its own next timer while transfers run; with none, sleep
            // until `start`/`cancel` wakes us.
            tessera_curl_multi_poll(multi.pointer, nil, 0, running.isEmpty ? Int32.max : 1000, nil)
        }
    }
}

/// One request and its response as it arrives. The easy handle and the received data are touched
/// only on the engine thread (libcurl calls the callbacks inside `curl_multi_perform`); the
/// continuation is resumed exactly once, by completion or cancellation, whichever comes first.
private final class CurlExchange: Sendable {
    private struct Transfer {
        var easy: EasyHandle?
        var body = Data()
        var headers: [String: String] = [:]
        var tooLarge = false
    }

    private enum Delivery {
        case waiting
        case installed(CheckedContinuation<HTTPResponse, any Error>)
        case cancelledEarly
        case done
    }

    let request: HTTPRequest
    let configuration: CurlTransport.Configuration
    private let transfer = Mutex(Transfer())
    private let delivery = Mutex(Delivery.waiting)

    init(request: HTTPRequest, configuration: CurlTransport.Configuration) {
        self.request = request
        self.configuration = configuration
    }

    deinit {
        transfer.withLock { transfer in
            if let easy = transfer.easy {
                tessera_curl_easy_cleanup(easy.pointer)
                tessera_curl_slist_free_all(easy.headerList)
            }
        }
    }

    var url: String { request.url.absoluteString }
    var easyHandle: UnsafeMutableRawPointer? { transfer.withLock { $0.easy?.pointer } }

    func install(_ continuation: CheckedContinuation<HTTPResponse, any Error>) {
        let early = delivery.withLock { delivery -> Bool in
            if case .cancelledEarly = delivery {
                delivery = .done
                return true
            }
            delivery = .installed(continuation)
            return false
        }
        if early { continuation.resume(throwing: OIDCError.cancelled) }
    }

    /// Delivers `result` unless something already did.
    func finish(_ result: Result<HTTPResponse, any Error>) {
        let continuation = delivery.withLock { delivery -> CheckedContinuation<HTTPResponse, any Error>? in
            switch delivery {
            case .installed(let continuation):
                delivery = .done
                return continuation
            case .waiting:
                delivery = .cancelledEarly
                return nil
            case .cancelledEarly, .done:
                return nil
            }
        }
        continuation?.resume(with: result)
    }

    private var isFinished: Bool {
        delivery.withLock { if case .installed = $0 { false } else { true } }
    }

    /// The configured easy handle, or nil (after finishing with an error) when the request was
    /// cancelled first or libcurl refused an option.
    func makeHandle() -> UnsafeMutableRawPointer? {
        guard !isFinished else { return nil }
        guard let easy = tessera_curl_easy_init() else {
            finish(.failure(OIDCError.transport(.failed(url: url, reason: "libcurl could not make a handle"))))
            return nil
        }
        var headerList: UnsafeMutablePointer<curl_slist>?
        var fields = ["Accept: application/json", "Expect:"]
        fields += request.headers.map { "\($0.key): \($0.value)" }
        for field in fields { headerList = tessera_curl_slist_append(headerList, field) }
        let handle = EasyHandle(pointer: easy, headerList: headerList)
        transfer.withLock { $0.easy = handle }

        let context = UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
        let milliseconds = Int(CurlTransport.seconds(configuration.timeout) * 1000)
        var status = CURLE_OK
        func check(_ code: CURLcode) { if status == CURLE_OK { status = code } }
        check(tessera_curl_set_pointer(easy, CURLOPT_URL, url))
        check(tessera_curl_set_pointer(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        check(tessera_curl_set_long(easy, CURLOPT_FOLLOWLOCATION, 0))
        check(tessera_curl_set_long(easy, CURLOPT_NOSIGNAL, 1))
        check(tessera_curl_set_long(easy, CURLOPT_TIMEOUT_MS, max(1, milliseconds)))
        check(tessera_curl_set_offset(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(configuration.maximumBodySize)))
        check(tessera_curl_set_pointer(easy, CURLOPT_USERAGENT, configuration.userAgent))
        check(tessera_curl_set_pointer(easy, CURLOPT_HTTPHEADER, headerList))
        switch request.method {
        case .get:
            check(tessera_curl_set_long(easy, CURLOPT_HTTPGET, 1))
        case .delete:
            // No body (RFC 7592 §2.3); the method name replaces GET on the request line.
            check(tessera_curl_set_pointer(easy, CURLOPT_CUSTOMREQUEST, "DELETE"))
        case .post:
            let body = request.body ?? Data()
            check(tessera_curl_set_long(easy, CURLOPT_POST, 1))
            check(tessera_curl_set_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            // COPYPOSTFIELDS copies the bytes now (the size set just before).
            if body.isEmpty {
                check(tessera_curl_set_pointer(easy, CURLOPT_COPYPOSTFIELDS, ""))
            } else {
                check(body.withUnsafeBytes { tessera_curl_set_pointer(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) })
            }
        }
        check(tessera_curl_set_callback(easy, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            guard let context else { return 0 }
            let exchange = Unmanaged<CurlExchange>.fromOpaque(context).takeUnretainedValue()
            return exchange.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
        })
        check(tessera_curl_set_pointer(easy, CURLOPT_WRITEDATA, context))
        check(tessera_curl_set_callback(easy, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            guard let context else { return 0 }
            let exchange = Unmanaged<CurlExchange>.fromOpaque(context).takeUnretainedValue()
            exchange.receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        })
        check(tessera_curl_set_pointer(easy, CURLOPT_HEADERDATA, context))
        guard status == CURLE_OK else {
            finish(.failure(OIDCError.transport(.failed(url: url, reason: Self.text(of: status)))))
            return nil
        }
        return easy
    }

    /// False (which makes libcurl abort with CURLE_WRITE_ERROR) once the body passes the cap.
    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        transfer.withLock { transfer in
            guard transfer.body.count + bytes.count <= configuration.maximumBodySize else {
                transfer.tooLarge = true
                return false
            }
            transfer.body.append(contentsOf: bytes)
            return true
        }
    }

    /// One header line. A status line starts a new response (after `100 Continue` or a proxy's
    /// CONNECT answer): the headers kept are the final response's.
    private func receiveHeader(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        transfer.withLock { transfer in
            if line.hasPrefix("HTTP/") {
                transfer.headers = [:]
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingWhitespace()
                transfer.headers[name] = transfer.headers[name].map { "\($0), \(value)" } ?? value
            }
        }
    }

    /// Finishes with the response or the error libcurl ended the transfer with.
    func complete(_ code: CURLcode) {
        let (handle, body, headers, tooLarge) = transfer.withLock { ($0.easy, $0.body, $0.headers, $0.tooLarge) }
        guard let easy = handle?.pointer else { return }
        if tooLarge || code == CURLE_FILESIZE_EXCEEDED {
            return finish(.failure(OIDCError.transport(.bodyTooLarge(url: url, limit: configuration.maximumBodySize))))
        }
        switch code {
        case CURLE_OK:
            var status = 0
            _ = tessera_curl_get_long(easy, CURLINFO_RESPONSE_CODE, &status)
            finish(.success(HTTPResponse(status: status, headers: headers, body: body)))
        case CURLE_OPERATION_TIMEDOUT:
            finish(.failure(OIDCError.transport(.timedOut(url: url, seconds: CurlTransport.seconds(configuration.timeout)))))
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            finish(.failure(OIDCError.transport(.cannotConnect(url: url, reason: Self.text(of: code)))))
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            finish(.failure(OIDCError.transport(.failed(url: url, reason: "TLS failed: \(Self.text(of: code))"))))
        default:
            finish(.failure(OIDCError.transport(.failed(url: url, reason: Self.text(of: code)))))
        }
    }

    private static func text(of code: CURLcode) -> String {
        tessera_curl_easy_strerror(code).map { String(cString: $0) } ?? "libcurl error \(code.rawValue)"
    }
}
