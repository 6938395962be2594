import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport

/// Issue 14: `oidc-gen -p NAME | tessera account import --oidc-agent NAME` keeps what the account
/// needs beyond its login — the client's redirect URIs (so `login --browser` works with it) and
/// the registration data of a client oidc-gen registered (so `account remove` deletes it) —
/// with Debian's real oidc-agent and oidc-gen creating the account first, against the provider in
/// IAM mode (where oidc-gen registers its client, as on the IAM page).
@Suite(.serialized, .exclusiveSession) struct OIDCAgentImportTests {
    /// A loopback port nobody listens on, below the kernel's ephemeral range: oidc-gen takes
    /// only 1024–49151 in a redirect URI.
    static func freePort() throws -> Int {
        for _ in 0..<100 {
            let port = UInt16.random(in: 20000...49151)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            if bound { return Int(port) }
        }
        throw TestSupportError.failed("no free loopback port in 20000-49151")
    }

    /// RFC 7592 read of a registered client: 200 while it exists.
    static func clientStatus(_ uri: String, token: String) async throws -> Int {
        var request = URLRequest(url: URL(string: uri)!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    @Test func importKeepsRedirectURIsAndTheRegistration() async throws {
        let provider = try await TestProvider.start(.iam())
        let issuer = provider.issuer.absoluteString
        let directory = try makeTemporaryDirectory("oidc-agent-import")
        let home = "\(directory)/oidc-agent-home", bin = "\(directory)/bin", browserLog = "\(directory)/browser.log"
        for path in [home, bin] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        // The user's browser: logs in as alice and follows the redirect to the loopback port.
        try """
            #!/bin/sh
            exec '\(try TestBrowser.python())' '\(TestBrowser.script)' "$1" >> '\(browserLog)' 2>&1
            """.write(toFile: "\(bin)/xdg-open", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(bin)/xdg-open")
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let agent = try await RunningAgent(environment: ["PATH": "\(bin):\(path)", "PYTHONDONTWRITEBYTECODE": "1"])
        let tessera = try Binaries.path("tessera")
        let port = try Self.freePort()
        let redirect = "http://localhost:\(port)"

        // oidc-gen registers a client (device and code flows, the redirect URI on our port) at the
        // provider's registration endpoint, logs in with the device flow (approved here), and the
        // decrypted configuration goes straight into tessera: no file holds it.
        let script = """
            set -e
            eval "$(oidc-agent)" >/dev/null
            trap 'oidc-agent -k >/dev/null 2>&1' EXIT
            # Line-buffered: the user code must reach the log before oidc-gen ends (it waits for it).
            stdbuf -oL -eL oidc-gen moved --iss \(issuer) --flow=device --flow=code --redirect-uri \(redirect) \\
                --scope "openid offline_access" --pw-env --confirm-default --prompt=none > '\(directory)/gen.log' 2>&1 &
            generator=$!
            code=""
            for _ in $(seq 300); do
                code=$(grep -o -E '[A-Z0-9]{4}-?[A-Z0-9]{4}' '\(directory)/gen.log' | tail -1 || true)
                [ -n "$code" ] && break
                sleep 0.1
            done
            echo "user code: $code"
            curl -s "\(issuer)/test/device/$code/approve"
            wait $generator
            oidc-gen -p moved --pw-env | /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); \\
                print(json.dumps({k: d.get(k) for k in ("client_id", "registration_client_uri", "registration_access_token")}))' \\
                > '\(directory)/printed-keys'
            oidc-gen -p moved --pw-env | "\(tessera)" account import --oidc-agent moved
            # The same with what Tessera does not keep added (a password-flow user, a lab CA):
            # imported as another account (without the login and the registration, which stay
            # moved's alone), and the user told what stayed behind.
            oidc-gen -p moved --pw-env | /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); \\
                [d.pop(k) for k in ("refresh_token", "registration_access_token", "registration_client_uri")]; \\
                d.update(username="alice", password="alice-password", cert_path="/home/u/lab-ca.pem"); print(json.dumps(d))' \\
                | "\(tessera)" account import --oidc-agent extra 2> '\(directory)/extra.stderr'
            """
        let environment = ["HOME": home, "OIDC_ENCRYPTION_PW": "test-encryption-password"]
        let imported = try await ParallelCommands.shell(script, environment: environment, timeout: .seconds(90))
        let generated = (try? String(contentsOfFile: "\(directory)/gen.log", encoding: .utf8)) ?? ""
        #expect(imported.succeeded && imported.stdout.contains("Imported moved from oidc-agent"), "\(imported.stdout)\n\(generated)")
        // Everything this configuration holds is kept: nothing is reported as left behind.
        #expect(!imported.stdout.contains("not imported"), "\(imported.stdout)")
        let extra = try String(contentsOfFile: "\(directory)/extra.stderr", encoding: .utf8)
        #expect(extra == "tessera: not imported from oidc-agent (Tessera does not keep them): cert_path, password, username\n",
                "\(extra)")
        #expect(!extra.contains("alice-password"))
        #expect(try await CLI.run(["account", "remove", "extra"]).status == 0)
        let printed = try String(contentsOfFile: "\(directory)/printed-keys", encoding: .utf8)
        try? FileManager.default.removeItem(atPath: "\(directory)/printed-keys")
        let configuration = try #require(try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any], "\(printed)")
        let clientURI = try #require(configuration["registration_client_uri"] as? String, "oidc-gen registered the client")
        let clientID = try #require(configuration["client_id"] as? String)

        // The account: oidc-gen's client, its redirect URI in the file, its management URI listed
        // and the registration access token in the keyring (as for a client Tessera registered).
        let account = try #require(try await IAMPageTests.account("moved"))
        #expect(account["client-id"] as? String == clientID && account["logged-in"] as? Bool == true, "\(account)")
        #expect(account["registration-client-uri"] as? String == clientURI, "\(account)")
        let configHome = try Requirement.environment("XDG_CONFIG_HOME", hint: "scripts/session.sh sets it")
        let accounts = try String(contentsOfFile: "\(configHome)/tessera/accounts.json", encoding: .utf8)
        #expect(accounts.contains("\"redirect-uris\"") && accounts.contains(redirect), "\(accounts)")
        let registrationToken = try await Command.run("secret-tool", ["lookup", "account", "moved", "kind", "registration_token"])
        let token = registrationToken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token == configuration["registration_access_token"] as? String, "the registration access token is in the keyring")
        #expect(!accounts.contains(token), "never in the account file")
        #expect(try await CLI.run(["token", "moved"]).status == 0)

        // `login --browser` listens on the registered port and sends the URI as registered.
        let login = try await CLI.run(["login", "moved", "--browser", "--timeout", "60"], timeout: .seconds(60))
        #expect(login.status == 0, "\(login)\n\(agent.log)\n\((try? String(contentsOfFile: browserLog, encoding: .utf8)) ?? "")")
        #expect(login.stdout.contains("redirect_uri=\(redirect.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"),
                "\(login.stdout)")
        let browser = (try? String(contentsOfFile: browserLog, encoding: .utf8)) ?? ""
        #expect(browser.contains("callback status=200"), "\(browser)")

        // Removing the account deletes the client oidc-gen registered.
        #expect(try await Self.clientStatus(clientURI, token: token) == 200)
        let removed = try await CLI.run(["account", "remove", "moved"])
        #expect(removed.status == 0, "\(removed)")
        #expect(try await Self.clientStatus(clientURI, token: token) != 200, "the client is gone at the provider")
        #expect(agent.log.contains("deleted the client registered for moved"), "\(agent.log.suffix(1500))")
    }
}
