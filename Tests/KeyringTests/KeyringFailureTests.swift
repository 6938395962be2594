import Foundation
import Keyring
import Testing
import TestSupport

/// Keyring states the shared session must not be put in (locked, no Secret Service, a prompt
/// nobody answers), each on a private bus of its own. libsecret caches its bus connection per
/// process, so the store runs in `keyring-probe`, a child process pointed at that bus. Serialized:
/// each test starts daemons, and the machine is small.
@Suite(.serialized) struct KeyringFailureTests {
    /// One probe run: its output lines (`ok ...` / `error <case>: ...`) and how long it took.
    struct ProbeRun {
        var lines: [String]
        var elapsed: Duration
        func step(_ index: Int) -> String { index < lines.count ? lines[index] : "<no output>" }
    }

    static func probePath() throws -> String {
        // The probe is built next to the test bundle (swift build --build-tests builds every target).
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("keyring-probe").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestSupportError.missing("keyring-probe is not built next to \(directory.path): build with --build-tests")
    }

    func probe(_ session: KeyringSession, _ arguments: [String], stdin: String? = nil) async throws -> ProbeRun {
        let started = ContinuousClock.now
        let result = try await Command.run(
            try Self.probePath(), arguments, stdin: stdin, environment: session.environment, timeout: .seconds(20))
        #expect(result.status != 2, "probe misuse: \(result.stderr)")
        return ProbeRun(lines: result.stdout.split(separator: "\n").map(String.init), elapsed: ContinuousClock.now - started)
    }

    func secretToolAccounts(_ session: KeyringSession) async throws -> [String] {
        let result = try await Command.run(
            "secret-tool", ["search", "--all", "xdg:schema", "io.tessera.Secret"], environment: session.environment)
        return (result.stdout + "\n" + result.stderr).split(separator: "\n")
            .filter { $0.hasPrefix("attribute.account = ") }
            .map { String($0.dropFirst("attribute.account = ".count)) }
            .sorted()
    }

    /// A keyring on its own bus holding two accounts' secrets, then locked.
    func lockedSession(prompter: Bool = false) async throws -> KeyringSession {
        let session = try await KeyringSession(keyring: .unlocked, prompter: prompter)
        #expect(try await probe(session, ["store", "alice", "https://i.example", "refresh_token"], stdin: "rt-a").lines == ["ok"])
        #expect(try await probe(session, ["store", "bob", "https://i.example", "mytoken"], stdin: "mt-b").lines == ["ok"])
        try await session.lockDefaultCollection()
        return session
    }

    init() throws {
        _ = try Requirement.executable("dbus-daemon")
        _ = try Requirement.executable("gnome-keyring-daemon")
        _ = try Requirement.executable("secret-tool")
        _ = try Requirement.executable("gdbus")
        _ = try Self.probePath()
    }

