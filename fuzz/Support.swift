// Shared by every libFuzzer harness in fuzz/harnesses (compiled into each one by scripts/fuzz.sh).
import Dispatch
import Foundation
import OIDC
import Synchronization

/// Runs async work to completion from libFuzzer's synchronous entry point. Every harness drives
/// the real async client code with a scripted transport, so nothing here ever waits on a network.
func runBlocking(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await body()
        done.signal()
    }
    done.wait()
}

/// A cursor over the fuzzer's bytes: the first few steer the harness (which parser, which status
/// code), the rest is the untrusted document itself.
struct FuzzBytes {
    private let bytes: [UInt8]
    private var position = 0

    init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// Everything not consumed yet.
    var rest: Data { Data(bytes[min(position, bytes.count)...]) }
    var restBytes: [UInt8] { Array(bytes[min(position, bytes.count)...]) }
}

/// HTTP status codes a provider may answer with; the fuzzer picks one per request.
let interestingStatuses = [200, 201, 204, 400, 401, 403, 404, 428, 429, 500, 503, 302]

/// Answers requests with the scripted responses in order, then 500s. It records nothing, so a
/// harness cannot keep secrets alive between runs.
final class ScriptedTransport: HTTPTransport {
    private let responses: Mutex<[HTTPResponse]>

    init(_ responses: [HTTPResponse]) { self.responses = Mutex(responses) }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        responses.withLock { list in list.isEmpty ? HTTPResponse(status: 500) : list.removeFirst() }
    }
}

func json(_ text: String) -> Data { Data(text.utf8) }
