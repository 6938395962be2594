import DBus
import Foundation
import Logging
import Posix
import Synchronization
import Testing
import TestSupport
import TesseraCore
@testable import OIDCAgentProtocol
@testable import TesseraAgent

/// Who a caller is, read from the bus and the kernel against real processes: copied executables,
/// a Flatpak-like sandbox built with bwrap (what flatpak itself runs), forged sandboxes, recycled
/// pids, and peers of the oidc-agent socket.
@Suite(.serialized) struct CallerIdentityTests {
    /// A directory of copied programs (a copy at a path of its own is a program of its own).
    final class Programs {
        let directory: String
        init() throws {
            // realpath: /proc/PID/exe names the canonical path.
            let made = try makeTemporaryDirectory("caller-identity")
            directory = URL(fileURLWithPath: made).resolvingSymlinksInPath().path
        }
        func copy(_ program: String, as name: String) throws -> String {
            let path = "\(directory)/\(name)"
            try FileManager.default.copyItem(atPath: try Requirement.executable(program), toPath: path)
            return path
        }
        func write(_ name: String, _ text: String) throws -> String {
            let path = "\(directory)/\(name)"
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            return path
        }
        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// The unique name of the one connection on `bus` that is not `service`'s, once it appears.
    static func otherConnection(on service: Connection, besides known: Set<String> = []) async throws -> BusName {
        var found: BusName?
        try await eventually("the caller connects to the bus") {
            let names = try await service.call(destination: .bus, path: "/org/freedesktop/DBus", interface: .bus,
                                               member: "ListNames").decode([String].self)
            found = names.first { $0.hasPrefix(":") && $0 != service.uniqueName.rawValue && !known.contains($0) }
                .flatMap { try? BusName($0) }
            return found != nil
        }
        return try #require(found)
    }

    static let flatpakInfo = "[Application]\nname=org.example.Probe\nruntime=runtime/org.example.Platform/x86_64/1\n\n[Instance]\ninstance-id=1\n"

    /// gdbus at `program` connected to `bus` until stopped, optionally inside bwrap with `sandbox` arguments.
    /// `fileOnFD3` is opened as descriptor 3 for bwrap (BackgroundProcess passes no descriptor of ours).
    static func caller(_ program: String, bus: PrivateBus, sandbox: [String]? = nil, environment: [String: String] = [:],
                       log: String, fileOnFD3: String? = nil) throws -> BackgroundProcess {
        let monitor = [program, "monitor", "--address", bus.address, "--dest", "org.freedesktop.DBus"]
        guard let sandbox else {
            return try BackgroundProcess(program, Array(monitor.dropFirst()), environment: environment, logPath: log)
        }
        let bwrap = try Requirement.executable("bwrap")
        let base = ["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                    "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
                    "--ro-bind", bus.directory, bus.directory,
                    "--ro-bind", URL(fileURLWithPath: program).deletingLastPathComponent().path,
                    URL(fileURLWithPath: program).deletingLastPathComponent().path, "--die-with-parent"]
        guard let fileOnFD3 else {
            return try BackgroundProcess(bwrap, base + sandbox + monitor, environment: environment, logPath: log)
        }
        return try BackgroundProcess("/bin/sh", ["-c", "exec \"$0\" \"$@\" 3<\"$TESSERA_FD3\"", bwrap] + base + sandbox + monitor,
                                     environment: environment.merging(["TESSERA_FD3": fileOnFD3]) { $1 }, logPath: log)
    }

    // MARK: Executables

    @Test func aCopiedExecutableIsNamedByItsOwnPath() async throws {
        let programs = try Programs()
        let copy = try programs.copy("gdbus", as: "copied-caller")
        let bus = try PrivateBus()
        let service = try await Connection(address: bus.address)
        let policy = CallerPolicy(connection: service, logger: Logger(label: "test"))
        let process = try Self.caller(copy, bus: bus, log: "\(programs.directory)/caller.log")
        defer { process.stop() }

        let caller = try await policy.verify(try await Self.otherConnection(on: service))
        #expect(caller.executable == copy)
        #expect(caller.sandbox == nil)
        #expect(caller.application == .executable(copy))
        #expect(caller.description == "\(copy) (pid \(try #require(caller.processID)))")
        #expect(caller.program == "copied-caller (\(copy), pid \(try #require(caller.processID)))")
        await service.close()
    }

