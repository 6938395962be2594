import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Tessera's own test OpenID provider: django-oauth-toolkit 3.4.1 patched to follow RFC 8628
/// (Tests/Provider, run from `<package root>/.venv`), one process per instance on a free
/// loopback port with its own copy of a seeded sqlite database. Stopped on `stop()` or deinit.
///
/// ```swift
/// let provider = try await TestProvider.start(.init(deviceInterval: 1))
/// // OIDCClient(issuer: provider.issuer, credentials: .publicClient(TestProvider.devicePublic.id))
/// try await provider.approve(userCode: flow.userCode)
/// ```
///
/// Seeded users: `alice` / `alice-password`, `bob` / `bob-password`. Scopes: openid profile
/// email offline_access read write (default: openid profile offline_access read).
public final class TestProvider: Sendable {
    /// What a test may vary. Defaults are short, to keep the suite fast.
    public struct Settings: Sendable {
        public var accessTokenLifetime: Int
        public var refreshTokenLifetime: Int
        public var rotateRefreshTokens: Bool
        /// Replaying a rotated-away refresh token revokes the whole family.
        public var refreshTokenReuseProtection: Bool
        /// The device flow polling interval the provider announces and enforces (slow_down).
        public var deviceInterval: Int
        /// Lifetime of device and user codes.
        public var deviceCodeLifetime: Int
        /// Offer RFC 7591 registration (`registration_endpoint`, open to anyone).
        public var dynamicRegistration: Bool
        /// Behave like INDIGO IAM (Tests/Provider/tessera_provider/iam.py): audience from
        /// `resource`/`aud`/`audience` into the JWT access token's `aud`, IAM's invalid_target and
        /// 401 invalid_token answers, registration at /iam/api/client-registration.
        public var iamMode: Bool

        public init(accessTokenLifetime: Int = 3600, refreshTokenLifetime: Int = 86400,
                    rotateRefreshTokens: Bool = true, refreshTokenReuseProtection: Bool = true,
                    deviceInterval: Int = 1, deviceCodeLifetime: Int = 60, dynamicRegistration: Bool = true,
                    iamMode: Bool = false) {
            self.accessTokenLifetime = accessTokenLifetime
            self.refreshTokenLifetime = refreshTokenLifetime
            self.rotateRefreshTokens = rotateRefreshTokens
            self.refreshTokenReuseProtection = refreshTokenReuseProtection
            self.deviceInterval = deviceInterval
            self.deviceCodeLifetime = deviceCodeLifetime
            self.dynamicRegistration = dynamicRegistration
            self.iamMode = iamMode
        }

        /// INDIGO IAM's behaviour (refresh tokens live 30 days there; `refreshTokenLifetime` is
        /// counted from the access token's expiry, as django-oauth-toolkit does).
        public static func iam(accessTokenLifetime: Int = 3600, refreshTokenLifetime: Int = 86400) -> Settings {
            Settings(accessTokenLifetime: accessTokenLifetime, refreshTokenLifetime: refreshTokenLifetime, iamMode: true)
        }

        var environment: [String: String] {
            [
                "ACCESS_TOKEN_EXPIRE_SECONDS": String(accessTokenLifetime),
                "REFRESH_TOKEN_EXPIRE_SECONDS": String(refreshTokenLifetime),
                "ROTATE_REFRESH_TOKEN": rotateRefreshTokens ? "1" : "0",
                "REFRESH_TOKEN_REUSE_PROTECTION": refreshTokenReuseProtection ? "1" : "0",
                "DEVICE_FLOW_INTERVAL": String(deviceInterval),
                "DEVICE_CODE_EXPIRE_SECONDS": String(deviceCodeLifetime),
                "DCR_ENABLED": dynamicRegistration ? "1" : "0",
                "TESSERA_PROVIDER_IAM": iamMode ? "1" : "0",
            ]
        }
    }

    /// A seeded OAuth client (Tests/Provider/tessera_provider/clients.py).
    public struct Client: Sendable {
        public let id: String
        /// Nil for a public client.
        public let secret: String?
    }

    public static let devicePublic = Client(id: "tessera-device-public", secret: nil)
    public static let deviceConfidential = Client(id: "tessera-device-confidential", secret: "device-confidential-secret")
    public static let passwordConfidential = Client(id: "tessera-password", secret: "password-client-secret")
    public static let passwordPublic = Client(id: "tessera-password-public", secret: nil)
    public static let users = ["alice": "alice-password", "bob": "bob-password"]

