import Foundation
import TestSupport
import Testing

/// Issue 17's policy store through the real tesserad: GetPolicy/SetPolicy/SetApplicationPolicy/
/// ForgetApplication with gdbus and `tessera policy`, persisted with the account (rename carries
/// it, remove drops it, a restart keeps it), and bad input refused by name.
@Suite(.serialized, .exclusiveSession) struct ConsentPolicyTests {
    func tessera(_ world: AgentWorld, _ arguments: [String]) async throws -> CommandResult {
        try await Command.run(try Binaries.path("tessera"), arguments, environment: world.environment, timeout: .seconds(30))
    }

    var accountsFile: (AgentWorld) -> String { { "\($0.environment["XDG_CONFIG_HOME"]!)/tessera/accounts.json" } }

    @Test func policiesAreSetListedPersistedRenamedAndRemovedWithTheirAccount() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        // A new account: allow, no rules (today's behaviour), and the file stays schema 1.
        #expect(try await world.check("GetPolicy", world.account) == "('allow', @a(ss) [])\n")
        #expect(try String(contentsOfFile: accountsFile(world), encoding: .utf8).contains("\"schema\" : 1"))

        try await world.check("SetPolicy", world.account, "ask")
        try await world.check("SetApplicationPolicy", world.account, "exe:/usr/bin/rclone", "allow")
        try await world.check("SetApplicationPolicy", world.account, "flatpak:org.example.App", "deny")
        // The CLI: a plain absolute path means exe:.
        let allow = try await tessera(world, ["policy", "allow", world.account, "/opt/tool/bin/tool"])
        #expect(allow.succeeded, "\(allow.stderr)")
        let expected = "('ask', [('exe:/opt/tool/bin/tool', 'allow'), ('exe:/usr/bin/rclone', 'allow'), ('flatpak:org.example.App', 'deny')])\n"
        #expect(try await world.check("GetPolicy", world.account) == expected)
        let text = try String(contentsOfFile: accountsFile(world), encoding: .utf8)
        #expect(text.contains("\"schema\" : 2") && text.contains("\"flatpak:org.example.App\" : \"deny\""))
        let mode = (try FileManager.default.attributesOfItem(atPath: accountsFile(world))[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)

        let list = try await tessera(world, ["policy", "list", world.account])
        #expect(list.succeeded && list.stdout.contains("(default)") && list.stdout.contains("flatpak:org.example.App"))

        // A restart reads it back.
        try await world.restartAgent()
        #expect(try await world.check("GetPolicy", world.account) == expected)

        // Forget drops one rule; a rule that is not there is a clear error.
        let forget = try await tessera(world, ["policy", "forget", world.account, "exe:/opt/tool/bin/tool"])
        #expect(forget.succeeded, "\(forget.stderr)")
        let again = try await world.call("ForgetApplication", world.account, "exe:/opt/tool/bin/tool")
        #expect(AgentWorld.errorName(again) == "InvalidArgument" && again.stderr.contains("has no rule for exe:/opt/tool/bin/tool"))

        // Rename carries the policy; the old name has none.
        let renamed = "\(world.account)-renamed"
        try await world.check("RenameAccount", world.account, renamed)
        #expect(try await world.check("GetPolicy", renamed).hasPrefix("('ask', [('exe:/usr/bin/rclone', 'allow')"))
        #expect(AgentWorld.errorName(try await world.call("GetPolicy", world.account)) == "NoSuchAccount")

        // Replacing the account's settings keeps its policy; removing it drops it.
        try await world.addAccount(renamed, extra: ", 'replace': <true>")
        #expect(try await world.check("GetPolicy", renamed).hasPrefix("('ask', "))
        try await world.check("RemoveAccount", renamed, "{'revoke': <false>}")
        try await world.addAccount(renamed)
        #expect(try await world.check("GetPolicy", renamed) == "('allow', @a(ss) [])\n")
    }

    @Test func badInputIsRefusedByNameAndChangesNothing() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        try await world.check("SetPolicy", world.account, "deny")
        let cases: [(method: String, arguments: [String], error: String, message: String)] = [
            ("GetPolicy", ["no-such-account"], "NoSuchAccount", "no-such-account"),
            ("SetPolicy", ["no-such-account", "allow"], "NoSuchAccount", "no-such-account"),
            ("SetPolicy", [world.account, "maybe"], "InvalidArgument", "invalid default: \"maybe\" is not a decision; use one of allow, ask, deny"),
            ("SetApplicationPolicy", [world.account, "exe:relative/path", "allow"], "InvalidArgument", "invalid application"),
            ("SetApplicationPolicy", [world.account, "/usr/bin/x", "allow"], "InvalidArgument", "use exe:/absolute/path"),
            ("SetApplicationPolicy", [world.account, "bogus:x", "allow"], "InvalidArgument", "is not an application key"),
            ("SetApplicationPolicy", [world.account, "exe:/usr/bin/x", "always"], "InvalidArgument", "invalid decision"),
            ("SetApplicationPolicy", ["https://not-an-account.example", "exe:/usr/bin/x", "allow"], "InvalidArgument", "not an issuer URL"),
            ("ForgetApplication", [world.account, "snap:"], "InvalidArgument", "invalid application"),
        ]
        for test in cases {
            let result = try await world.agent.call(test.method, test.arguments)
            #expect(AgentWorld.errorName(result) == test.error, "\(test.method) \(test.arguments): \(result.stderr)")
            #expect(result.stderr.contains(test.message), "\(test.method) \(test.arguments): \(result.stderr)")
        }
        // Nothing changed, and the service still answers.
        #expect(try await world.check("GetPolicy", world.account) == "('deny', @a(ss) [])\n")
        // The CLI refuses what names no program before calling.
        let usage = try await tessera(world, ["policy", "allow", world.account, "rclone"])
        #expect(usage.status == 2 && usage.stderr.contains("names no program"))
        let decision = try await tessera(world, ["policy", "set", world.account, "sometimes"])
        #expect(decision.status == 2)
    }

    @Test func aDamagedPolicyInTheFileIsReportedAndDenies() async throws {
        let world = try await AgentWorld()
        try await world.addAccount()
        try await world.check("SetPolicy", world.account, "ask")
        world.agent.stop()
        let path = accountsFile(world)
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "\"ask\"", with: "\"perhaps\"")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try await world.restartAgent()
        #expect(world.agent.log().contains("policy.default: must be one of allow, ask, deny"))
        #expect(try await world.check("GetPolicy", world.account) == "('deny', @a(ss) [])\n")
    }
}