    // MARK: Flatpak

    @Test func aFlatpakSandboxIsNamedByItsAppID() async throws {
        let programs = try Programs()
        let copy = try programs.copy("gdbus", as: "sandboxed-caller")
        let info = try programs.write("flatpak-info", Self.flatpakInfo)
        let bus = try PrivateBus()
        let service = try await Connection(address: bus.address)
        let policy = CallerPolicy(connection: service, logger: Logger(label: "test"))
        // As flatpak does it: the key file copied onto the sandbox's tmpfs root, read-only.
        let process = try Self.caller(copy, bus: bus, sandbox: ["--ro-bind-data", "3", "/.flatpak-info"],
                                      log: "\(programs.directory)/caller.log", fileOnFD3: info)
        defer { process.stop() }

        let caller = try await policy.verify(try await Self.otherConnection(on: service))
        #expect(caller.sandbox == .flatpak("org.example.Probe"), "\(caller) — \(process.log())")
        #expect(caller.application == .flatpak("org.example.Probe"))
        #expect(caller.executable == copy)
        let pid = try #require(caller.processID)
        #expect(caller.description == "flatpak:org.example.Probe (\(copy), pid \(pid))")
        #expect(caller.program == "flatpak:org.example.Probe (\(copy), pid \(pid))")
        #expect(caller.describe(hint: "Evil\n\u{1b}[2JApp") == "flatpak:org.example.Probe (\(copy), pid \(pid)) (calls itself “Evil[2JApp”)")
        await service.close()
    }

    /// End to end with tesserad: a login started by a sandboxed caller names it by its app id in
    /// the notification, its executable and pid beside it.
    @Test func aSandboxedCallersLoginNotificationNamesItsAppID() async throws {
        let programs = try Programs()
        let copy = try programs.copy("gdbus", as: "sandboxed-gdbus")
        let info = try programs.write("flatpak-info", Self.flatpakInfo)
        let session = try await KeyringSession(keyring: .unlocked)
        let server = try await RecordingNotificationServer(address: session.busAddress, capabilities: ["body"])
        let world = try await AgentWorld(busEnvironment: session.environment)
        try await world.addAccount()
        let socket = String(session.busAddress.dropFirst("unix:path=".count))
        let busDirectory = URL(fileURLWithPath: socket).deletingLastPathComponent().path
        let sandbox = ["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                       "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
                       "--ro-bind", busDirectory, busDirectory, "--ro-bind", programs.directory, programs.directory,
                       "--ro-bind-data", "3", "/.flatpak-info", "--die-with-parent"]
        let call = [copy, "call", "--address", session.busAddress, "--dest", "io.tessera.Agent1", "--object-path",
                    "/io/tessera/Agent1", "--method", "io.tessera.Agent1.StartDeviceFlow", world.account, "{}"]
        let result = try await Command.run("/bin/sh", ["-c", "exec \"$0\" \"$@\" 3<\"$TESSERA_FD3\"",
                                                       try Requirement.executable("bwrap")] + sandbox + call,
                                           environment: ["TESSERA_FD3": info])
        #expect(result.succeeded, "\(result.stderr)")
        try await eventually("the login notification") { !server.notifications.isEmpty }
        let body = try #require(server.notifications.first?.body)
        #expect(body.contains("Requested by flatpak:org.example.Probe (\(copy), pid "), "\(body)")
        #expect(world.agent.log().contains("flatpak:org.example.Probe"), "the log names the verified caller too")
    }

    /// Naming itself like a Flatpak app (its file name, FLATPAK_ID, the hint) makes nothing a Flatpak;
    /// nor does a `.flatpak-info` that is a symlink out of the sandbox or a file that is not flatpak's.
    @Test func forgedFlatpakIdentitiesAreNotBelieved() async throws {
        let programs = try Programs()
        let named = try programs.copy("gdbus", as: "org.example.Probe")
        let forged = try programs.write("forged-info", Self.flatpakInfo.replacingOccurrences(of: "Probe", with: "Forged"))
        // On a tmpfs outside the sandbox: followed from tesserad's root, the link would find it.
        let shm = "/dev/shm/tessera-forged-\(UUID().uuidString.prefix(8))"
        try Self.flatpakInfo.replacingOccurrences(of: "Probe", with: "Forged").write(toFile: shm, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: shm) }
        let bus = try PrivateBus()
        let service = try await Connection(address: bus.address)
        let policy = CallerPolicy(connection: service, logger: Logger(label: "test"))

