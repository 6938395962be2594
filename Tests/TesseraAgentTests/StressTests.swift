import DBus
import Foundation
import TestSupport
import Testing

/// The bounded stress run behind `scripts/stress.sh` (issue 12): fuzzed calls to every method and
/// object, fd-carrying calls, provider faults, and SIGKILLs during rotating refreshes, with counts
/// printed as `stress: …` lines. Off unless TESSERA_STRESS=1 (so never part of `make test`).
@Suite(.serialized, .exclusiveSession, .enabled(if: ProcessInfo.processInfo.environment["TESSERA_STRESS"] == "1"))
struct StressTests {
    static var calls: Int { Int(ProcessInfo.processInfo.environment["TESSERA_STRESS_CALLS"] ?? "") ?? 2000 }
    static var kills: Int { Int(ProcessInfo.processInfo.environment["TESSERA_STRESS_KILLS"] ?? "") ?? 30 }

    /// xorshift64*: the same seed gives the same run.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
        mutating func pick<T>(_ list: [T]) -> T { list[below(list.count)] }
    }

    static let strings = ["", "x", "acct-stress", "../../etc/passwd", "http://127.0.0.1:1/", "https://127.0.0.1:1/x",
                          "http://127.evil.example/", "é\u{202E}🙂", String(repeating: "A", count: 70_000), "a b",
                          "openid", "offline_access", "mytoken", "oidc", "audience", "resource", "\u{1}\u{7f}",
                          "io.tessera.Agent1", "Version", "/io/tessera/Agent1", "-1", "9223372036854775807"]
    static let keys = ["scopes", "audience", "min-valid", "force", "interactive", "timeout", "application", "issuer",
                       "client-id", "client-secret", "replace", "kind", "mytoken-server", "revoke", "keep-on-failure",
                       "recursive", "username", "password", "notify", "open", "restrictions", "capabilities",
                       "token-type", "rotation", "name", "unknown-key"]

    static func value(_ random: inout Random, depth: Int = 0, fd: Int32?) -> DBusValue {
        switch random.below(depth > 2 ? 9 : 13) {
        case 0: return .byte(UInt8(truncatingIfNeeded: random.next()))
        case 1: return .bool(random.below(2) == 0)
        case 2: return .int32(Int32(truncatingIfNeeded: random.next()))
        case 3: return .uint32(UInt32(truncatingIfNeeded: random.next()))
        case 4: return .int64(Int64(bitPattern: random.next()))
        case 5: return .double(random.pick([0, -1, 1e308, .infinity, .nan, 3600.5]))
        case 6, 7: return .string(random.pick(strings))
        case 8: return fd.map { .unixFD($0) } ?? .objectPath("/io/tessera/Agent1")
        case 9: return .array(of: "s", (0..<random.below(4)).map { _ in .string(random.pick(strings)) })
        case 10: return .variant(value(&random, depth: depth + 1, fd: fd))
        case 11: return .structure([value(&random, depth: depth + 1, fd: fd), .string(random.pick(strings))])
        default:
            var entries: [String: DBusValue] = [:]
            for _ in 0..<random.below(5) { entries[random.pick(keys)] = value(&random, depth: depth + 1, fd: fd) }
            return .dictionary(entries)
        }
    }

    static let targets: [(path: ObjectPath, interface: InterfaceName, members: [MemberName])] = [
        ("/io/tessera/Agent1", "io.tessera.Agent1",
         ["GetToken", "StartDeviceFlow", "Revoke", "AddAccount", "RemoveAccount", "ListAccounts", "StartBrowserLogin",
          "CreateMytoken", "GetTokenWithMytoken", "ExchangeTransferCode", "RevokeMytoken", "ListMytokenTemplates",
          "MytokenInfo", "StartMytokenLogin", "FinishMytokenLogin", "LoginWithPassword", "ListProviders", "SetAccount",
          "RenameAccount", "GetIdToken", "NoSuchMethod"]),
        ("/io/tessera/Agent1", "org.freedesktop.DBus.Properties", ["Get", "GetAll", "Set"]),
        ("/io/tessera/Agent1", "org.freedesktop.DBus.Introspectable", ["Introspect"]),
        ("/io/tessera/Agent1/flows/1", "io.tessera.DeviceFlow1", ["Cancel"]),
        ("/io/tessera/Agent1/flows/1", "org.freedesktop.DBus.Properties", ["Get", "GetAll"]),
        ("/StatusNotifierItem", "org.kde.StatusNotifierItem", ["SecondaryActivate", "Scroll", "ContextMenu"]),
        ("/StatusNotifierItem", "org.freedesktop.DBus.Properties", ["Get", "GetAll"]),
        ("/MenuBar", "com.canonical.dbusmenu", ["GetLayout", "GetGroupProperties", "GetProperty", "AboutToShow", "AboutToShowGroup"]),
        ("/no/such/object", "org.example.Nothing", ["Anything"]),
    ]

    static func openFDs(_ pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    @Test func fuzzedCallsFdsAndProviderFaults() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        try await world.login()
        let connection = try BlockingConnection.session()
        var random = Random(state: 0x7e55e7a)
        let devNull = open("/dev/null", O_RDONLY)
        defer { close(devNull) }
        // A warm-up call first, so the fd baseline includes what the service opens once.
        _ = try? connection.call(destination: "io.tessera.Agent1", path: "/io/tessera/Agent1",
                                 interface: "io.tessera.Agent1", member: "ListAccounts")
        try await Task.sleep(for: .milliseconds(300))
        let fdsBefore = Self.openFDs(world.agent.process.pid)
        var tried = 0, errors = 0, hangs = 0, crashes = 0, withFD = 0
        for _ in 0..<Self.calls {
            let target = random.pick(Self.targets)
            let member = random.pick(target.members)
            let fd: Int32? = random.below(10) == 0 ? devNull : nil
            var arguments: [DBusValue]
            if random.below(2) == 0 {
                var options: [String: DBusValue] = [:]
                for _ in 0..<random.below(4) { options[random.pick(Self.keys)] = Self.value(&random, depth: 1, fd: fd) }
                arguments = [.string(random.pick(Self.strings)), .dictionary(options)]
            } else {
                arguments = (0..<random.below(4)).map { _ in Self.value(&random, fd: fd) }
            }
            if let fd { arguments.append(.unixFD(fd)); withFD += 1 }
            tried += 1
            do {
                _ = try connection.call(destination: "io.tessera.Agent1", path: target.path, interface: target.interface,
                                        member: member, arguments: arguments, timeout: .seconds(30))
            } catch .remote(let name, _) where name.rawValue == "org.freedesktop.DBus.Error.NoReply" {
                hangs += 1
            } catch {
                errors += 1
            }
            if !world.agent.process.isRunning {
                crashes += 1
                print("stress: tesserad died after \(member) on \(target.path): \(world.agent.log().suffix(2000))")
                try await world.restartAgent()
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let leaked = Self.openFDs(world.agent.process.pid) - fdsBefore
        // The login that was there before the run is still usable.
        let lost = (try? await world.token("{'force': <true>}")) == nil ? 1 : 0
        print("stress: fuzzed calls tried \(tried) (with an fd: \(withFD)) errors \(errors) crashes \(crashes) hangs \(hangs) leaked-fds \(leaked) lost-logins \(lost)")

        // Provider faults: an account per fault, a password login and a forced refresh through it.
        let faults = try await FaultServer.start()
        defer { faults.stop() }
        let kinds = ["ok", "non-json", "empty-400", "empty-500", "html-500", "html-200", "missing-field", "wrong-type",
                     "not-object", "huge", "redirect", "oauth-error", "echo-secret", "pending-428", "wrong-issuer",
                     "rfc8414-only", "discovery-html", "discovery-no-token-endpoint", "bare", "no-expiry", "jwt-no-expiry",
                     "expires-in=9223372036000000000", "expires-in=1e400", "expires-in=-5", "refresh-token=%22%22",
                     "refresh-token=absent", "access-token=%22a%5Cr%5Cnb%22", "token-type=7", "invalid-grant-status=500",
                     "jwt-exp=1e300", "device-expires-in=1e30", "device-interval=-1", "hang"]
        var faultCalls = 0, faultCrashes = 0, faultHangs = 0
        for (index, kind) in kinds.enumerated() {
            let name = "fault-\(index)"
            let issuer = faults.issuer(for: kind).absoluteString
            for (method, arguments) in [("AddAccount", [name, "{'issuer': <'\(issuer)'>, 'client-id': <'c'>, 'client-secret': <'fault-secret-1234'>}"]),
                                        ("LoginWithPassword", [name, "{'username': <'u'>, 'password': <'fault-password-1234'>}"]),
                                        ("GetToken", [name, "{'force': <true>}"]),
                                        ("StartDeviceFlow", [name, "{'notify': <false>}"]),
                                        ("Revoke", [name, "{}"])] {
                faultCalls += 1
                let result = try await world.agent.call(method, arguments)
                if result.stderr.contains("Timeout was reached") || result.stderr.contains("NoReply") { faultHangs += 1 }
                if !world.agent.process.isRunning {
                    faultCrashes += 1
                    print("stress: tesserad died on fault \(kind) \(method)")
                    try await world.restartAgent()
                }
            }
        }
        let secretsInLog = ["fault-secret-1234", "fault-password-1234", "fault-server-refresh-token"]
            .filter { world.agent.log().contains($0) }.count
        print("stress: provider faults \(kinds.count) calls \(faultCalls) crashes \(faultCrashes) hangs \(faultHangs) secrets-in-log \(secretsInLog)")
        #expect(crashes == 0 && hangs == 0 && lost == 0 && faultCrashes == 0 && faultHangs == 0 && secretsInLog == 0)
    }

    /// SIGKILL at a random moment of a forced-refresh loop against a rotating provider with reuse
    /// protection; a login is lost when the kill fell between the provider's rotation and the
    /// keyring write. Prints the loss rate and the measured response-to-stored windows.
    @Test func sigkillDuringRotatingRefreshes() async throws {
        let world = try await AgentWorld(.init(rotateRefreshTokens: true, refreshTokenReuseProtection: true), ownProvider: true)
        try await world.addAccount()
        try await world.login()
        var random = Random(state: 0x5eed)
        var lost = 0, refreshes = 0
        var windows: [Int] = [], requestWindows: [Int] = []
        let environment = world.environment, account = world.account
        for _ in 0..<Self.kills {
            let loop = Task.detached {
                var count = 0
                while !Task.isCancelled {
                    _ = try? await Command.run(
                        "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                                  "--method", "io.tessera.Agent1.GetToken", account, "{'force': <true>}"],
                        environment: environment, timeout: .seconds(20))
                    count += 1
                }
                return count
            }
            try await Task.sleep(for: .milliseconds(200 + random.below(800)))
            kill(world.agent.process.pid, SIGKILL)
            loop.cancel()
            refreshes += await loop.value
            for line in world.agent.log().split(separator: "\n") where line.contains("stored the rotated refresh token") {
                let words = line.split(separator: " ")
                let numbers = words.indices.filter { words[$0] == "ms" && $0 > 0 }.compactMap { Int(words[$0 - 1]) }
                if numbers.count == 2 { windows.append(numbers[0]); requestWindows.append(numbers[1]) }
            }
            try await world.restartAgent()
            if (try? await world.token("{'force': <true>}")) == nil {
                lost += 1
                try await world.login()
            }
        }
        func summary(_ values: [Int]) -> String {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return "none" }
            return "median \(sorted[sorted.count / 2]) p95 \(sorted[min(sorted.count - 1, sorted.count * 95 / 100)]) max \(sorted.last!)"
        }
        print("stress: sigkill kills \(Self.kills) refreshes \(refreshes) lost-logins \(lost) (\(Self.kills == 0 ? 0 : lost * 100 / Self.kills)%) "
              + "answer-to-stored-ms \(summary(windows)) request-to-stored-ms \(summary(requestWindows)) (n=\(windows.count))")
    }
}
