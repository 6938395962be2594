import Foundation
import Logging
import OIDC
@testable import OIDCAgentProtocol
import Secrets
import Synchronization
import TestSupport

/// A socket server with a scripted handler (no agent): what the real clients send is recorded,
/// and the token echoes the request so a test can see each flag arrive.
final class StubAgent: Sendable {
    static let issuer = "https://op.example.org/"
    let server: OIDCAgentSocketServer
    let directory: String
    let recorder = Recorder()

    final class Recorder: Sendable {
        let requests = Mutex<[AgentRequest]>([])
    }

    var path: String { server.path }

    /// A short path: socket addresses are limited to 107 bytes.
    static func freshDirectory() -> String {
        "/tmp/tsc-\(UUID().uuidString.prefix(8).lowercased())"
    }

    init(directory: String = StubAgent.freshDirectory(), limits: OIDCAgentSocketServer.Limits = .init()) throws {
        self.directory = directory
        let socket = try ListeningSocket(path: "\(directory)/oidc-agent.sock")
        let recorder = self.recorder
        server = try OIDCAgentSocketServer(socket: socket, limits: limits, logger: Logger(label: "test.oidc-agent-socket")) {
            request, _ in
            recorder.requests.withLock { $0.append(request) }
            return await Self.answer(request)
        }
        server.start()
    }

    static func answer(_ request: AgentRequest) async -> AgentReply {
        switch request {
        case .accessToken(let token):
            if token.selector == .account("missing") {
                return .failure(error: "no account named \"missing\"; add one with `tessera account add`",
                                info: "tessera account list shows the accounts")
            }
            if token.selector == .account("slow") { try? await Task.sleep(for: .seconds(2)) }
            let parts = [token.selector.nameOrIssuer, token.minValidPeriod.map(String.init) ?? "-",
                         token.scopes?.joined(separator: "+") ?? "-", token.audience?.joined(separator: "+") ?? "-",
                         token.applicationHint ?? "-"]
            return .accessToken(Secret("at|" + parts.joined(separator: "|")), issuer: issuer, expiresAt: 2_000_000_000)
        case .idToken(let id):
            return .idToken(Secret("id|\(id.selector.nameOrIssuer)"), issuer: issuer)
        case .check: return .success
        case .loadedAccounts: return .loadedAccounts(["alpha", "beta"])
        case .accountInfo: return .accountInfo([(issuer: issuer, accounts: ["alpha", "beta"])])
        case .unknown: return .unknownRequest
        }
    }

    func stop() async {
        await server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var lastRequest: AgentRequest? { recorder.requests.withLock { $0.last } }
}

/// Raw client sockets for the hostile-client tests.
enum RawClient {
    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = ListeningSocket.address(path)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else {
            close(fd)
            throw TestSupportError.failed("connect \(path): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Whether the server closed the connection within `seconds` (EOF or reset on read).
    static func closedByServer(_ fd: Int32, within seconds: Double) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if poll(&pfd, 1, 50) > 0 {
                var byte: UInt8 = 0
                let count = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
                if count <= 0 && !(count < 0 && errno == EAGAIN) { return true }
            }
        }
        return false
    }
}

enum Clients {
    static let oidcToken = "/usr/bin/oidc-token"

    static var clientDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("OIDCAgentClient").path
    }

    static var python: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".venv/bin/python").path
    }

    /// Debian's oidc-token with OIDC_SOCK at `path` (4.2.6 reads nothing else).
    static func oidcToken(_ path: String, _ arguments: [String]) async throws -> CommandResult {
        try await Command.run(oidcToken, arguments, environment: ["OIDC_SOCK": path], timeout: .seconds(20))
    }

    static func pynacl(_ path: String, _ request: String, _ flags: [String] = []) async throws -> CommandResult {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw TestSupportError.missing("the venv with PyNaCl (run scripts/deps.sh)")
        }
        return try await Command.run(python, ["\(clientDirectory)/client.py", path, request] + flags, timeout: .seconds(20))
    }

    /// token_client.c built against Debian's liboidc-agent, once per test process.
    static func cProgram() async throws -> String {
        let output = "/tmp/tessera-token-client-\(getpid())"
        if !FileManager.default.isExecutableFile(atPath: output) {
            try await Command.check("/usr/bin/gcc", ["-o", output, "\(clientDirectory)/token_client.c", "-loidc-agent"])
        }
        return output
    }
}