        let cases: [(String, [String]?, [String: String])] = [
            ("named like the app, outside any sandbox", nil, ["FLATPAK_ID": "org.example.Forged"]),
            ("a symlink to a file outside the sandbox", ["--symlink", shm, "/.flatpak-info"], [:]),
            ("a file bind-mounted from a disk, not written by flatpak", ["--ro-bind", forged, "/.flatpak-info"], [:]),
        ]
        var known: Set<String> = []
        for (what, sandbox, environment) in cases {
            let process = try Self.caller(named, bus: bus, sandbox: sandbox, environment: environment,
                                          log: "\(programs.directory)/caller-\(known.count).log")
            defer { process.stop() }
            let name = try await Self.otherConnection(on: service, besides: known)
            known.insert(name.rawValue)
            let caller = try await policy.verify(name)
            #expect(caller.sandbox == nil, "\(what): \(caller)")
            #expect(caller.application == .executable(named), "\(what): \(caller)")
        }
        await service.close()
    }

    @Test func flatpakInfoParsing() {
        func id(_ text: String) -> String? { CallerIdentity.flatpakAppID(info: Array(text.utf8)) }
        #expect(id(Self.flatpakInfo) == "org.example.Probe")
        #expect(id("# comment\n[Application]\r\n name = org.example.My-App \r\n") == "org.example.My-App")
        #expect(id("[Runtime]\nname=org.example.Platform\n") == nil)
        #expect(id("[Instance]\nname=org.example.Probe\n[Application]\n") == nil)
        for bad in ["org.example", "org..example.App", "org.example.1App", "org.ex-ample.App", "../../etc/passwd",
                    "org.example.App\u{1b}", "org.example.Äpp", String(repeating: "a.", count: 130) + "b"] {
            #expect(id("[Application]\nname=\(bad)\n") == nil, "\(bad)")
        }
    }

    @Test func flatpakInfoOnlyOnTmpfsMounts() {
        func onTmpfs(_ text: String) -> Bool { CallerIdentity.flatpakInfoIsOnTmpfs(mountInfo: Array(text.utf8)) }
        let root = "69 46 0:40 /newroot / rw,nosuid,nodev,relatime - tmpfs tmpfs rw\n"
        let usr = "70 69 254:0 /usr /usr ro,nosuid,nodev,relatime - ext4 /dev/vda rw\n"
        let info = "82 69 0:40 /bindfileQdVpmv//deleted /.flatpak-info ro,nosuid,nodev,relatime - tmpfs tmpfs rw\n"
        #expect(onTmpfs(root + usr + info)) // what bwrap --ro-bind-data (flatpak) makes
        #expect(onTmpfs(root + usr))
        #expect(!onTmpfs(root + usr + "83 69 0:50 / /.flatpak-info ro master:1 - fuse.evil evil rw\n"))
        #expect(!onTmpfs("22 1 0:50 / / rw shared:1 - fuse.evil evil rw\n" + info))
        #expect(!onTmpfs(root + "90 69 0:51 / / rw - ext4 /dev/vda rw\n")) // a later mount on top of /
        #expect(!onTmpfs(usr))
        #expect(!CallerIdentity.flatpakInfoIsOnTmpfs(mountInfo: nil))
    }

    // MARK: Snap

