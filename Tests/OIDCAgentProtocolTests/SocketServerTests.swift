import Foundation
import OIDC
@testable import OIDCAgentProtocol
import Posix
import Testing
import TestSupport

/// The socket server against oidc-agent's real clients: Debian's `oidc-token` and `oidc-add`,
/// a C program on liboidc-agent, and a PyNaCl client.
@Suite(.serialized) struct SocketServerTests {
    @Test func oidcTokenFlagsArrive() async throws {
        let agent = try StubAgent()
        defer { Task { await agent.stop() } }
        func token(_ arguments: String...) async throws -> String {
            let result = try await Clients.oidcToken(agent.path, arguments)
            #expect(result.succeeded, "oidc-token \(arguments): \(result.stderr)")
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try await token("alpha").hasPrefix("at|alpha|"))
        #expect(try await token(StubAgent.issuer).hasPrefix("at|\(StubAgent.issuer)|"))
        #expect(try await token("-t", "604800", "alpha").hasPrefix("at|alpha|604800|"))
        #expect(try await token("-f", "alpha").hasPrefix("at|alpha|-1|"))
        #expect(try await token("-s", "openid", "-s", "read", "alpha").hasPrefix("at|alpha|0|openid+read|"))
        #expect(try await token("--aud=https://a.example https://b.example", "alpha")
            .hasPrefix("at|alpha|0|-|https://a.example+https://b.example|"))
        #expect(try await token("--name=fedcloud", "alpha") == "at|alpha|0|-|-|fedcloud")
        #expect(try await token("-e", "alpha") == "2000000000")
        #expect(try await token("-i", "alpha") == StubAgent.issuer)
        let environment = try await token("-c", "alpha")
        #expect(environment.contains("OIDC_AT=at|alpha|"))
        #expect(environment.contains("OIDC_ISS=\(StubAgent.issuer)"))
        #expect(environment.contains("OIDC_EXP=2000000000"))

