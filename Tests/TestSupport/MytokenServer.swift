import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The mytoken test server (`Tests/MytokenServer/server.py`, Python stdlib only) on a random
/// loopback port, stopped by PID when released. Also drives its test endpoints: headless consent,
/// minting root tokens, and reading what the server stored.
public final class MytokenServer {
    public struct Options: Sendable {
        /// The OpenID issuer the server fronts (what `oidc_flow` must name).
        public var provider = "https://op.example.org"
        public var scopes = "openid profile email offline_access storage.read storage.write"
        public var accessTokenLifetime = 300
        public var pollingInterval = 1
        public var pollingCodeLifetime = 300
        public var transferCodeLifetime = 300
        /// The country the server's "GeoIP" gives every client.
        public var clientCountry = "DE"

        public init() {}
    }

    /// What the server stored for one mytoken.
    public struct StoredToken: Sendable {
        public var jti: String
        public var parent: String?
        public var name: String
        public var seqNo: Int
        /// False when the presented token was rotated away (its seq_no is behind the server's).
        public var current: Bool
        public var revoked: Bool
        public var capabilities: [String]
        public var subtokenCapabilities: [String]
        /// The stored clauses as compact JSON with sorted keys, e.g. `[{"scope":"openid"}]`.
        public var restrictionsJSON: String
        /// Uses counted per clause: (access tokens, other).
        public var usages: [(accessTokens: Int, other: Int)]
        /// The stored rotation policy as compact JSON with sorted keys, or nil.
        public var rotationJSON: String?
        public var children: [String]
    }

    /// An access token the server handed out (without the token itself).
    public struct IssuedAccessToken: Sendable, Equatable {
        public var jti: String
        public var scope: String
        public var audience: [String]
        public var comment: String
    }

    public let url: URL
    public let process: BackgroundProcess
    public let options: Options
    private let directory: String