    @Test func snapLabels() {
        #expect(CallerIdentity.snapName(label: "snap.firefox.firefox (enforce)") == "firefox")
        #expect(CallerIdentity.snapName(label: "snap.firefox.firefox (enforce)\n") == "firefox")
        #expect(CallerIdentity.snapName(label: "snap.thunderbird.hook.configure (enforce)\0") == "thunderbird")
        #expect(CallerIdentity.snapName(label: "snap.my-app_beta.daemon (enforce)") == "my-app_beta")
        #expect(CallerIdentity.snapName(label: "snap.firefox.firefox") == "firefox") // the bus's label, mode split off
        for label in ["unconfined", "snap.firefox.firefox (complain)", "/usr/bin/firefox (enforce)",
                      "snap-update-ns.firefox (enforce)", "snap.firefox (enforce)", "snap.Firefox.firefox (enforce)",
                      "snap.-x.app (enforce)", "snap.a.app (enforce)", "snap.fire--fox.app (enforce)",
                      "snap.firefox.app.extra (enforce)", "snap.x_TOOLONGKEYXX.app (enforce)",
                      "system_u:system_r:snap.firefox.firefox:s0", "snap.firefox.fire fox (enforce)", ""] {
            #expect(CallerIdentity.snapName(label: label) == nil, "\(label)")
        }
    }

    // MARK: Recycled pids

    /// Starts `program` so that it gets `pid` (by setting the kernel's last pid, as CRIU does);
    /// retries when another process takes that pid first. Needs root.
    static func start(_ program: String, at pid: Int32, log: String) throws -> BackgroundProcess? {
        for _ in 0..<200 {
            guard (try? "\(pid - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)) != nil else {
                return nil
            }
            let process = try BackgroundProcess(program, ["30"], logPath: log)
            if process.pid == pid { return process }
            process.stop(signal: SIGKILL)
        }
        return nil
    }

    /// The caller exits after the bus (or the kernel) told us its pid and another program gets
    /// that pid before we look: that program must never be taken for the caller.
    @Test func aRecycledPidIsNotMistakenForTheCaller() async throws {
        let programs = try Programs()
        let first = try programs.copy("sleep", as: "the-caller")
        let second = try programs.copy("sleep", as: "another-program")
        let caller = try BackgroundProcess(first, ["30"], logPath: "\(programs.directory)/first.log")
        let pid = caller.pid
        try await Task.sleep(for: .milliseconds(30))
        let alive = CallerIdentity.identify(processID: UInt32(pid), handle: nil, handleTakenAtConnect: false,
                                            securityLabel: nil, askedAt: Posix.sinceBoot())
        #expect(alive.executable == first)
        // The pid arrives (as from GetConnectionCredentials) and a pidfd is taken, as a bus or the
        // kernel does at connect time; then the caller exits and is reaped.
        let askedAt = Posix.sinceBoot()
        let pinned = try ProcessHandle.open(pid)
        caller.stop(signal: SIGKILL)
        try await Task.sleep(for: .milliseconds(30))
        guard let impostor = try Self.start(second, at: pid, log: "\(programs.directory)/second.log") else {
            Issue.record("could not make pid \(pid) recycled (needs root for /proc/sys/kernel/ns_last_pid)")
            return
        }
        defer { impostor.stop(signal: SIGKILL) }
        #expect(Posix.readLink("/proc/\(pid)/exe") == second)

        // A pid alone: the impostor started after the caller was asked about.
        let byPid = CallerIdentity.identify(processID: UInt32(pid), handle: nil, handleTakenAtConnect: false,
                                            securityLabel: nil, askedAt: askedAt)
        #expect(byPid == .unknown, "\(byPid)")
        // The connect-time pidfd still names the exited caller, not the impostor.
        let byHandle = CallerIdentity.identify(processID: UInt32(pid), handle: pinned, handleTakenAtConnect: true,
                                               securityLabel: nil, askedAt: nil)
        #expect(byHandle == .unknown, "\(byHandle)")
        // The same pid asked about now is the impostor, correctly named (the checks refuse only the stale case).
        let now = CallerIdentity.identify(processID: UInt32(pid), handle: nil, handleTakenAtConnect: false,
                                          securityLabel: nil, askedAt: Posix.sinceBoot())
        #expect(now.executable == second)
    }

    @Test func aCallerThatLeftTheBusIsRefusedNotGuessed() async throws {
        let programs = try Programs()
        let copy = try programs.copy("gdbus", as: "short-lived")
        let bus = try PrivateBus()
        let service = try await Connection(address: bus.address)
        let policy = CallerPolicy(connection: service, logger: Logger(label: "test"))
        let process = try Self.caller(copy, bus: bus, log: "\(programs.directory)/caller.log")
        let name = try await Self.otherConnection(on: service)
        process.stop(signal: SIGKILL)
        try await eventually("the caller's name is gone") { try await service.nameOwner(of: name) == nil }
        await #expect(throws: AgentError.self) { try await policy.verify(name) }
        await service.close()
    }

