import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real `tesserad` binary, started for one test with its own config directory (under the
/// session's HOME, so the "no token on disk" grep covers it), a fake `xdg-open` first on PATH,
/// debug logging to a file outside HOME, and stopped by PID.
final class AgentProcess {
    let process: BackgroundProcess
    let environment: [String: String]

    /// `TESSERAD` if set, else `tesserad` next to the test bundle (both live in the build directory).
    static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["TESSERAD"], !path.isEmpty { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("tesserad").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw TestSupportError.missing("tesserad is not built next to the tests (swift build --build-tests) and TESSERAD is not set")
    }

    /// Starts tesserad and returns once it owns io.tessera.Agent1.
    init(environment: [String: String], logPath: String, arguments: [String] = []) async throws {
        self.environment = environment
        process = try BackgroundProcess(try Self.binary(), ["--log-level", "debug"] + arguments,
                                        environment: environment, logPath: logPath)
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let owner = try await Command.run(
                "gdbus", ["call", "--session", "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                          "--method", "org.freedesktop.DBus.NameHasOwner", "io.tessera.Agent1"],
                environment: environment)
            if owner.stdout.contains("true") { break }
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw TestSupportError.failed("tesserad did not claim its name: \(process.log())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func log() -> String { process.log() }

    func stop(signal: Int32 = SIGTERM) { process.stop(signal: signal) }

    /// Calls an `io.tessera.Agent1` method through gdbus, an independent client.
    func call(_ method: String, _ arguments: [String]) async throws -> CommandResult {
        try await Command.run(
            "gdbus", ["call", "--session", "--dest", "io.tessera.Agent1", "--object-path", "/io/tessera/Agent1",
                      "--method", "io.tessera.Agent1.\(method)"] + arguments,
            environment: environment, timeout: .seconds(60))
    }

    /// Calls and requires success; returns gdbus's GVariant text. A failure carries this agent's log.
    func check(_ method: String, _ arguments: [String]) async throws -> String {
        let result = try await call(method, arguments)
        guard result.succeeded else {
            throw TestSupportError.failed("\(method) failed: \(result.stderr)\n--- tesserad log:\n\(log())")
        }
        return result.stdout
    }
}

/// One test's world: a provider, a tesserad, a fake xdg-open, a unique account name, and gdbus /
/// busctl / secret-tool as the independent clients.
final class AgentWorld {
    let directory: String
    let provider: TestProvider
    var agent: AgentProcess!
    let environment: [String: String]
    let account: String
    let openedFile: String

    private let ownsProvider: Bool
    /// tesserad's extra arguments (kept for restarts).
    let agentArguments: [String]

    /// - Parameter ownProvider: a provider for this test alone (it may stop it); otherwise one
    ///   provider per settings is shared by the serialized suite, which saves a Django start per test.
    init(_ settings: TestProvider.Settings = .init(), ownProvider: Bool = false,
         busEnvironment: [String: String] = [:], agentArguments: [String] = []) async throws {
        self.agentArguments = agentArguments
        try Requirement.session()
        directory = try makeTemporaryDirectory("agent-test")
        ownsProvider = ownProvider
        provider = ownProvider ? try await TestProvider.start(settings) : try await SharedProviders.shared.provider(settings)
        account = "acct-\(UUID().uuidString.prefix(8).lowercased())"
        let bin = "\(directory)/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        openedFile = "\(directory)/opened"
        let fake = "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '\(openedFile)'\n"
        try fake.write(toFile: "\(bin)/xdg-open", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(bin)/xdg-open")
        let base = ProcessInfo.processInfo.environment
        let home = busEnvironment["HOME"] ?? base["HOME"] ?? directory
        var environment = busEnvironment
        environment["PATH"] = "\(bin):\(base["PATH"] ?? "/usr/bin:/bin")"
        environment["XDG_CONFIG_HOME"] = "\(home)/.config-\(account)"
        self.environment = environment
        agent = try await AgentProcess(environment: environment, logPath: "\(directory)/tesserad.log", arguments: agentArguments)
    }

    func restartAgent(signal: Int32 = SIGTERM) async throws {
        agent.stop(signal: signal)
        agent = try await AgentProcess(environment: environment, logPath: "\(directory)/tesserad-\(UUID().uuidString.prefix(4)).log",
                                       arguments: agentArguments)
    }

    deinit {
        agent?.stop()
        if ownsProvider { provider.stop() }
    }

    // MARK: Independent clients

    func call(_ method: String, _ arguments: String...) async throws -> CommandResult {
        try await agent.call(method, arguments)
    }

    /// Calls and requires success; returns gdbus's GVariant text.
    @discardableResult
    func check(_ method: String, _ arguments: String...) async throws -> String {
        try await agent.check(method, arguments)
    }

    /// The D-Bus error name of a failed call, e.g. `LoginRequired`.
    static func errorName(_ result: CommandResult) -> String? {
        guard !result.succeeded, let range = result.stderr.range(of: "io.tessera.Agent1.Error.") else { return nil }
        return String(result.stderr[range.upperBound...].prefix { $0 != ":" })
    }

    func addAccount(_ name: String? = nil, extra: String = "") async throws {
        let settings = "{'issuer': <'\(provider.issuer.absoluteString)'>, 'client-id': <'\(TestProvider.devicePublic.id)'>\(extra)}"
        try await check("AddAccount", name ?? account, settings)
    }

    struct Flow {
        let path: String
        let userCode: String
        let completeURI: String?
    }

    func startFlow(_ name: String? = nil) async throws -> Flow {
        let output = try await check("StartDeviceFlow", name ?? account, "{}")
        let path = try #require(Self.capture(#"objectpath '([^']+)'"#, in: output))
        let code = try #require(Self.capture(#"'user-code': <'([^']+)'>"#, in: output))
        return Flow(path: path, userCode: code, completeURI: Self.capture(#"'verification-uri-complete': <'([^']+)'>"#, in: output))
    }

    func flowState(_ flow: Flow) async throws -> String? {
        let result = try await Command.run(
            "busctl", ["--address=\(busAddress)", "get-property", "io.tessera.Agent1", flow.path,
                       "io.tessera.DeviceFlow1", "State"], environment: environment)
        return result.succeeded ? Self.capture(#"s "([a-z]+)""#, in: result.stdout) : nil
    }

    var busAddress: String {
        environment["DBUS_SESSION_BUS_ADDRESS"] ?? ProcessInfo.processInfo.environment["DBUS_SESSION_BUS_ADDRESS"] ?? ""
    }

    func waitForState(_ flow: Flow, _ wanted: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last: String?
        while ContinuousClock.now < deadline {
            last = try await flowState(flow)
            if last == wanted { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSupportError.timedOut("flow \(flow.path) state \(last ?? "?") ≠ \(wanted)\n\(agent.log())")
    }

    /// Device flow with headless approval, until the flow object says `completed`.
    func login(_ name: String? = nil) async throws {
        let flow = try await startFlow(name)
        try await provider.approve(userCode: flow.userCode)
        try await waitForState(flow, "completed")
    }

    struct Token {
        let value: String
        let expiresAt: Int64
    }

    func token(_ options: String = "{}", account name: String? = nil) async throws -> Token {
        let output = try await check("GetToken", name ?? account, options)
        let value = try #require(Self.capture(#"^\('([^']*)'"#, in: output))
        let expires = try #require(Self.capture(#"^\('[^']*', (?:int64 )?(-?\d+)"#, in: output).flatMap { Int64($0) })
        return Token(value: value, expiresAt: expires)
    }

    /// The refresh token in the keyring, read with secret-tool (nil when there is none).
    func storedRefreshToken(_ name: String? = nil) async throws -> String? {
        let result = try await Command.run(
            "secret-tool", ["lookup", "account", name ?? account, "kind", "refresh_token"], environment: environment)
        return result.succeeded && !result.stdout.isEmpty ? result.stdout : nil
    }

    static func capture(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines]),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              match.numberOfRanges > 1, let range = Range(match.range(at: 1), in: text) else { return nil }
        return String(text[range])
    }

    /// A raw refresh at the provider, bypassing tesserad: the provider's own verdict on a token.
    func providerRefresh(_ refreshToken: String) async throws -> (status: Int, body: String) {
        let discovery = try await URLSession.shared.data(from: provider.issuer.appendingPathComponent(".well-known/openid-configuration")).0
        let json = try #require(try JSONSerialization.jsonObject(with: discovery) as? [String: Any])
        let endpoint = try #require((json["token_endpoint"] as? String).flatMap(URL.init(string:)))
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        var form = URLComponents()
        form.queryItems = [URLQueryItem(name: "grant_type", value: "refresh_token"),
                           URLQueryItem(name: "refresh_token", value: refreshToken),
                           URLQueryItem(name: "client_id", value: TestProvider.devicePublic.id)]
        request.httpBody = Data((form.percentEncodedQuery ?? "").utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Revokes a token at the provider behind tesserad's back.
    func providerRevoke(_ token: String) async throws {
        let discovery = try await URLSession.shared.data(from: provider.issuer.appendingPathComponent(".well-known/openid-configuration")).0
        let json = try #require(try JSONSerialization.jsonObject(with: discovery) as? [String: Any])
        let endpoint = try #require((json["revocation_endpoint"] as? String).flatMap(URL.init(string:)))
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        var form = URLComponents()
        form.queryItems = [URLQueryItem(name: "token", value: token), URLQueryItem(name: "client_id", value: TestProvider.devicePublic.id)]
        request.httpBody = Data((form.percentEncodedQuery ?? "").utf8)
        _ = try await URLSession.shared.data(for: request)
    }
}

/// Providers shared across the serialized suite, one per settings. The session script stops
/// them with everything else it started when the run ends.
actor SharedProviders {
    static let shared = SharedProviders()
    private var providers: [String: TestProvider] = [:]

    func provider(_ settings: TestProvider.Settings) async throws -> TestProvider {
        let key = [settings.accessTokenLifetime, settings.refreshTokenLifetime, settings.rotateRefreshTokens ? 1 : 0,
                   settings.refreshTokenReuseProtection ? 1 : 0, settings.deviceInterval, settings.deviceCodeLifetime,
                   settings.dynamicRegistration ? 1 : 0, settings.iamMode ? 1 : 0].map(String.init).joined(separator: ",")
        if let provider = providers[key] { return provider }
        let provider = try await TestProvider.start(settings)
        providers[key] = provider
        return provider
    }
}

/// Every file under `roots` whose bytes contain one of `needles` (the "no token on disk" check).
func filesContaining(_ needles: [String], under roots: [String]) -> [String] {
    var hits: [String] = []
    let needleData = needles.filter { !$0.isEmpty }.map { Data($0.utf8) }
    for root in roots {
        guard let walker = FileManager.default.enumerator(atPath: root) else { continue }
        for case let relative as String in walker {
            let path = "\(root)/\(relative)"
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: path) else { continue }
            if needleData.contains(where: { data.range(of: $0) != nil }) { hits.append(path) }
        }
    }
    return hits
}