    /// `http://127.0.0.1:PORT`; discovery at `/.well-known/openid-configuration`.
    public let issuer: URL
    public let settings: Settings
    private let server: PythonServerProcess

    private init(issuer: URL, settings: Settings, process: sending BackgroundProcess, directory: String) {
        self.issuer = issuer
        self.settings = settings
        self.server = PythonServerProcess(process, directory: directory)
    }

    /// Starts a fresh provider (≈0.5 s; the first start in a process also migrates and seeds a
    /// template database, ≈3 s) and returns once its discovery document answers.
    public static func start(_ settings: Settings = Settings()) async throws -> TestProvider {
        let template = try await ProviderTemplate.path()
        let directory = try makeTemporaryDirectory("provider")
        let database = "\(directory)/provider.sqlite3"
        try FileManager.default.copyItem(atPath: template, toPath: database)
        let server = try await PythonServer.start(
            script: "serve.py", arguments: ["--db", database], environment: settings.environment,
            logPath: "\(directory)/provider.log", readyPrefix: "issuer=")
        let provider = TestProvider(issuer: server.url, settings: settings, process: server.process, directory: directory)
        try await PythonServer.waitUntilAnswering(
            provider.issuer.appendingPathComponent(".well-known/openid-configuration"), log: provider.log)
        return provider
    }

    /// Approves a pending user code as `user` (headless: the provider's loopback-only test endpoint).
    public func approve(userCode: String, as user: String = "alice") async throws {
        try await decide(userCode, "approve?user=\(user)")
    }

    public func deny(userCode: String) async throws { try await decide(userCode, "deny") }

    /// Moves the code's expiry into the past; the provider then answers `expired_token`.
    public func expire(userCode: String) async throws { try await decide(userCode, "expire") }

    public struct Stats: Sendable, Decodable {
        /// Token endpoint requests per `grant_type` (e.g. "refresh_token", "password",
        /// "urn:ietf:params:oauth:grant-type:device_code").
        public let tokenRequests: [String: Int]
        /// Device token polls per user code.
        public let devicePolls: [String: Int]
        /// Seconds between consecutive device token polls, per user code, as the provider saw them.
        public let devicePollIntervals: [String: [Double]]

        /// Successful refresh answers (each a rotation at a rotating provider), counted when the
        /// provider is done, before any `setRefreshAnswerDelay` hold-back.
        public let refreshesAnswered: Int

        public func requests(_ grantType: String) -> Int { tokenRequests[grantType] ?? 0 }
        public var refreshes: Int { requests("refresh_token") }
    }

    public func stats() async throws -> Stats {
        let data = try await PythonServer.fetch(issuer.appendingPathComponent("test/stats"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Stats.self, from: data)
    }

    /// What the provider holds about an access token.
    public struct TokenInfo: Sendable, Decodable {
        public let active: Bool
        public let scope: String?
        public let resource: [String]?
        public let username: String?
        public let clientId: String?
        public var scopes: Set<String> { Set((scope ?? "").split(separator: " ").map(String.init)) }
    }

    public func tokenInfo(accessToken: String) async throws -> TokenInfo {
        var body = URLComponents()
        body.queryItems = [URLQueryItem(name: "token", value: accessToken)]
        let data = try await PythonServer.fetch(
            issuer.appendingPathComponent("test/token-info"), postForm: body.percentEncodedQuery ?? "")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(TokenInfo.self, from: data)
    }

    /// The claims of a JWT (IAM mode's access tokens), unverified: for checking what was issued.
    public static func jwtClaims(_ token: String) -> [String: Any]? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// The `aud` claim as a list (a JWT may hold one string or an array).
    public static func audienceClaim(_ token: String) -> [String]? {
        switch jwtClaims(token)?["aud"] {
        case let one as String: [one]
        case let many as [String]: many
        default: nil
        }
    }

    /// Holds back every successful refresh answer this long after the provider has rotated (a slow
    /// network), so a test can act while a client's old token is dead and its new one in transit.
    public func setRefreshAnswerDelay(milliseconds: Int) async throws {
        _ = try await PythonServer.fetch(issuer.appendingPathComponent("test/refresh-answer-delay"),
                                         postForm: "ms=\(milliseconds)")
    }

    /// The provider's stdout/stderr so far (for failure messages).
    public func log() -> String { server.log() }

    public func stop() { server.stop() }

    private func decide(_ userCode: String, _ decision: String) async throws {
        _ = try await PythonServer.fetch(URL(string: "\(issuer.absoluteString)/test/device/\(userCode)/\(decision)")!)
    }
}

/// The tiny fault-injecting server (Tests/Provider/faults.py): `issuer(for: "html-500")` is an
/// issuer whose discovery works and whose every endpoint answers with that fault. See the
/// script's header for the list of faults.
public final class FaultServer: Sendable {
    public let base: URL
    private let server: PythonServerProcess

