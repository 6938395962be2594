import Foundation
import TestSupport
import Testing

/// A 64 KiB tmpfs mounted over the account file's directory, so a test can make the disk full
/// or read-only under a running tesserad (issue 12, item 5). Needs root, as `make test` runs here.
final class SmallDisk {
    let path: String

    init(at path: String) async throws {
        guard getuid() == 0 else { throw TestSupportError.missing("mounting a tmpfs needs root") }
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        _ = try await Command.check("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", path])
    }

    /// Fills the file system to the last block: the next write fails with ENOSPC.
    func fill() async throws {
        _ = try await Command.run("dd", ["if=/dev/zero", "of=\(path)/filler", "bs=4k"])
    }

    func free() { unlink("\(path)/filler") }

    func readOnly(_ readOnly: Bool) async throws {
        _ = try await Command.check("mount", ["-o", "remount,\(readOnly ? "ro" : "rw")", path])
    }

    deinit {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = ["-l", path]
        try? umount.run()
        umount.waitUntilExit()
    }
}

extension AgentWorld {
    var accountDirectory: String { "\(environment["XDG_CONFIG_HOME"]!)/tessera" }
    var accountFile: String { "\(accountDirectory)/accounts.json" }

    func fileText(_ path: String? = nil) -> String? { try? String(contentsOfFile: path ?? accountFile, encoding: .utf8) }

    /// The accounts tesserad lists right now (memory), by name.
    func listedAccounts() async throws -> String { try await check("ListAccounts") }
}

