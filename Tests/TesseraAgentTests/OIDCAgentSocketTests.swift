import Foundation
import TestSupport
import Testing

/// tesserad's oidc-agent socket against oidc-agent's real clients (Debian's oidc-token and
/// liboidc-agent) and a PyNaCl client, with the test provider behind it.
@Suite(.serialized) struct OIDCAgentSocketTests {
    static func socketDirectory() -> String { "/tmp/tsa-\(UUID().uuidString.prefix(8).lowercased())" }

    static var clientDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("OIDCAgentClient").path
    }

    static var python: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".venv/bin/python").path
    }

    /// `tessera`, next to `tesserad`.
    static func tessera() throws -> String {
        URL(fileURLWithPath: try Binaries.path("tesserad")).deletingLastPathComponent().appendingPathComponent("tessera").path
    }

    struct Socket {
        let world: AgentWorld
        let path: String
        func oidcToken(_ arguments: String...) async throws -> CommandResult { try await oidcToken(arguments) }
        func oidcToken(_ arguments: [String]) async throws -> CommandResult {
            try await Command.run("/usr/bin/oidc-token", arguments,
                                  environment: world.environment.merging(["OIDC_SOCK": path]) { $1 }, timeout: .seconds(30))
        }
    }

    /// A logged-in account and tesserad serving the socket.
    func loggedIn(_ settings: TestProvider.Settings = .init()) async throws -> Socket {
        let directory = Self.socketDirectory()
        let path = "\(directory)/oidc-agent.sock"
        let world = try await AgentWorld(settings, agentArguments: ["--oidc-agent-socket", path])
        try await world.addAccount()
        try await world.login()
        return Socket(world: world, path: path)
    }

    @Test func oidcTokenGetsValidTokensWithItsFlags() async throws {
        let socket = try await loggedIn()
        let world = socket.world
        let issuer = world.provider.issuer.absoluteString
        func token(_ arguments: String...) async throws -> String {
            let result = try await Command.run("/usr/bin/oidc-token", arguments,
                                               environment: world.environment.merging(["OIDC_SOCK": socket.path]) { $1 })
            #expect(result.succeeded, "oidc-token \(arguments): \(result.stderr)\n\(world.agent.log())")
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // The same cache as GetToken: the token oidc-token gets is the one D-Bus hands out.
        let plain = try await token(world.account)
        #expect(plain == (try await world.token("{'min-valid': <uint32 0>}").value))
        #expect(try await world.provider.tokenInfo(accessToken: plain).active)
        #expect(try await token(issuer) == plain)

        let week = try await token("-t", "604800", world.account)
        #expect(try await world.provider.tokenInfo(accessToken: week).active)
        let forced = try await token("-f", world.account)
        #expect(forced != plain && forced != week)
        #expect(try await world.provider.tokenInfo(accessToken: forced).active)

        // A narrower scope than the login's (the provider refuses a wider one on refresh).
        let scoped = try await token("-s", "openid", world.account)
        #expect(try await world.provider.tokenInfo(accessToken: scoped).scopes == ["openid"])
        #expect(scoped == (try await world.token("{'scopes': <['openid']>, 'min-valid': <uint32 0>}").value))
        let wider = try await socket.oidcToken("-s", "openid", "-s", "write", world.account)
        #expect(wider.status != 0 && wider.stderr.contains("invalid_scope"), "\(wider.stderr)")
        let audience = try await token("--aud=https://storage.example.org", world.account)
        #expect(try await world.provider.tokenInfo(accessToken: audience).resource == ["https://storage.example.org"])

        let expiresAt = try #require(Int64(try await token("-e", world.account)))
        #expect(abs(expiresAt - Int64(Date().timeIntervalSince1970) - 3600) < 120)
        #expect(try await token("-i", world.account) == issuer)
        let environment = try await token("-c", world.account)
        #expect(environment.contains("OIDC_AT="), "\(environment)")
        #expect(environment.contains("OIDC_ISS=\(issuer)"), "\(environment)")
        #expect(environment.contains("OIDC_EXP="), "\(environment)")

        // `tessera token` takes the same flags and prints the same.
        let tessera = try Self.tessera()
        // With oidc-token's optional variable names too (argp: attached to -o/-i/-e, after = on the
        // long options), alone and with -c, exactly as Debian's oidc-token 4.2.6 prints them.
        for flags in [["-e"], ["-i"], ["-c"], ["-o", "-i"], ["-a"], ["-oMY_AT"], ["-eMY_EXP"], ["-iMY_ISS"], ["-c", "-oMY_AT"],
                      ["-c", "-eMY_EXP", "-iMY_ISS"], ["-oie"], ["--token=MY_AT"], ["--expires-at=X", "-i"], ["-oMY_AT", "-e"],
                      ["-oA", "-oB"], ["-c", "-o"], ["-oMY_AT", "-iMY_ISS", "-eMY_EXP"], ["--issuer=I", "--token=T"]] {
            let ours = try await Command.run(tessera, ["token"] + flags + [world.account], environment: world.environment)
            let theirs = try await socket.oidcToken(flags + [world.account])
            #expect(ours.succeeded && ours.stdout == theirs.stdout, "\(flags): \(ours.stdout) \(ours.stderr) vs \(theirs.stdout)")
        }
        let current = try await socket.oidcToken(world.account).stdout
        #expect(try await Command.run(tessera, ["token", "--bearer", world.account], environment: world.environment).stdout
            == "Authorization: Bearer \(current)")

        let missing = try await socket.oidcToken("no-such-account")
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no account named \"no-such-account\""), "\(missing.stderr)")
        #expect(missing.stderr.contains("tessera account"), "\(missing.stderr)")
        #expect(!missing.stderr.contains("No account configured with that short name"))
        let unknownIssuer = try await socket.oidcToken("https://nowhere.example.org/")
        #expect(unknownIssuer.status != 0 && unknownIssuer.stderr.contains("no Tessera account for the issuer"), "\(unknownIssuer.stderr)")

        // Nothing secret in the log beyond what debug logging of the agent already allows: no token.
        #expect(!world.agent.log().contains(plain))
    }

    @Test func libraryAndPythonClients() async throws {
        let socket = try await loggedIn()
        let world = socket.world
        let program = "\(world.directory)/token_client"
        try await Command.check("/usr/bin/gcc", ["-o", program, "\(Self.clientDirectory)/token_client.c", "-loidc-agent"])
        let environment = world.environment.merging(["OIDC_SOCK": socket.path]) { $1 }
        let byName = try await Command.run(program, ["account", world.account], environment: environment)
        #expect(byName.succeeded && byName.stdout.contains("issuer=\(world.provider.issuer.absoluteString)"), "\(byName.stdout)")
        let token = try #require(AgentWorld.capture(#"token=(\S+)"#, in: byName.stdout))
        #expect(try await world.provider.tokenInfo(accessToken: token).active)
        let byIssuer = try await Command.run(program, ["issuer", world.provider.issuer.absoluteString], environment: environment)
        #expect(byIssuer.stdout.contains("token=\(token) "), "\(byIssuer.stdout)")
        let missing = try await Command.run(program, ["account", "nope"], environment: environment)
        #expect(missing.status == 1 && missing.stdout.contains("error=no account named \"nope\""), "\(missing.stdout)")

        let loaded = try await Command.run("/usr/bin/oidc-add", ["-a"], environment: environment)
        #expect(loaded.stdout.contains(world.account), "\(loaded.stdout) \(loaded.stderr)")

        let python = try await Command.run(Self.python, ["\(Self.clientDirectory)/client.py", socket.path,
                                                         #"{"request":"access_token","account":"\#(world.account)","min_valid_period":60}"#])
        #expect(python.stdout.contains(#""access_token":"\#(token)""#), "\(python.stdout) \(python.stderr)")
        // id_token: the same ID token GetIdToken hands out.
        let id = try await Command.run(Self.python, ["\(Self.clientDirectory)/client.py", socket.path,
                                                     #"{"request":"id_token","account":"\#(world.account)"}"#])
        let idToken = try #require(AgentWorld.capture(#""id_token":"([^"]+)""#, in: id.stdout), "\(id.stdout) \(id.stderr)")
        #expect(try await world.check("GetIdToken", world.account, "{}").contains(idToken))
        let info = try await Command.run(Self.python, ["\(Self.clientDirectory)/client.py", socket.path, #"{"request":"account_info"}"#])
        #expect(info.stdout.contains(#""\#(world.account)":true"#), "\(info.stdout) \(info.stderr)")
    }

    @Test func loginRequiredNotifiesAndFails() async throws {
        let directory = Self.socketDirectory()
        let world = try await AgentWorld(agentArguments: ["--oidc-agent-socket", "\(directory)/oidc-agent.sock"])
        try await world.addAccount()
        let result = try await Command.run("/usr/bin/oidc-token", ["--name=analysis.py", world.account],
                                           environment: world.environment.merging(["OIDC_SOCK": "\(directory)/oidc-agent.sock"]) { $1 })
        #expect(result.status != 0)
        #expect(result.stderr.contains("is not logged in"), "\(result.stderr)")
        #expect(result.stderr.contains("approve it, then run the command again"), "\(result.stderr)")
        // The same login as an interactive GetToken: a device flow, notified, naming the program.
        let log = world.agent.log()
        #expect(log.contains("device flow") && log.contains("/usr/bin/oidc-token"), "\(log)")
        #expect(log.contains("analysis.py"), "\(log)")
    }

    /// Stuck, garbage, 1 MB and half-closed clients beside oidc-token; 100 concurrent oidc-token
    /// calls; 50 socket and 50 D-Bus callers on an expired token cause one refresh.
    @Test func concurrencyAndOneRefresh() async throws {
        let socket = try await loggedIn(.init(accessTokenLifetime: 8))
        let world = socket.world
        func timed() async throws -> Duration {
            let start = ContinuousClock.now
            let result = try await socket.oidcToken(world.account)
            #expect(result.succeeded, "\(result.stderr)")
            return ContinuousClock.now - start
        }
        var alone: [Duration] = []
        for _ in 0..<7 { alone.append(try await timed()) }
        var hostile: [Int32] = []
        for _ in 0..<20 { hostile.append(try rawConnect(socket.path)) } // silent
        let garbage = try rawConnect(socket.path)
        _ = send(garbage, "GET / HTTP/1.0\r\n\r\n", 19, Int32(MSG_NOSIGNAL))
        let half = try rawConnect(socket.path)
        _ = send(half, "AAAAAAAAAA", 10, Int32(MSG_NOSIGNAL))
        shutdown(half, Int32(SHUT_WR))
        let big = try rawConnect(socket.path)
        let flood = Task.detached {
            let bytes = [UInt8](repeating: UInt8(ascii: "{"), count: 1 << 20)
            return bytes.withUnsafeBytes { send(big, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        var beside: [Duration] = []
        for _ in 0..<7 { beside.append(try await timed()) }
        let medianAlone = alone.sorted()[3], medianBeside = beside.sorted()[3]
        print("tesserad socket: oidc-token median alone \(medianAlone), beside hostile clients \(medianBeside)")
        #expect(medianBeside < medianAlone + .milliseconds(25), "alone \(alone) beside \(beside)")
        _ = await flood.value
        for fd in hostile + [garbage, half, big] { close(fd) }

        let environment = world.environment.merging(["OIDC_SOCK": socket.path]) { $1 }, account = world.account
        let start = ContinuousClock.now
        let results = try await ParallelCommands.run(Array(repeating: ["/usr/bin/oidc-token", account], count: 100),
                                                     environment: environment)
        print("tesserad socket: 100 concurrent oidc-token calls in \(ContinuousClock.now - start)")
        let failed = results.filter { !$0.succeeded }.map(\.stderr)
        #expect(results.count == 100 && failed.isEmpty, "\(failed.prefix(3))")

        // Let the token expire, then 50 + 50 callers at once.
        try await Task.sleep(for: .seconds(9))
        let before = try await world.provider.stats().refreshes
        let getToken = ["gdbus", "call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                        "--method", "io.tessera.Agent1.GetToken", account, "{'min-valid': <uint32 0>}"]
        let mixed = try await ParallelCommands.run((0..<100).map { $0 % 2 == 0 ? ["/usr/bin/oidc-token", account] : getToken },
                                                   environment: environment)
        let tokens = mixed.enumerated().map { index, result in
            index % 2 == 0 ? result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                : AgentWorld.capture(#"^\('([^']*)'"#, in: result.stdout) ?? "(GetToken failed: \(result.stderr))"
        }
        let after = try await world.provider.stats().refreshes
        print("tesserad socket: 50 socket + 50 D-Bus callers on an expired token: \(after - before) refresh(es), \(Set(tokens).count) distinct token(s)")
        #expect(after - before == 1)
        #expect(Set(tokens).count == 1 && !tokens[0].isEmpty, "\(Set(tokens).prefix(3))")
    }

    @Test func settingsCLIAndDirectoryAttacks() async throws {
        let world = try await AgentWorld()
        let tessera = try Self.tessera()
        func cli(_ arguments: String...) async throws -> CommandResult {
            try await Command.run(tessera, arguments, environment: world.environment)
        }
        #expect(try await cli("compat", "status").stdout.contains("off"))
        let env = try await cli("env")
        #expect(env.status == 1 && env.stderr.contains("tessera compat enable"), "\(env.stderr)")

        // An attacker's directory, a wrong mode, a symlink: refused with the reason; D-Bus keeps serving.
        let planted = Self.socketDirectory()
        mkdir(planted, 0o700)
        chown(planted, 65534, 65534)
        defer { rmdir(planted) }
        let refused = try await cli("compat", "enable", "\(planted)/oidc-agent.sock")
        #expect(refused.status == 2 && refused.stderr.contains("belongs to uid 65534"), "\(refused.stderr)")
        let open = Self.socketDirectory()
        mkdir(open, 0o777)
        chmod(open, 0o777)
        defer { rmdir(open) }
        #expect(try await cli("compat", "enable", "\(open)/oidc-agent.sock").stderr.contains("its mode is 777"))
        let target = Self.socketDirectory(), link = Self.socketDirectory()
        mkdir(target, 0o700)
        symlink(target, link)
        defer { unlink(link); rmdir(target) }
        #expect(try await cli("compat", "enable", "\(link)/oidc-agent.sock").stderr.contains("symbolic link"))
        #expect(try await world.call("ListAccounts").succeeded)
        #expect(try await cli("compat", "status").stdout.contains("off"))

        // Enabled: served, persisted, printed by `tessera env`, and back after a restart.
        let directory = Self.socketDirectory()
        let path = "\(directory)/oidc-agent.sock"
        let enabled = try await cli("compat", "enable", path)
        #expect(enabled.succeeded, "\(enabled.stderr)")
        #expect(try await cli("env").stdout == "export OIDC_SOCK=\(path)\n")
        try await world.addAccount()
        try await world.login()
        try await world.restartAgent()
        #expect(try await cli("compat", "status").stdout.contains("on at \(path)"))
        let token = try await Command.run("/usr/bin/oidc-token", [world.account],
                                          environment: world.environment.merging(["OIDC_SOCK": path]) { $1 })
        #expect(token.succeeded, "\(token.stderr)\n\(world.agent.log())")
        let settings = try await world.check("GetSettings")
        #expect(settings.contains("'oidc-agent-socket': <'\(path)'>"), "\(settings)")
        let bad = try await world.call("SetSettings", "{'oidc-agent-socket-active': <'/tmp/x'>}")
        #expect(AgentWorld.errorName(bad) == "InvalidArgument" && bad.stderr.contains("read-only"))
        let unknown = try await world.call("SetSettings", "{'colour': <'blue'>}")
        #expect(AgentWorld.errorName(unknown) == "InvalidArgument")
        #expect(try await cli("compat", "disable").succeeded)
        #expect(access(path, F_OK) != 0, "the socket stayed after disable")
    }

    @Test func anotherTesseradLeavesTheSocketAlone() async throws {
        // A second tesserad that cannot claim the name must not take over or remove the socket.
        let socket = try await loggedIn()
        let second = try await Command.run(try Binaries.path("tesserad"), ["--oidc-agent-socket", socket.path],
                                           environment: socket.world.environment, timeout: .seconds(15))
        #expect(second.status == 3)
        #expect(try await socket.oidcToken(socket.world.account).succeeded)
    }

    /// Debian's oidc-agent and oidc-gen create an account (password flow against the test
    /// provider); `oidc-gen -p | tessera account import --oidc-agent` moves it over, logged in.
    @Test func importFromOidcGen() async throws {
        let world = try await AgentWorld()
        let tessera = try Self.tessera()
        let home = "\(world.directory)/oidc-agent-home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let name = world.account
        let script = """
            set -e
            eval "$(oidc-agent)" >/dev/null
            trap 'oidc-agent -k >/dev/null 2>&1' EXIT
            oidc-gen \(name) --iss \(world.provider.issuer.absoluteString) --client-id \(TestProvider.passwordConfidential.id) \\
                --client-secret \(TestProvider.passwordConfidential.secret!) --flow=password --op-username alice \\
                --op-password alice-password --scope "openid offline_access" --pw-env --confirm-default --prompt=none -m >/dev/null
            oidc-gen -p \(name) --pw-env | "\(tessera)" account import --oidc-agent \(name)
            """
        let environment = world.environment.merging(["HOME": home, "OIDC_ENCRYPTION_PW": "test-encryption-password"]) { $1 }
        let imported = try await ParallelCommands.shell(script, environment: environment)
        #expect(imported.succeeded && imported.stdout.contains("Imported \(name) from oidc-agent"), "\(imported.stdout)")

        // Logged in without a new login: the refresh token is in the keyring and works.
        let stored = try #require(try await world.storedRefreshToken())
        let token = try await Command.run(tessera, ["token", name], environment: world.environment)
        #expect(token.succeeded, "\(token.stderr)\n\(world.agent.log())")
        let info = try await world.provider.tokenInfo(accessToken: token.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(info.active && info.username == "alice" && info.clientId == TestProvider.passwordConfidential.id)
        let accounts = try await world.check("ListAccounts")
        #expect(accounts.contains("'has-client-secret': <true>") && accounts.contains("'logged-in': <true>"), "\(accounts)")
        // Secrets only in the keyring: not in Tessera's files, not in the log.
        #expect(filesContaining([stored, TestProvider.passwordConfidential.secret!],
                                under: [world.environment["XDG_CONFIG_HOME"]!]).isEmpty)
        #expect(!world.agent.log().contains(stored))

        // Bad input: not JSON, no issuer, a terminal-less empty stdin — refused, nothing created.
        for (input, expected) in [("hello", "not a JSON object"), (#"{"client_id":"x"}"#, "no 'issuer_url'"), ("", "empty")] {
            let bad = try await Command.run(tessera, ["account", "import", "--oidc-agent", "other"], stdin: input,
                                            environment: world.environment)
            #expect(bad.status == 2 && bad.stderr.contains(expected), "\(input): \(bad.stderr)")
        }
        #expect(!(try await world.check("ListAccounts")).contains("'other'"))
    }

    /// The README's recipe for a remote machine: the socket forwarded with `ssh -R` (a private
    /// sshd on 127.0.0.1 stands in for the remote host: its own host key, an authorized key, a
    /// high port, this user), and Debian's real oidc-token on the far side gets the same tokens.
    @Test func oidcTokenThroughASocketForwardedWithSSH() async throws {
        let sshd = try Requirement.executable("/usr/sbin/sshd")
        let socket = try await loggedIn()
        let world = socket.world
        let directory = "\(world.directory)/ssh"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        for key in ["host_key", "client_key"] {
            try await Command.check("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", "\(directory)/\(key)"])
        }
        try FileManager.default.copyItem(atPath: "\(directory)/client_key.pub", toPath: "\(directory)/authorized_keys")
        // sshd needs its privilege separation directory when it runs as root.
        if getuid() == 0 { try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true) }
        var sshdProcess: BackgroundProcess?
        var port = 0
        for _ in 0..<5 where sshdProcess == nil {
            port = Int.random(in: 30000...49000)
            try """
                Port \(port)
                ListenAddress 127.0.0.1
                HostKey \(directory)/host_key
                AuthorizedKeysFile \(directory)/authorized_keys
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                PubkeyAuthentication yes
                PermitRootLogin prohibit-password
                StrictModes no
                UsePAM no
                PidFile \(directory)/sshd.pid
                AllowStreamLocalForwarding yes
                StreamLocalBindUnlink yes
                StreamLocalBindMask 0177
                """.write(toFile: "\(directory)/sshd_config", atomically: true, encoding: .utf8)
            let process = try BackgroundProcess(sshd, ["-D", "-e", "-f", "\(directory)/sshd_config"], logPath: "\(directory)/sshd.log")
            let deadline = ContinuousClock.now + .seconds(5)
            while process.isRunning && !process.log().contains("Server listening") && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            if process.isRunning && process.log().contains("Server listening") { sshdProcess = process } else { process.stop() }
        }
        let server = try #require(sshdProcess, "sshd did not start")
        defer { server.stop() }

        let remote = "\(directory)/remote.sock"
        func overSSH(_ command: String) async throws -> CommandResult {
            try await Command.run("/usr/bin/ssh", [
                "-F", "/dev/null", "-i", "\(directory)/client_key", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=\(directory)/known_hosts", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                "-p", String(port), "-R", "\(remote):\(socket.path)", "127.0.0.1", command,
            ], environment: world.environment, timeout: .seconds(30))
        }
        let local = try await socket.oidcToken(world.account)
        #expect(local.succeeded, "\(local.stderr)")
        let far = try await overSSH("OIDC_SOCK=\(remote) /usr/bin/oidc-token \(world.account)")
        #expect(far.succeeded, "\(far.stderr)\n\(server.log())")
        #expect(far.stdout == local.stdout, "the same cached token on the far side")
        let environment = try await overSSH("OIDC_SOCK=\(remote) /usr/bin/oidc-token -c \(world.account)")
        #expect(environment.stdout.contains("OIDC_ISS=\(world.provider.issuer.absoluteString)"), "\(environment.stdout) \(environment.stderr)")
        let missing = try await overSSH("OIDC_SOCK=\(remote) /usr/bin/oidc-token no-such-account")
        #expect(missing.status != 0 && missing.stderr.contains("no account named \"no-such-account\""), "\(missing.stderr)")
    }

    func rawConnect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(path.utf8) + [0]) }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else { throw TestSupportError.failed("connect \(path): \(errno)") }
        return fd
    }
}