    private init(base: URL, process: sending BackgroundProcess, directory: String) {
        self.base = base
        self.server = PythonServerProcess(process, directory: directory)
    }

    public static func start() async throws -> FaultServer {
        let directory = try makeTemporaryDirectory("faults")
        let server = try await PythonServer.start(
            script: "faults.py", arguments: [], environment: [:], logPath: "\(directory)/faults.log",
            readyPrefix: "base=")
        return FaultServer(base: server.url, process: server.process, directory: directory)
    }

    public func issuer(for fault: String) -> URL { base.appendingPathComponent(fault) }

    public func stop() { server.stop() }
}

/// A started Python server's process and its temporary directory, shared by the provider and
/// the fault server: stopped and removed once, by `stop()` or at the latest when released.
final class PythonServerProcess: Sendable {
    private let process: Mutex<BackgroundProcess?>
    private let directory: String

    init(_ process: sending BackgroundProcess, directory: String) {
        self.process = Mutex(process)
        self.directory = directory
    }

    /// The server's stdout/stderr so far, empty once stopped.
    func log() -> String { process.withLock { $0?.log() ?? "" } }

    func stop() {
        let stopped = process.withLock { process -> BackgroundProcess? in
            defer { process = nil }
            return process
        }
        stopped?.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

/// Migrates and seeds the provider database once per test process.
private enum ProviderTemplate {
    private static let prepared = Mutex<Task<String, any Error>?>(nil)

    static func path() async throws -> String {
        let task = prepared.withLock { task in
            if let task { return task }
            let created = Task<String, any Error> {
                let directory = try makeTemporaryDirectory("provider-template")
                let path = "\(directory)/template.sqlite3"
                try await Command.check(
                    try PythonServer.python(), ["\(PythonServer.providerDirectory)/serve.py", "--prepare", path],
                    timeout: .seconds(120))
                return path
            }
            task = created
            return created
        }
        return try await task.value
    }
}

/// Starting the Python servers and talking to their test endpoints.
enum PythonServer {
    /// `<package root>/Tests/Provider`, found from this file's location so any checkout works.
    static var providerDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Provider").path
    }

    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    static func python() throws -> String {
        let python = "\(packageRoot)/.venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw TestSupportError.missing("the provider venv \(packageRoot)/.venv (run scripts/deps.sh)")
        }
        return python
    }

    static func start(script: String, arguments: [String], environment: [String: String], logPath: String,
                      readyPrefix: String) async throws -> (url: URL, process: BackgroundProcess) {
        let process = try BackgroundProcess(
            try python(), ["-u", "\(providerDirectory)/\(script)"] + arguments,
            environment: environment.merging(["PYTHONDONTWRITEBYTECODE": "1"]) { $1 }, logPath: logPath)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let line = process.log().split(separator: "\n").first(where: { $0.hasPrefix(readyPrefix) }),
                let url = URL(string: String(line.dropFirst(readyPrefix.count)))
            {
                return (url, process)
            }
            guard process.isRunning else {
                throw TestSupportError.failed("\(script) exited before it was ready:\n\(process.log())")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError.timedOut("\(script) did not start:\n\(process.log())")
    }

    static func waitUntilAnswering(_ url: URL, log: () -> String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? await fetch(url)) != nil { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestSupportError.timedOut("\(url) did not answer:\n\(log())")
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 10
        return URLSession(configuration: configuration)
    }()

    /// GET (or POST a form) and return the body of a 2xx answer.
    static func fetch(_ url: URL, postForm: String? = nil) async throws -> Data {
        var request = URLRequest(url: url)
        if let postForm {
            request.httpMethod = "POST"
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(postForm.utf8)
        }
        let (data, response) = try await session.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw TestSupportError.failed("\(url) answered \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }
}
