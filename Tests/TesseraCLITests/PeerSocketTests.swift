import Foundation
import Testing
import TestSupport

/// `tessera token` asks tesserad straight over its peer-to-peer socket (`PeerSocket`) and uses the
/// bus only when that socket is not there or not answering; either way the user sees the same.
/// Whether a call crossed the bus is read from dbus-monitor, not assumed.
@Suite(.serialized, .exclusiveSession) struct PeerSocketTests {
    static var socketDirectory: String {
        get throws { "\(try Requirement.environment("XDG_RUNTIME_DIR", hint: "run through scripts/session.sh"))/tessera" }
    }

    /// The link tesserad made for this session's bus, and what it points at.
    static func link() throws -> (path: String, target: String)? {
        let directory = try socketDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        guard let name = names.first(where: { $0.hasPrefix("bus-") && !$0.contains(".") }) else { return nil }
        let path = "\(directory)/\(name)"
        return (path, (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "")
    }

    /// GetToken calls that crossed the session bus while `body` ran.
    static func busGetTokens(_ body: () async throws -> Void) async throws -> Int {
        let log = "\(try makeTemporaryDirectory("peer-monitor"))/monitor.log"
        let monitor = try BackgroundProcess("dbus-monitor", ["--session", "type='method_call',member='GetToken'"], logPath: log)
        defer { monitor.stop() }
        // dbus-monitor prints its own NameAcquired once it listens.
        let deadline = ContinuousClock.now + .seconds(10)
        while !monitor.log().contains("NameAcquired") {
            guard ContinuousClock.now < deadline else { throw TestSupportError.timedOut("waiting for dbus-monitor") }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await body()
        // A marker call after the body, so everything before it is in the log.
        _ = try await Command.run("gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path",
                                            "/io/tessera/Agent1", "--method", "io.tessera.Agent1.GetToken", "marker", "{}"])
        while !monitor.log().contains("\"marker\"") {
            guard ContinuousClock.now < deadline + .seconds(10) else { throw TestSupportError.timedOut("waiting for the marker") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return monitor.log().components(separatedBy: "member=GetToken").count - 2
    }

    @Test func tokenGoesStraightToTheServiceAndFallsBackToTheBus() async throws {
        _ = try Requirement.executable("dbus-monitor")
        let agent = try await RunningAgent()
        let (link, target) = try #require(try Self.link(), "tesserad made no peer socket link")
        #expect(target == "\(link.split(separator: "/").last!).\(agent.process.pid)")
        var info = stat()
        #expect(lstat(try Self.socketDirectory, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(lstat("\(try Self.socketDirectory)/\(target)", &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK
                && info.st_mode & 0o777 == 0o600)

        // The service's own answer (here: no such account) comes back the same either way.
        var direct: CLIRun?
        #expect(try await Self.busGetTokens { direct = try await CLI.run(["token", "nosuch"]) } == 0)
        #expect(direct?.status == 1 && direct?.stderr.contains("no account named \"nosuch\"") == true, "\(String(describing: direct))")

        // A link to nothing (the socket moved away): the bus, same answer.
        let socket = "\(try Self.socketDirectory)/\(target)"
        #expect(rename(socket, socket + ".away") == 0)
        var viaBus: CLIRun?
        #expect(try await Self.busGetTokens { viaBus = try await CLI.run(["token", "nosuch"]) } == 1)
        #expect(viaBus?.status == direct?.status && viaBus?.stderr == direct?.stderr, "\(String(describing: viaBus))")
        #expect(rename(socket + ".away", socket) == 0)

        // Stopping removes the link and the socket.
        agent.tesserad.stop()
        try await waitUntil("tesserad removed its socket") { access(link, F_OK) != 0 && access(socket, F_OK) != 0 }
    }

    @Test func aCrashedServicesSocketIsReplacedAndMeanwhileTheBusAnswers() async throws {
        let first = try await RunningAgent()
        let (link, oldTarget) = try #require(try Self.link())
        first.tesserad.stop(signal: SIGKILL)
        try await waitUntil("the killed tesserad to leave the bus") { !first.process.isRunning }
        // The link and socket stay behind, refusing connections: the CLI goes to the bus, finds no
        // service there, and says so as it would without any socket.
        #expect(access("\(try Self.socketDirectory)/\(oldTarget)", F_OK) == 0)
        let run = try await CLI.run(["token", "anything"])
        #expect(run.status == 4, "\(run)")
        // The next tesserad clears the dead socket and points the link at its own.
        let second = try await RunningAgent()
        let (sameLink, newTarget) = try #require(try Self.link())
        #expect(sameLink == link && newTarget != oldTarget && newTarget.hasSuffix(".\(second.process.pid)"))
        #expect(access("\(try Self.socketDirectory)/\(oldTarget)", F_OK) != 0, "the dead socket stayed")
        #expect(try await CLI.run(["token", "nosuch"]).status == 1)
    }

    @Test func noPeerSocketWhenTurnedOff() async throws {
        let directory = try makeTemporaryDirectory("tesserad")
        let tesserad = try await Tesserad(logPath: "\(directory)/tesserad.log", arguments: ["--no-peer-socket"])
        defer { tesserad.stop() }
        #expect(try Self.link() == nil)
        #expect(try await CLI.run(["token", "nosuch"]).status == 1)
    }

    /// A directory others could enter (or one that is a link, or another user's) is refused as
    /// the oidc-agent socket's is: the log says why, no socket is made, and the bus serves alone.
    @Test func anUnsafeSocketDirectoryIsRefusedAndTheBusServes() async throws {
        let directory = try Self.socketDirectory
        try? FileManager.default.removeItem(atPath: directory)
        #expect(mkdir(directory, 0o755) == 0 && chmod(directory, 0o755) == 0)
        defer { chmod(directory, 0o700) }
        let agent = try await RunningAgent()
        #expect(try Self.link() == nil)
        try await waitUntil("the refusal to be logged") { agent.log.contains("no peer-to-peer socket") }
        #expect(agent.log.contains("its mode is 755"), "\(agent.log)")
        let run = try await CLI.run(["token", "nosuch"])
        #expect(run.status == 1 && run.stderr.contains("no account named"), "\(run)")
    }

    /// tesserad serves 64 peers at a time. With every place taken by clients that connect and say
    /// nothing, `tessera token` is turned away before authenticating and asks the bus instead:
    /// each call gets the service's answer, through the bus (dbus-monitor counts them).
    @Test func withEveryPeerPlaceTakenTheCallsGoThroughTheBus() async throws {
        _ = try Requirement.executable("dbus-monitor")
        let agent = try await RunningAgent()
        let (link, _) = try #require(try Self.link())
        var silent: [Int32] = []
        defer { for fd in silent { close(fd) } }
        for _ in 0..<64 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in link.utf8.enumerated() { raw[i] = b } }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(connected == 0)
            silent.append(fd)
        }
        let tessera = try Binaries.path("tessera")
        var results: [CommandResult] = []
        let crossed = try await Self.busGetTokens {
            results = try await ParallelCommands.run(Array(repeating: [tessera, "token", "nosuch"], count: 20))
        }
        #expect(results.allSatisfy { $0.status == 1 && $0.stderr.contains("no account named \"nosuch\"") },
                "\(results.filter { !$0.stderr.contains("no account named") }.prefix(3))")
        #expect(crossed == 20)
        #expect(agent.process.isRunning)
    }

    func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestSupportError.timedOut("waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