/// Account changes are transactional: file first, keyring after, memory last, and a failed step
/// undoes the earlier ones. Every test here failed before the fix (see the commit message).
@Suite(.serialized, .exclusiveSession) struct AccountFileFaultTests {
    @Test func replaceOnAFullDiskKeepsTheRefreshTokenAndTheOldSettings() async throws {
        let world = try await AgentWorld()
        let disk = try await SmallDisk(at: world.accountDirectory)
        try await world.addAccount()
        try await world.login()
        let token = try #require(try await world.storedRefreshToken())
        let before = try #require(world.fileText())
        try await disk.fill()

        // A new client id would drop the refresh token (it is bound to its client).
        let result = try await world.call("AddAccount", world.account,
                                          "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'other-client'>, 'replace': <true>}")
        #expect(!result.succeeded)
        #expect(result.stderr.contains("accounts.json"))
        #expect(try await world.storedRefreshToken() == token)
        #expect(world.fileText() == before)
        #expect(!(try await world.listedAccounts()).contains("other-client"))

        try await disk.readOnly(true)
        #expect(!(try await world.call("AddAccount", world.account,
                                      "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'other-client'>, 'replace': <true>}")).succeeded)
        #expect(try await world.storedRefreshToken() == token)
        try await disk.readOnly(false)
        disk.free()
        _ = try await world.token("{'force': <true>}")
    }

    @Test func failedRemoveKeepsTheTokenAndTheAccount() async throws {
        let world = try await AgentWorld()
        let disk = try await SmallDisk(at: world.accountDirectory)
        try await world.addAccount()
        try await world.login()
        let token = try #require(try await world.storedRefreshToken())
        try await disk.readOnly(true)

        let result = try await world.call("RemoveAccount", world.account, "{'revoke': <false>}")
        #expect(!result.succeeded)
        #expect(try await world.storedRefreshToken() == token)
        #expect(try await world.listedAccounts().contains(world.account))
        try await disk.readOnly(false)
        _ = try await world.token("{'force': <true>}")
        _ = disk
    }

    @Test func failedAddLeavesNoAccountLive() async throws {
        let world = try await AgentWorld()
        let disk = try await SmallDisk(at: world.accountDirectory)
        try await disk.fill()
        let result = try await world.call(
            "AddAccount", world.account,
            "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'tessera-device-public'>, 'client-secret': <'s3cret-value'>}")
        #expect(!result.succeeded)
        #expect(!(try await world.listedAccounts()).contains(world.account))
        #expect(AgentWorld.errorName(try await world.call("GetToken", world.account, "{}")) == "NoSuchAccount")
        let secrets = try await Command.run("secret-tool", ["search", "--all", "account", world.account],
                                            environment: world.environment)
        #expect(!secrets.stdout.contains("client_secret") && !secrets.stderr.contains("client_secret"))
        disk.free()
        try await world.addAccount()
        #expect(try await world.listedAccounts().contains(world.account))
    }

    @Test func aFileWithABadEntryIsKeptUntilAWriteSucceedsAndEveryInvalidFileSurvives() async throws {
        let world = try await AgentWorld()
        let disk = try await SmallDisk(at: world.accountDirectory)
        try await world.addAccount()
        world.agent.stop()
        let good = try #require(world.fileText())
        let firstBad = good.replacingOccurrences(of: "\"accounts\" : [", with: "\"accounts\" : [{\"name\": \"broken\", \"issuer\": 7},")
        try firstBad.write(toFile: world.accountFile, atomically: false, encoding: .utf8)
        try await world.restartAgent()
        #expect(world.agent.log().contains("accounts.json: accounts[0].issuer: must be a string"))

        // The write fails: the user's file stays where it is, whole, and nothing is renamed.
        try await disk.fill()
        #expect(!(try await world.call("AddAccount", "second", "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'c'>}")).succeeded)
        disk.free()
        #expect(world.fileText() == firstBad)
        #expect(!FileManager.default.fileExists(atPath: world.accountFile + ".invalid"))
        try await world.restartAgent()
        #expect(world.agent.log().contains("accounts.json: accounts[0].issuer: must be a string"))
        #expect(try await world.listedAccounts().contains(world.account))

        // A write that succeeds keeps the bad file aside.
        try await world.check("AddAccount", "second", "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'c'>}")
        #expect(world.fileText(world.accountFile + ".invalid") == firstBad)

        // A second bad file gets its own name.
        world.agent.stop()
        let secondBad = try #require(world.fileText()).replacingOccurrences(
            of: "\"accounts\" : [", with: "\"accounts\" : [{\"name\": \"broken2\", \"issuer\": []},")
        try secondBad.write(toFile: world.accountFile, atomically: false, encoding: .utf8)
        try await world.restartAgent()
        try await world.check("RemoveAccount", "second", "{'revoke': <false>}")
        #expect(world.fileText(world.accountFile + ".invalid") == firstBad)
        let kept = try FileManager.default.contentsOfDirectory(atPath: world.accountDirectory)
            .filter { $0.hasPrefix("accounts.json.invalid") }
        #expect(kept.count == 2)
        #expect(kept.contains { world.fileText("\(world.accountDirectory)/\($0)") == secondBad })
        _ = disk
    }

    @Test func aTransientlyUnreadableFileIsNotReplaced() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        world.agent.stop()
        let original = try #require(world.fileText())
        // Root reads every file whatever its mode, so "unreadable" is a directory in its place.
        try FileManager.default.moveItem(atPath: world.accountFile, toPath: world.accountFile + ".aside")
        try FileManager.default.createDirectory(atPath: world.accountFile, withIntermediateDirectories: false)
        try await world.restartAgent()
        #expect(world.agent.log().contains("accounts.json"))

        // Still unreadable: a change is refused rather than writing over the file.
        let refused = try await world.call("AddAccount", "second", "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'c'>}")
        #expect(!refused.succeeded)
        #expect(refused.stderr.contains("accounts.json"))
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: world.accountFile, isDirectory: &isDirectory) && isDirectory.boolValue)

        // Readable again: the change keeps every account the file holds.
        try FileManager.default.removeItem(atPath: world.accountFile)
        try FileManager.default.moveItem(atPath: world.accountFile + ".aside", toPath: world.accountFile)
        try await world.check("AddAccount", "second", "{'issuer': <'\(world.provider.issuer.absoluteString)'>, 'client-id': <'c'>}")
        let text = try #require(world.fileText())
        #expect(text.contains("\"\(world.account)\"") && text.contains("\"second\""))
        #expect(try await world.listedAccounts().contains(world.account))
        _ = original
    }
}