    // MARK: oidc-agent socket peers

    /// A peer of the compatibility socket is named exactly as a bus caller: Debian's oidc-token,
    /// copied to a path of its own, is that path, and its application hint stays a hint; inside a
    /// Flatpak-like sandbox it is the sandbox's app id.
    @Test func socketPeersGetTheSameIdentity() async throws {
        let programs = try Programs()
        let copy = try programs.copy("oidc-token", as: "socket-caller")
        let path = "\(programs.directory)/agent/oidc-agent.sock"
        let seen = Mutex<[(VerifiedCaller, PeerCredentials)]>([])
        let server = try OIDCAgentSocketServer(socket: try ListeningSocket(path: path), logger: Logger(label: "test")) { _, peer in
            seen.withLock { $0.append((OIDCAgentAnswers.caller(from: peer), peer)) }
            return .failure(error: "identity test", info: nil)
        }
        server.start()
        let result = try await Command.run(copy, ["--name=Claimed App", "some-account"], environment: ["OIDC_SOCK": path])
        // The same program inside a Flatpak-like sandbox (the socket's directory bound in).
        let info = try programs.write("flatpak-info", Self.flatpakInfo)
        let sandbox = ["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                       "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
                       "--bind", programs.directory, programs.directory, "--ro-bind-data", "3", "/.flatpak-info", "--die-with-parent"]
        let sandboxed = try await Command.run(
            "/bin/sh", ["-c", "exec \"$0\" \"$@\" 3<\"$TESSERA_FD3\"", try Requirement.executable("bwrap")] + sandbox
                + [copy, "some-account"],
            environment: ["OIDC_SOCK": path, "TESSERA_FD3": info])
        await server.stop()
        let callers = seen.withLock { $0 }
        #expect(callers.count == 2, "oidc-token in the sandbox got: \(sandboxed.stdout) \(sandboxed.stderr)")
        if callers.count == 2 {
            #expect(callers[1].0.sandbox == .flatpak("org.example.Probe"), "\(callers[1].0)")
            #expect(callers[1].0.executable == copy)
        }
        let (caller, peer) = try #require(callers.first, "oidc-token got: \(result.stdout) \(result.stderr)")
        #expect(caller.executable == copy)
        #expect(caller.application == .executable(copy))
        #expect(caller.userID == getuid())
        #expect(peer.processPinnedAtConnect, "SO_PEERPIDFD on this kernel (\(peer))")
        #expect(caller.describe(hint: "Claimed App") == "\(copy) (pid \(peer.processID)) (calls itself “Claimed App”)")
    }

    /// A peer that connects and exits before we look: no identity, and none of the process that
    /// gets its pid afterwards.
    @Test func anExitedSocketPeerHasNoIdentity() async throws {
        let programs = try Programs()
        let python = try Requirement.executable("/usr/bin/python3")
        let other = try programs.copy("sleep", as: "after-the-peer")
        let path = "\(programs.directory)/peer/peer.sock"
        let listener = try ListeningSocket(path: path)
        defer { listener.closeAndUnlink() }
        try await Command.check(python, ["-c", "import socket; s = socket.socket(socket.AF_UNIX); s.connect('\(path)')"])
        let fd = accept(listener.descriptor, nil, nil)
        #expect(fd >= 0)
        defer { close(fd) }
        let peer = try #require(PeerCredentials.of(fd))
        #expect(OIDCAgentAnswers.caller(from: peer).executable == nil)
        guard let impostor = try Self.start(other, at: peer.processID, log: "\(programs.directory)/other.log") else {
            Issue.record("could not recycle pid \(peer.processID)")
            return
        }
        defer { impostor.stop(signal: SIGKILL) }
        let caller = OIDCAgentAnswers.caller(from: peer)
        #expect(caller.executable == nil && caller.application == nil, "\(caller)")
        #expect(caller.program == "an unidentified program (pid \(peer.processID))")
    }
}