    @Test func lockedCollectionGivesLockedForEveryReadOrChangeAndDeletesNothing() async throws {
        let session = try await lockedSession()
        // No prompter can be activated on this bus, so gnome-keyring dismisses the unlock prompt.
        let run = try await probe(session, [
            "--timeout", "5",
            "load", "alice", "https://i.example", "refresh_token", "+",
            "delete", "alice", "https://i.example", "refresh_token", "+",
            "delete-all", "bob", "+",
            "store", "carol", "https://i.example", "client_secret", "+",
            "list",
        ], stdin: "cs-c")
        for index in 0..<4 { #expect(run.step(index).hasPrefix("error locked: "), "step \(index): \(run.step(index))") }
        #expect(run.step(0).contains("unlock your keyring"))
        // Listing reads attributes only, which a locked collection still shows.
        #expect(run.step(4) == "ok alice|https://i.example|refresh_token bob|https://i.example|mytoken")
        #expect(try await secretToolAccounts(session) == ["alice", "bob"])
    }

    @Test func noSecretServiceGivesUnavailableQuicklyForEveryOperation() async throws {
        let session = try await KeyringSession(keyring: .none)
        let run = try await probe(session, [
            "--timeout", "10",
            "load", "alice", "https://i.example", "refresh_token", "+",
            "store", "alice", "https://i.example", "refresh_token", "+",
            "delete", "alice", "https://i.example", "refresh_token", "+",
            "delete-all", "alice", "+",
            "list",
        ], stdin: "rt")
        #expect(run.lines.count == 5)
        for line in run.lines {
            #expect(line.hasPrefix("error unavailable: "), "\(line)")
            #expect(line.contains("gnome-keyring or KeePassXC"))
        }
        #expect(run.elapsed < .seconds(5), "took \(run.elapsed)")
    }

    @Test func noSessionBusGivesUnavailable() async throws {
        let session = try await KeyringSession(keyring: .none)
        let result = try await Command.run(
            try Self.probePath(), ["load", "alice", "https://i.example", "refresh_token"],
            environment: session.environment.merging(
                ["DBUS_SESSION_BUS_ADDRESS": "unix:path=\(session.root)/no-such-bus"]) { $1 },
            timeout: .seconds(10))
        #expect(result.stdout.hasPrefix("error unavailable: "), "\(result.stdout)")
    }

    @Test func anUnansweredUnlockPromptTimesOutAndTheStoreKeepsServing() async throws {
        // gcr's prompter shows a real dialog on the session's Xvfb display; nobody answers it.
        _ = try Requirement.environment("DISPLAY", hint: "run through scripts/session.sh (it starts Xvfb)")
        _ = try Requirement.executable("/usr/libexec/gcr-prompter")
        let session = try await lockedSession(prompter: true)
        let run = try await probe(session, [
            "--timeout", "1",
            "load", "alice", "https://i.example", "refresh_token", "+",
            "list", "+",
            "delete", "bob", "https://i.example", "mytoken", "+",
        ])
        #expect(run.step(0).hasPrefix("error timeout: "), "\(run.step(0))")
        #expect(run.step(1) == "ok alice|https://i.example|refresh_token bob|https://i.example|mytoken")
        #expect(run.step(2).hasPrefix("error timeout: ") || run.step(2).hasPrefix("error locked: "), "\(run.step(2))")
        #expect(run.elapsed < .seconds(6), "took \(run.elapsed)")
        #expect(try await secretToolAccounts(session) == ["alice", "bob"])
    }

    /// libsecret 0.20 registers its enum types without a once-guard, so two workers making the
    /// process's first keyring calls at the same moment could leave every later store failing
    /// with no GError (seen in CI as "the Secret Service did not store the item"). libsecret is
    /// loaded by the first keyring call, and every call loads it first, serially: a fresh process
    /// (the probe) shows the types unregistered after creating a store, and all registered by the
    /// load alone, before any keyring call runs.
    @Test func loadingLibsecretRegistersItsEnumTypesBeforeAnyKeyringCall() async throws {
        let result = try await Command.run(
            try Self.probePath(), ["enum-types", "+", "load-library", "+", "enum-types"], timeout: .seconds(20))
        #expect(result.stdout == """
            missing SecretSchemaAttributeType SecretSchemaFlags SecretSearchFlags SecretServiceFlags \
            SecretCollectionFlags SecretItemFlags SecretError
            ok
            ok

            """, "\(result.stdout)\(result.stderr)")
    }

    /// libsecret is loaded at run time: without it every keyring call says the keyring is
    /// unavailable and why, and the process goes on (no crash, no hang).
    @Test func aMissingLibsecretMakesEveryCallUnavailable() async throws {
        let result = try await Command.run(
            try Self.probePath(),
            ["--library", "libsecret-missing.so.0", "list", "+", "load", "alice", "https://i.example", "refresh_token"],
            timeout: .seconds(20))
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(result.stdout)\(result.stderr)")
        for line in lines {
            #expect(line.hasPrefix("error unavailable: "), "\(line)")
            #expect(line.contains("cannot load libsecret: libsecret-missing.so.0"), "\(line)")
        }
        #expect(result.status == 1)
    }
}
