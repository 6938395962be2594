import Foundation
import Testing
import TestSupport

/// `tessera login --password` (password on stdin) and `tessera status` against the real service:
/// the service's version, the login state from the keyring and the cached tokens' expiry.
extension CommandLineTests {
    @Test func passwordLoginFromStdinThenStatusShowsVersionLoginStateAndExpiry() async throws {
        let provider = try await TestProvider.start()
        let agent = try await RunningAgent()
        let name = "legacy-\(UUID().uuidString.prefix(6).lowercased())"
        let added = try await CLI.run(["account", "add", name, "--issuer", provider.issuer.absoluteString,
                                       "--client-id", TestProvider.passwordPublic.id])
        #expect(added.status == 0, "\(added)")

        let fresh = try await CLI.run(["status"])
        let version = try await Command.check(try Binaries.path("tesserad"), ["--version"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(fresh.status == 0 && fresh.stdout.contains("Service: \(version) on the session bus"), "\(fresh)")
        #expect(try #require(Self.row(name, in: fresh.stdout)).contains("login required"), "\(fresh)")

        // A wrong password: exit 1, one line saying what is wrong, the password not echoed.
        let wrongPassword = "not-\(UUID().uuidString)"
        let wrong = try await CLI.run(["login", name, "--password"], stdin: "alice\n\(wrongPassword)\n")
        #expect(wrong.status == 1, "\(wrong)")
        #expect(wrong.stderr.contains("user name or password"), "\(wrong)")
        #expect(!(wrong.stdout + wrong.stderr).contains(wrongPassword))

        let password = try #require(TestProvider.users["alice"])
        let login = try await CLI.run(["login", name, "--password"], stdin: "alice\n\(password)\n")
        #expect(login.status == 0, "\(login)\n\(agent.log)")
        #expect(login.stdout.contains("Logged in to \(name)."))
        #expect(login.stderr.contains("deprecated"))
        #expect(!(login.stdout + login.stderr).contains(password))
        #expect(!agent.log.contains(password) && !agent.log.contains(wrongPassword))

        let token = try await CLI.run(["token", name])
        #expect(token.status == 0, "\(token)")
        let value = token.stdout.trimmingCharacters(in: .newlines)
        #expect(try await provider.tokenInfo(accessToken: value).username == "alice")

        let status = try await CLI.run(["status"])
        let row = try #require(Self.row(name, in: status.stdout), "\(status)")
        #expect(row.contains("logged in") && row.contains("expires in"), "\(status)")
        #expect(!status.stdout.contains(value))
        let json = try await CLI.run(["status", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let service = try #require(object["service"] as? [String: Any])
        #expect("tesserad \(service["version"] as? String ?? "?")" == version)
        let accounts = try #require(object["accounts"] as? [[String: Any]])
        let entry = try #require(accounts.first { $0["name"] as? String == name })
        #expect(entry["logged-in"] as? Bool == true)
        let expiries = try #require(entry["token-expires-at"] as? [Int])
        #expect(expiries.count == 1 && expiries[0] > Int(Date().timeIntervalSince1970), "\(entry)")
        #expect(!json.stdout.contains(value))
        #expect(try await CLI.run(["account", "remove", name]).status == 0)
    }

    static func row(_ account: String, in table: String) -> String? {
        table.split(separator: "\n").first { $0.hasPrefix(account + " ") }.map(String.init)
    }
}
