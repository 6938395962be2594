import FoundationEssentials
import Posix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A registered redirect URI on the loopback interface with a fixed port: `http://localhost:8080`,
/// `http://127.0.0.1:4242/cb`. Others (another host, https, no port, a custom scheme) are not.
public struct LoopbackRedirect: Sendable, Equatable {
    public let uri: String
    let port: UInt16
    let path: String

    public init?(_ uri: String) {
        guard let components = URLComponents(string: uri), components.scheme?.lowercased() == "http",
              let host = components.host?.lowercased(), host == "localhost" || host == "127.0.0.1",
              let port = components.port, (1...65535).contains(port), components.query == nil, components.fragment == nil
        else { return nil }
        self.uri = uri
        self.port = UInt16(port)
        path = components.path.isEmpty ? "/" : components.path
    }
}

/// The loopback redirect receiver of RFC 8252 §7.3: a socket bound to 127.0.0.1 on a port the
/// kernel picks, answering one browser redirect to `path` and then closing.
///
/// Only IPv4 loopback: RFC 8252 §8.3 advises the IP literal over `localhost` (which may resolve
/// elsewhere or be served by another program on ::1), and a local firewall never sees it.
/// Requests to other paths (a browser's `/favicon.ico`) get a 404 and the wait goes on; other
/// methods a 405. Whoever can reach 127.0.0.1 can send a request here, so the caller's `validate`
/// must check `state` before trusting anything in it.
final class LoopbackRedirectListener: Sendable {
    /// The page a browser gets: a person reads it, so it says what happened and what to do.
    struct Page: Sendable {
        var status: Int
        var title: String
        var message: String
    }

    static let maxRequestBytes = 16 * 1024
    /// How long one connection may take to send its request line and headers.
    static let requestTimeout: Duration = .seconds(5)
    /// Connections served at once; more are closed at once.
    static let maxConnections = 16

    let port: UInt16
    let path: String
    /// The registered redirect URI this listener answers, when the client has fixed ones.
    private let registeredURI: String?
    private let listening: Int32
    /// The listening socket closes when the wait ends (one-shot), or at deinit if never waited on.
    private let listeningOpen = Atomic<Bool>(true)
    /// A pipe whose read end wakes the waiting thread when the caller cancels.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let started = Atomic<Bool>(false)

    /// `fixed`: a registered loopback redirect URI with its port (oidc-agent's clients register
    /// `http://localhost:PORT`), answered as registered; nil: a port the kernel picks.
    init(path: String = "/callback", fixed: LoopbackRedirect? = nil) throws(OIDCError) {
        self.path = fixed?.path ?? path
        registeredURI = fixed?.uri
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Self.failure("socket", errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = (fixed?.port ?? 0).bigEndian
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic -> Bool in
                bind(fd, generic, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else {
            let code = errno
            close(fd)
            throw Self.failure("bind 127.0.0.1", code)
        }
        // A socket pair rather than pipe2 (which Glibc's module map hides): flags at creation.
        var pipeEnds: [Int32] = [-1, -1]
        let pairType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        guard socketpair(AF_UNIX, pairType, 0, &pipeEnds) == 0 else {
            let code = errno
            close(fd)
            throw Self.failure("socketpair", code)
        }
        listening = fd
        port = UInt16(bigEndian: address.sin_port)
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
    }

    deinit {
        closeListening()
        close(wakeRead)
        close(wakeWrite)
    }

    /// `http://127.0.0.1:<port><path>`: the `redirect_uri` of the authorization request.
    var redirectURI: URL { registeredURI.flatMap(URL.init(string:)) ?? URL(string: "http://127.0.0.1:\(port)\(path)")! }

    /// Waits for the browser's request to `path` and hands its query parameters to `validate`,
    /// whose verdict is both shown to the browser and returned. Once per listener. Throws
    /// `.loginTimedOut` when `timeout` passes and `.cancelled` when the calling task is cancelled.
    func receive<Value: Sendable>(
        timeout: Duration, validate: @escaping @Sendable ([String: String]) -> (Page, Result<Value, OIDCError>)
    ) async throws(OIDCError) -> Value {
        guard !started.exchange(true, ordering: .relaxed) else {
            throw .unsupported("a second wait on one loopback redirect listener")
        }
        let deadline = ContinuousClock.now + timeout
        let seconds = Int((Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18).rounded(.up))
        let result: Result<Value, OIDCError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Blocking poll/accept/recv on a thread of its own, off the cooperative pool.
                Posix.startThread(named: "oidc-redirect") { [self] in
                    let result = serve(until: deadline, seconds: seconds, validate: validate)
                    closeListening()
                    continuation.resume(returning: result)
                }
            }
        } onCancel: {
            wake()
        }
        return try result.get()
    }