    /// `Tests/MytokenServer/server.py`, found next to this file so no absolute path is baked in.
    public static var scriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("MytokenServer/server.py").path
    }

    public static func start(_ options: Options = Options()) async throws -> MytokenServer {
        let python: String
        if let system = try? Requirement.executable("/usr/bin/python3") {
            python = system
        } else {
            python = try Requirement.executable("python3")
        }
        let directory = try makeTemporaryDirectory("mytoken-server")
        let portFile = directory + "/port"
        let process = try BackgroundProcess(python, [
            scriptPath, "--port-file", portFile, "--provider", options.provider, "--scopes", options.scopes,
            "--at-lifetime", String(options.accessTokenLifetime),
            "--polling-interval", String(options.pollingInterval),
            "--polling-code-lifetime", String(options.pollingCodeLifetime),
            "--transfer-code-lifetime", String(options.transferCodeLifetime),
            "--client-country", options.clientCountry,
        ], logPath: directory + "/server.log")

        let deadline = ContinuousClock.now + .seconds(10)
        var port: Int?
        while port == nil {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
            if port != nil { break }
            guard process.isRunning else {
                throw TestSupportError.failed("mytoken test server exited: \(process.log())")
            }
            guard ContinuousClock.now < deadline else { throw TestSupportError.timedOut("mytoken test server start") }
            try await Task.sleep(for: .milliseconds(10))
        }
        let server = MytokenServer(
            url: URL(string: "http://127.0.0.1:\(port!)")!, process: process, options: options, directory: directory)
        // Listening is bound before the port file is written; one discovery proves it answers.
        while true {
            if let (status, _) = try? await server.request("GET", "/.well-known/mytoken-configuration"), status == 200 {
                return server
            }
            guard ContinuousClock.now < deadline else { throw TestSupportError.timedOut("mytoken test server ready") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private init(url: URL, process: BackgroundProcess, options: Options, directory: String) {
        self.url = url
        self.process = process
        self.options = options
        self.directory = directory
    }

    public func stop() { process.stop() }

    deinit {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Test endpoints

    /// Approves (or denies) the login whose consent page is `consentURI`, as a user would.
    public func consent(_ consentURI: URL, approve: Bool = true, subject: String = "alice") async throws {
        let (status, body) = try await request(
            "POST", consentURI.path, body: Data("action=\(approve ? "approve" : "deny")&subject=\(subject)".utf8),
            contentType: "application/x-www-form-urlencoded")
        guard status == 204 else {
            throw TestSupportError.failed("consent answered \(status): \(String(decoding: body, as: UTF8.self))")
        }
    }

    /// A root mytoken issued directly (no login). `restrictionsJSON` / `rotationJSON` are API JSON.
    public func mint(
        restrictionsJSON: String? = nil, capabilities: [String]? = nil, subtokenCapabilities: [String]? = nil,
        rotationJSON: String? = nil, responseType: String = "token", subject: String = "alice"
    ) async throws -> String {
        var fields: [String] = ["\"response_type\":\"\(responseType)\"", "\"subject\":\"\(subject)\""]
        if let restrictionsJSON { fields.append("\"restrictions\":\(restrictionsJSON)") }
        if let rotationJSON { fields.append("\"rotation\":\(rotationJSON)") }
        if let capabilities { fields.append("\"capabilities\":\(try Self.json(capabilities))") }
        if let subtokenCapabilities {
            fields.append("\"subtoken_capabilities\":\(try Self.json(subtokenCapabilities))")
        }
        let object = try await postJSON("/test/mint", "{\(fields.joined(separator: ","))}")
        guard let token = object["mytoken"] as? String else { throw TestSupportError.failed("mint: \(object)") }
        return token
    }

    /// What the server stored for the token `token` (JWT or short token), or nil when unknown.
    public func lookup(_ token: String) async throws -> StoredToken? {
        let (status, body) = try await request("POST", "/test/lookup", body: Data(try Self.json(["token": token]).utf8))
        if status == 404 { return nil }
        guard status == 200, let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw TestSupportError.failed("lookup answered \(status)")
        }
        return try Self.storedToken(object)
    }

    /// Every token the server knows, in creation order.
    public func tokens() async throws -> [StoredToken] {
        try (try await snapshot()["tokens"] as? [[String: Any]] ?? []).map(Self.storedToken)
    }

    /// Access tokens handed out so far.
    public func accessTokens() async throws -> [IssuedAccessToken] {
        (try await snapshot()["access_tokens"] as? [[String: Any]] ?? []).map {
            IssuedAccessToken(jti: $0["jti"] as? String ?? "", scope: $0["scope"] as? String ?? "",
                              audience: $0["audience"] as? [String] ?? [], comment: $0["comment"] as? String ?? "")
        }
    }

    /// Times (unix seconds) of the polls of each login still open.
    public func pollTimes() async throws -> [[Double]] {
        (try await snapshot()["polling"] as? [[String: Any]] ?? []).map { $0["polls"] as? [Double] ?? [] }
    }

    /// What the server received, oldest first: one entry per POST to the API, its body without
    /// the secret fields (`mytoken`, `polling_code`, `transfer_code`, `token`) as compact JSON
    /// with sorted keys. `path` filters by endpoint path (e.g. `/api/v0/token/my`).
    public func receivedBodies(path: String? = nil) async throws -> [String] {
        let requests = try await snapshot()["requests"] as? [[String: Any]] ?? []
        return try requests.filter { path == nil || ($0["path"] as? String) == path }.map {
            try Self.json($0["body"] ?? [String: Any]())
        }
    }

    /// Adds a server-side template (`kind`: profiles, capabilities, restrictions, rotation) to
    /// `group` ("_" is the default group); `payloadJSON` is the template as stored.
    public func addTemplate(group: String = "_", kind: String, name: String, payloadJSON: String) async throws {
        let body = "{\"group\":\(try Self.json(group)),\"kind\":\(try Self.json(kind)),\"name\":\(try Self.json(name)),"
            + "\"payload\":\(payloadJSON)}"
        let (status, answer) = try await request("POST", "/test/templates", body: Data(body.utf8))
        guard status == 204 else {
            throw TestSupportError.failed("adding a template answered \(status): \(String(decoding: answer, as: UTF8.self))")
        }
    }

    /// The event names the server logged for the token `jti`, oldest first.
    public func events(jti: String) async throws -> [String] {
        let tokens = try await snapshot()["tokens"] as? [[String: Any]] ?? []
        guard let token = tokens.first(where: { ($0["jti"] as? String) == jti }) else { return [] }
        return (token["events"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
    }

    /// The whole `/test/tokens` answer.
    public func snapshot() async throws -> [String: Any] {
        let (status, body) = try await request("GET", "/test/tokens")
        guard status == 200, let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw TestSupportError.failed("/test/tokens answered \(status)")
        }
        return object
    }

    /// A raw JSON POST (for tests that speak the API directly).
    public func postJSON(_ path: String, _ json: String) async throws -> [String: Any] {
        let (_, body) = try await request("POST", path, body: Data(json.utf8))
        return try JSONSerialization.jsonObject(with: body.isEmpty ? Data("{}".utf8) : body) as? [String: Any] ?? [:]
    }

    public func request(
        _ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json"
    ) async throws -> (Int, Data) {
        var request = URLRequest(url: url.appendingPathComponent(path))
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 10
        if body != nil { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    private static func json(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value,
                                                    options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]),
               as: UTF8.self)
    }

    private static func storedToken(_ o: [String: Any]) throws -> StoredToken {
        let usages = (o["usages"] as? [[String: Any]] ?? []).map {
            (accessTokens: $0["usages_AT_done"] as? Int ?? 0, other: $0["usages_other_done"] as? Int ?? 0)
        }
        let rotation = o["rotation"].flatMap { $0 is NSNull ? nil : $0 }
        return StoredToken(
            jti: o["jti"] as? String ?? "", parent: o["parent"] as? String, name: o["name"] as? String ?? "",
            seqNo: o["seq_no"] as? Int ?? 0, current: o["current"] as? Bool ?? true,
            revoked: o["revoked"] as? Bool ?? false, capabilities: o["capabilities"] as? [String] ?? [],
            subtokenCapabilities: o["subtoken_capabilities"] as? [String] ?? [],
            restrictionsJSON: try json(o["restrictions"] ?? []),
            usages: usages, rotationJSON: try rotation.map { try json($0) },
            children: o["children"] as? [String] ?? [])
    }
}