        let missing = try await Clients.oidcToken(agent.path, ["missing"])
        #expect(!missing.succeeded)
        #expect(missing.stderr.contains("no account named \"missing\""), "\(missing.stderr)")
        #expect(missing.stdout.isEmpty)
    }

    /// `oidc-add -a` (--loaded) asks the agent for its loaded accounts.
    @Test func oidcAddListsTheAccounts() async throws {
        let agent = try StubAgent()
        defer { Task { await agent.stop() } }
        let result = try await Command.run("/usr/bin/oidc-add", ["-a"], environment: ["OIDC_SOCK": agent.path])
        #expect(result.succeeded, "\(result.stderr)")
        #expect(result.stdout.contains("alpha") && result.stdout.contains("beta"), "\(result.stdout)")
        #expect(agent.lastRequest == .loadedAccounts)
    }

    @Test func liboidcAgentProgram() async throws {
        let agent = try StubAgent()
        defer { Task { await agent.stop() } }
        let program = try await Clients.cProgram()
        let byName = try await Command.run(program, ["account", "alpha", "300"], environment: ["OIDC_SOCK": agent.path])
        #expect(byName.stdout == "token=at|alpha|300|-|-|token_client issuer=\(StubAgent.issuer) expires_at=2000000000\n",
                "\(byName.stdout) \(byName.stderr)")
        let byIssuer = try await Command.run(program, ["issuer", StubAgent.issuer], environment: ["OIDC_SOCK": agent.path])
        #expect(byIssuer.stdout.hasPrefix("token=at|\(StubAgent.issuer)|60|"), "\(byIssuer.stdout) \(byIssuer.stderr)")
        let missing = try await Command.run(program, ["account", "missing"], environment: ["OIDC_SOCK": agent.path])
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("error=no account named \"missing\""), "\(missing.stdout)")
        #expect(missing.stdout.contains("help=tessera account list"), "\(missing.stdout)")
    }

    @Test func pynaclClient() async throws {
        let agent = try StubAgent()
        defer { Task { await agent.stop() } }
        let token = try await Clients.pynacl(agent.path, #"{"request":"access_token","account":"alpha","min_valid_period":-1}"#)
        #expect(token.succeeded, "\(token.stderr)")
        let reply = try #require(try JSONSerialization.jsonObject(with: Data(token.stdout.utf8)) as? [String: Any])
        #expect(reply["access_token"] as? String == "at|alpha|-1|-|-|-")
        #expect(reply["expires_at"] as? Int == 2_000_000_000)
        // A slow client, sending its request in 7-byte pieces.
        let split = try await Clients.pynacl(agent.path, #"{"request":"loaded_accounts"}"#, ["--split"])
        #expect(split.stdout.contains(#""info":["alpha","beta"]"#), "\(split.stdout) \(split.stderr)")
        let info = try await Clients.pynacl(agent.path, #"{"request":"account_info"}"#)
        #expect(info.stdout.contains(#""pubclient":false"#), "\(info.stdout) \(info.stderr)")
        let unknown = try await Clients.pynacl(agent.path, #"{"request":"gen","x":1}"#)
        #expect(unknown.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            == #"{"status":"failure","error":"Bad Request: Unknown request type."}"#, "\(unknown.stderr)")
        let plaintext = try await Clients.pynacl(agent.path, #"{"request":"check"}"#, ["--plaintext"])
        #expect(plaintext.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"status":"success"}"#)
    }

    /// Stuck, garbage, 1 MB and half-closed clients (and a 2 s request in flight) beside oidc-token.
    @Test func hostileClientsDoNotDelayOthers() async throws {
        var limits = OIDCAgentSocketServer.Limits()
        limits.requestTimeout = .milliseconds(1500)
        let agent = try StubAgent(limits: limits)
        defer { Task { await agent.stop() } }
        func timed() async throws -> Duration {
            let start = ContinuousClock.now
            let result = try await Clients.oidcToken(agent.path, ["alpha"])
            #expect(result.succeeded, "\(result.stderr)")
            return ContinuousClock.now - start
        }
        var alone: [Duration] = []
        for _ in 0..<7 { alone.append(try await timed()) }

        var stuck: [Int32] = []
        for _ in 0..<50 { stuck.append(try RawClient.connect(agent.path)) } // connect, send nothing
        let garbage = try RawClient.connect(agent.path)
        _ = RawClient.send(garbage, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8) + Array(repeating: 0xFF, count: 100))
        let halfKey = try RawClient.connect(agent.path)
        _ = RawClient.send(halfKey, Array("AAAAAAAAAAAAAAAAAAAA".utf8))
        shutdown(halfKey, Int32(SHUT_WR))
        let megabyte = try RawClient.connect(agent.path)
        let flood = Task.detached { RawClient.send(megabyte, Array(repeating: UInt8(ascii: "{"), count: 1 << 20)) }
        let slow = Task { try await Clients.oidcToken(agent.path, ["slow"]) }
        try await Task.sleep(for: .milliseconds(100))

        var beside: [Duration] = []
        for _ in 0..<7 { beside.append(try await timed()) }
        let medianAlone = alone.sorted()[3], medianBeside = beside.sorted()[3]
        print("oidc-token median alone \(medianAlone), beside hostile clients \(medianBeside)")
        #expect(medianBeside < medianAlone + .milliseconds(25), "alone \(alone) beside \(beside)")

        #expect(RawClient.closedByServer(garbage, within: 1), "garbage was not closed")
        #expect(RawClient.closedByServer(megabyte, within: 1), "the 1 MB client was not closed")
        #expect(await flood.value < 1 << 20, "the server took the whole megabyte")
        #expect(RawClient.closedByServer(halfKey, within: 1), "the half-closed client was not closed")
        // The stuck ones go at the request timeout, not before.
        #expect(!RawClient.closedByServer(stuck[0], within: 0.2))
        #expect(RawClient.closedByServer(stuck[0], within: 3), "a silent client was never closed")
        #expect(try await slow.value.stdout.hasPrefix("at|slow|"))
        for fd in stuck + [garbage, halfKey, megabyte] { close(fd) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(agent.server.openConnections == 0)
    }

    @Test func hundredConcurrentOidcTokens() async throws {
        let agent = try StubAgent()
        defer { Task { await agent.stop() } }
        let start = ContinuousClock.now
        let results = try await ParallelCommands.run((0..<100).map { ["/usr/bin/oidc-token", "acct\($0)"] },
                                                     environment: ["OIDC_SOCK": agent.path])
        print("100 concurrent oidc-token calls: \(ContinuousClock.now - start)")
        #expect(results.count == 100)
        #expect(results.allSatisfy { $0.succeeded && $0.stdout.hasPrefix("at|acct") }, "\(results.filter { !$0.succeeded }.map(\.stderr))")
        #expect(Set(results.map(\.stdout)).count == 100)
    }

    @Test func anotherUserIsRefused() async throws {
        let agent = try StubAgent()
        defer { Task { await agent.stop() } }
        // Open the directory and socket to everyone, so only the uid check stands in the way.
        chmod(agent.directory, 0o755)
        chmod(agent.path, 0o666)
        let result = try await Command.run("/usr/bin/setpriv",
                                           ["--reuid=65534", "--regid=65534", "--clear-groups", Clients.python,
                                            "\(Clients.clientDirectory)/client.py", agent.path, #"{"request":"loaded_accounts"}"#])
        #expect(!result.succeeded)
        #expect(!result.stdout.contains("alpha"))
        #expect(agent.recorder.requests.withLock { $0.isEmpty })
        // The same request from our own uid works.
        #expect(try await Clients.pynacl(agent.path, #"{"request":"loaded_accounts"}"#).stdout.contains("alpha"))
    }
}

/// Where the socket goes and what is refused there.
@Suite(.serialized) struct SocketDirectoryTests {
    func refusal(_ directory: String) -> SocketSetupError? {
        do { _ = try ListeningSocket(path: "\(directory)/oidc-agent.sock") } catch { return error }
        return nil
    }

    @Test func defaultPathFollowsTMPDIR() {
        #expect(SocketLocation.defaultPath(environment: [:], userID: 1000) == "/tmp/oidc-agent-service-1000/oidc-agent.sock")
        #expect(SocketLocation.defaultPath(environment: ["TMPDIR": "/var/tmp/"], userID: 7)
            == "/var/tmp/oidc-agent-service-7/oidc-agent.sock")
        #expect(SocketLocation.defaultPath(environment: ["TMPDIR": ""], userID: 7) == "/tmp/oidc-agent-service-7/oidc-agent.sock")
    }

    @Test func createsAPrivateDirectoryAndSocket() async throws {
        let agent = try StubAgent()
        var info = stat()
        #expect(lstat(agent.directory, &info) == 0 && info.st_mode & 0o777 == 0o700 && info.st_uid == getuid())
        #expect(lstat(agent.path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK && info.st_mode & 0o777 == 0o600)
        await agent.stop()
        #expect(access(agent.path, F_OK) != 0, "the socket stayed after stop")
    }

    @Test func attacksOnTheDirectoryAreRefused() throws {
        let open = StubAgent.freshDirectory()
        mkdir(open, 0o755)
        defer { rmdir(open) }
        #expect(refusal(open)?.description.contains("its mode is 755") == true, "\(String(describing: refusal(open)))")

        let foreign = StubAgent.freshDirectory()
        mkdir(foreign, 0o700)
        chown(foreign, 65534, 65534)
        defer { rmdir(foreign) }
        #expect(refusal(foreign)?.description.contains("belongs to uid 65534") == true, "\(String(describing: refusal(foreign)))")

        let target = StubAgent.freshDirectory(), link = StubAgent.freshDirectory()
        mkdir(target, 0o700)
        symlink(target, link)
        defer { unlink(link); rmdir(target) }
        #expect(refusal(link)?.description.contains("symbolic link") == true, "\(String(describing: refusal(link)))")
        #expect(access("\(target)/oidc-agent.sock", F_OK) != 0, "a socket appeared behind the symlink")

        let file = StubAgent.freshDirectory()
        mkdir(file, 0o700)
        _ = FileManager.default.createFile(atPath: "\(file)/oidc-agent.sock", contents: Data("keep me".utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(refusal(file)?.description.contains("not a socket") == true)
        #expect(FileManager.default.contents(atPath: "\(file)/oidc-agent.sock") == Data("keep me".utf8))
    }

    @Test func staleSocketIsReplacedLiveOneIsNot() async throws {
        let directory = StubAgent.freshDirectory()
        mkdir(directory, 0o700)
        // A socket whose process died: bound, never listening, descriptor closed.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = ListeningSocket.address("\(directory)/oidc-agent.sock")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(stale)
        let agent = try StubAgent(directory: directory)
        #expect(try await Clients.oidcToken(agent.path, ["alpha"]).succeeded)
        // A second server on the same path while the first serves: refused, the first unharmed.
        #expect(refusal(directory)?.description.contains("another agent") == true)
        #expect(try await Clients.oidcToken(agent.path, ["alpha"]).succeeded)
        await agent.stop()
    }
}