    private func closeListening() {
        if listeningOpen.exchange(false, ordering: .acquiringAndReleasing) { close(listening) }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// One connection whose request head is still arriving.
    private struct Client {
        let fd: Int32
        var received: [UInt8] = []
        let deadline: ContinuousClock.Instant
    }

    /// Serves every open connection at once: browsers open speculative connections that send
    /// nothing, and one of those must not hold up the redirect behind it.
    private func serve<Value>(until deadline: ContinuousClock.Instant, seconds: Int,
                              validate: ([String: String]) -> (Page, Result<Value, OIDCError>)) -> Result<Value, OIDCError> {
        var clients: [Client] = []
        defer { for client in clients { close(client.fd) } }
        while true {
            let now = ContinuousClock.now
            guard deadline > now else { return .failure(.loginTimedOut(seconds: seconds)) }
            clients.removeAll { client in
                guard client.deadline <= now else { return false }
                close(client.fd)
                return true
            }
            let wakeAt = clients.map(\.deadline).reduce(deadline, min)
            var fds = [pollfd(fd: listening, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
                + clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), Self.milliseconds(wakeAt - now))
            if ready < 0 {
                if errno == EINTR { continue }
                return .failure(Self.failure("poll", errno))
            }
            if fds[1].revents != 0 { return .failure(.cancelled) }
            var finished: [Int32] = []
            for (index, pollEntry) in fds.enumerated().dropFirst(2) where pollEntry.revents != 0 {
                let outcome = read(&clients[index - 2], validate: validate)
                switch outcome {
                case .waiting: continue
                case .done: finished.append(clients[index - 2].fd)
                case .result(let result): return result
                }
            }
            clients.removeAll { client in
                guard finished.contains(client.fd) else { return false }
                close(client.fd)
                return true
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                // accept4 is hidden by Glibc's module map; a connection lives for one short
                // exchange and ends with shutdown(SHUT_WR), so a child spawned meanwhile cannot
                // keep a browser waiting.
                let connection = accept(listening, nil, nil)
                if connection >= 0 {
                    if clients.count < Self.maxConnections {
                        clients.append(Client(fd: connection, deadline: .now + Self.requestTimeout))
                    } else {
                        close(connection)
                    }
                }
            }
        }
    }

    private enum ReadOutcome<Value> {
        case waiting
        /// Answered (or gone) without being the redirect: close it, keep waiting.
        case done
        case result(Result<Value, OIDCError>)
    }

    private func read<Value>(_ client: inout Client,
                             validate: ([String: String]) -> (Page, Result<Value, OIDCError>)) -> ReadOutcome<Value> {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(client.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if count < 0 && (errno == EINTR || errno == EAGAIN) { return .waiting }
        guard count > 0 else { return .done }
        client.received += buffer[0..<count]
        guard let text = String(validating: client.received, as: UTF8.self), let end = text.firstRange(of: "\r\n\r\n") else {
            return client.received.count < Self.maxRequestBytes ? .waiting : .done
        }
        return answer(client.fd, head: String(text[..<end.lowerBound]), validate: validate).map { .result($0) } ?? .done
    }

    /// One HTTP exchange; nil when it was not the redirect (the wait goes on).
    private func answer<Value>(_ connection: Int32, head: String,
                               validate: ([String: String]) -> (Page, Result<Value, OIDCError>)) -> Result<Value, OIDCError>? {
        guard let requestLine = head.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first
        else { return nil }
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            respond(connection, Page(status: 400, title: "Bad request", message: "This address only takes a login redirect."))
            return nil
        }
        let target = String(parts[1])
        let (requestPath, query) = target.firstIndex(of: "?").map { (String(target[..<$0]), String(target[target.index(after: $0)...])) }
            ?? (target, "")
        guard requestPath == path else {
            respond(connection, Page(status: 404, title: "Not found", message: "This address only takes a login redirect."))
            return nil
        }
        guard parts[0] == "GET" else {
            respond(connection, Page(status: 405, title: "Method not allowed", message: "The login redirect is a GET request."))
            return nil
        }
        var parameters: [String: String] = [:]
        for item in URLComponents(string: "http://127.0.0.1/?" + query)?.queryItems ?? [] where parameters[item.name] == nil {
            parameters[item.name] = item.value ?? ""
        }
        let (page, result) = validate(parameters)
        respond(connection, page)
        return result
    }

    private func respond(_ connection: Int32, _ page: Page) {
        let html = """
            <!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">\
            <title>Tessera: \(Self.escape(page.title))</title>\
            <body style="font-family: sans-serif; max-width: 36em; margin: 4em auto">\
            <h1>\(Self.escape(page.title))</h1><p>\(Self.escape(page.message))</p></body></html>
            """
        let body = Array(html.utf8)
        let reason = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"][page.status] ?? "Error"
        let head = "HTTP/1.1 \(page.status) \(reason)\r\nContent-Type: text/html; charset=utf-8\r\n"
            + "Content-Length: \(body.count)\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"
            + "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
        let bytes = Array(head.utf8) + body
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            sent += count
        }
        shutdown(connection, Int32(SHUT_WR))
    }

    /// The same five-entity escape as `DBus.XMLText.escape`, repeated because OIDC stays free
    /// of the D-Bus layer; keep the two alike.
    private static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
    }

    private static func failure(_ call: String, _ code: Int32) -> OIDCError {
        .transport(.failed(url: "http://127.0.0.1 (loopback redirect listener)",
                           reason: "\(call): \(String(cString: strerror(code)))"))
    }
}
