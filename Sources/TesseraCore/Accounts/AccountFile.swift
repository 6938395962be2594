import FoundationEssentials
import Posix
#if canImport(Glibc)
import Glibc
#endif
import OIDC
import TesseraNames

/// One thing wrong in the account file, named by file and field so a person can fix it.
public struct AccountFileProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// A JSON path such as `accounts[2].issuer`, or `(file)` for the file as a whole.
    public var field: String
    public var reason: String

    public var description: String { "\(file): \(field): \(reason)" }
}

/// What loading found: the accounts that could be read and everything that could not.
public struct AccountFileContents: Sendable, Equatable {
    public var accounts: [Account]
    public var problems: [AccountFileProblem]
    /// False when the file exists but could not be read at all (permissions, I/O, not a regular
    /// file): what it holds is unknown, so it must not be written over.
    public var readable = true
}

public enum AccountFileError: Error, Sendable, CustomStringConvertible {
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .writeFailed(let file, let reason): "cannot write \(file): \(reason)"
        }
    }
}

/// `$XDG_CONFIG_HOME/tessera/accounts.json`: the account settings, never a secret.
///
/// ```json
/// {"schema": 2, "accounts": [{"name": "egi", "kind": "oidc", "issuer": "https://…",
///   "client-id": "…", "scopes": ["openid"], "audience": [], "audience-style": "resource",
///   "policy": {"default": "ask", "applications": {"exe:/usr/bin/rclone": "allow"}}}]}
/// ```
/// Schema 2 added `policy` (per-application consent); a file without any policy is still
/// written as schema 1, so an older tesserad reads it, and one with a policy is schema 2, so an
/// older tesserad refuses it rather than dropping a `deny`.
/// Keys are the `AccountSetting` names of the D-Bus contract. Written atomically (temp file in the
/// same directory, fsync, rename) with mode 0600. A file that could not be read completely is
/// kept as `accounts.json.invalid` (then `.invalid.1`, `.invalid.2`, …: never over an earlier
/// one) once the next write has succeeded, so nothing the user wrote by hand is lost.
public struct AccountFile: Sendable {
    public static let schemaVersion = 2
    /// Versions this tesserad reads.
    static let readableSchemas = 1...2
    /// `Account.loginScopes`: the service's own record, not a setting a caller gives.
    static let loginScopesKey = "login-scopes"
    /// `Account.redirectURIs`, from an import (no D-Bus setting sets it).
    static let redirectURIsKey = "redirect-uris"
    public let path: String

    public init(path: String) { self.path = path }

    /// The standard location, from `XDG_CONFIG_HOME` or `~/.config`.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> AccountFile {
        let config: String
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            config = xdg
        } else {
            config = (environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path) + "/.config"
        }
        return AccountFile(path: config + "/tessera/accounts.json")
    }

    /// The largest file read: far above any real account list, and a bound on what a stray file
    /// in its place can cost.
    static let maximumSize = 1 << 20

    public func load() -> AccountFileContents {
        let data: Data
        switch read() {
        case .missing:
            return AccountFileContents(accounts: [], problems: [])
        case .unreadable(let reason):
            return AccountFileContents(accounts: [], problems: [problem("(file)", reason)], readable: false)
        case .contents(let contents):
            data = contents
        }
        return parse(data)
    }

    enum ReadResult {
        case missing
        case unreadable(String)
        case contents(Data)
    }

    /// Reads the whole file without ever blocking (a FIFO in its place would hang the service at
    /// start) and only if it is a regular file of a sane size.
    func read() -> ReadResult {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let error = errno
            if error == ENOENT { return .missing }
            return .unreadable("cannot be read: \(String(cString: strerror(error)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .unreadable("cannot be read: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else { return .unreadable("cannot be read: it is not a regular file") }
        guard Int(info.st_size) <= Self.maximumSize else {
            return .unreadable("cannot be read: it is larger than \(Self.maximumSize / 1024) KiB")
        }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .unreadable("cannot be read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return .contents(data) }
            data.append(contentsOf: buffer[..<count])
            if data.count > Self.maximumSize {
                return .unreadable("cannot be read: it is larger than \(Self.maximumSize / 1024) KiB")
            }
        }
    }

    /// The accounts in a file's bytes, and every problem found, each naming its field.
    func parse(_ data: Data) -> AccountFileContents {
        guard let json = JSONValue.parse(data) else {
            return AccountFileContents(accounts: [], problems: [problem("(file)", "is not valid JSON")])
        }
        guard let root = json.objectValue else {
            return AccountFileContents(accounts: [], problems: [problem("(file)", "must hold a JSON object")])
        }
        var problems: [AccountFileProblem] = []
        guard let schema = root["schema"]?.integerValue.flatMap({ Int(exactly: $0) }) else {
            return AccountFileContents(accounts: [], problems: [problem("schema", "is missing or not an integer")])
        }
        guard Self.readableSchemas.contains(schema) else {
            return AccountFileContents(
                accounts: [],
                problems: [problem("schema", "version \(schema) is not supported (this tesserad reads \(Self.readableSchemas.lowerBound) to \(Self.readableSchemas.upperBound))")])
        }
        for key in root.keys.sorted() where key != "schema" && key != "accounts" {
            problems.append(problem(key, "is not a known key (ignored)"))
        }
        guard let list = root["accounts"]?.arrayValue else {
            return AccountFileContents(accounts: [], problems: problems + [problem("accounts", "is missing or not a list")])
        }
        var accounts: [Account] = []
        var names = Set<String>()
        for (index, element) in list.enumerated() {
            let at = "accounts[\(index)]"
            do {
                let account = try decode(element, at: at, problems: &problems)
                guard names.insert(account.name).inserted else {
                    problems.append(problem("\(at).name", "\"\(account.name)\" is a duplicate (the first one is used)"))
                    continue
                }
                accounts.append(account)
            } catch {
                problems.append(error)
            }
        }
        return AccountFileContents(accounts: accounts, problems: problems)
    }

    private func problem(_ field: String, _ reason: String) -> AccountFileProblem {
        AccountFileProblem(file: path, field: field, reason: reason)
    }

    private func decode(_ element: JSONValue, at: String, problems: inout [AccountFileProblem]) throws(AccountFileProblem) -> Account {
        guard let object = element.objectValue else { throw problem(at, "must be a JSON object") }
        let stored: Set<String> = [
            AccountSetting.issuer, .clientID, .scopes, .audience, .audienceStyle, .kind, .mytokenServer, .mytokenRequest,
            .registrationClientURI,
        ].reduce(into: ["name", Self.policyKey, Self.loginScopesKey, Self.redirectURIsKey]) { $0.insert($1.rawValue) }
        if let unknown = object.keys.sorted().first(where: { !stored.contains($0) }) {
            throw problem("\(at).\(unknown)", "is not a known account key")
        }
        func string(_ key: String, required: Bool) throws(AccountFileProblem) -> String? {
            guard let value = object[key], !value.isNull else {
                if required { throw problem("\(at).\(key)", "is missing") }
                return nil
            }
            guard let text = value.stringValue else { throw problem("\(at).\(key)", "must be a string") }
            return text
        }
        func strings(_ key: String) throws(AccountFileProblem) -> [String]? {
            guard let value = object[key], !value.isNull else { return nil }
            guard let texts = value.stringsValue else {
                throw problem("\(at).\(key)", "must be a list of strings")
            }
            return texts
        }
        func checked<T>(_ key: String, _ body: () throws(AgentError) -> T) throws(AccountFileProblem) -> T {
            do { return try body() } catch {
                if case .invalidArgument(_, let reason) = error { throw problem("\(at).\(key)", reason) }
                throw problem("\(at).\(key)", error.message)
            }
        }

        let nameText = try string("name", required: true)!
        let name = try checked("name") { () throws(AgentError) in try Validate.accountName(nameText) }
        let issuerText = try string(AccountSetting.issuer.rawValue, required: true)!
        let issuer = try checked(AccountSetting.issuer.rawValue) { () throws(AgentError) in
            try Validate.serverURL(issuerText, field: AccountSetting.issuer.rawValue)
        }
        var kind = AccountKind.oidc
        if let text = try string(AccountSetting.kind.rawValue, required: false) {
            guard let value = AccountKind(rawValue: text) else {
                throw problem("\(at).kind", "\"\(text)\" is not one of \(AccountKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kind = value
        }
        var style = AudienceStyle.auto
        if let text = try string(AccountSetting.audienceStyle.rawValue, required: false) {
            guard let value = AudienceStyle(rawValue: text) else {
                throw problem("\(at).audience-style", "\"\(text)\" is not one of \(AudienceStyle.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            style = value
        }
        var clientID: String?
        if let text = try string(AccountSetting.clientID.rawValue, required: false) {
            clientID = try checked(AccountSetting.clientID.rawValue) { () throws(AgentError) in
                try Validate.text(text, field: AccountSetting.clientID.rawValue)
            }
        }
        let scopeList = try strings(AccountSetting.scopes.rawValue) ?? []
        let scopes = try checked(AccountSetting.scopes.rawValue) { () throws(AgentError) in
            try Validate.words(scopeList, field: AccountSetting.scopes.rawValue)
        }
        let audienceList = try strings(AccountSetting.audience.rawValue) ?? []
        let audience = try checked(AccountSetting.audience.rawValue) { () throws(AgentError) in
            try Validate.words(audienceList, field: AccountSetting.audience.rawValue)
        }
        var mytokenServer: URL?
        if let text = try string(AccountSetting.mytokenServer.rawValue, required: false) {
            mytokenServer = try checked(AccountSetting.mytokenServer.rawValue) { () throws(AgentError) in
                try Validate.serverURL(text, field: AccountSetting.mytokenServer.rawValue)
            }
        }
        var registrationClientURI: URL?
        if let text = try string(AccountSetting.registrationClientURI.rawValue, required: false) {
            registrationClientURI = try checked(AccountSetting.registrationClientURI.rawValue) { () throws(AgentError) in
                try Validate.endpointURL(text, field: AccountSetting.registrationClientURI.rawValue)
            }
        }
        if kind == .mytoken && mytokenServer == nil {
            throw problem("\(at).mytoken-server", "is required for a mytoken account")
        }
        var mytokenRequest: [String: MytokenJSON]?
        if let value = object[AccountSetting.mytokenRequest.rawValue], !value.isNull {
            guard kind == .mytoken, case .object(let fields) = value else {
                throw problem("\(at).\(AccountSetting.mytokenRequest.rawValue)", "must be a JSON object, for a mytoken account")
            }
            mytokenRequest = fields
        }
        var account = Account(name: name, kind: kind, issuer: issuer, clientID: clientID, scopes: scopes,
                              audience: audience, audienceStyle: style, mytokenServer: mytokenServer, mytokenRequest: mytokenRequest,
                              registrationClientURI: registrationClientURI)
        if let granted = try strings(Self.loginScopesKey) {
            account.loginScopes = try checked(Self.loginScopesKey) { () throws(AgentError) in
                try Validate.words(granted, field: Self.loginScopesKey)
            }
        }
        if let uris = try strings(Self.redirectURIsKey) {
            account.redirectURIs = try checked(Self.redirectURIsKey) { () throws(AgentError) in
                try Validate.words(uris, field: Self.redirectURIsKey)
            }
        }
        if let value = object[Self.policyKey], !value.isNull {
            account.policy = decodePolicy(value, at: "\(at).\(Self.policyKey)", problems: &problems)
        }
        return account
    }

    static let policyKey = "policy"
    static let policyDefaultKey = "default"
    static let policyApplicationsKey = "applications"

    /// An account's consent policy. A damaged policy never fails open and never drops the
    /// account: a default that cannot be read becomes `deny`, a rule whose decision cannot be read
    /// denies its program, and a rule whose key names no program is dropped (no caller could match
    /// it). Each is reported with its field; the file is kept aside on the next write.
    private func decodePolicy(_ value: JSONValue, at: String, problems: inout [AccountFileProblem]) -> AccountPolicy {
        let failClosed = "; every program is denied this account's tokens until it is fixed (tessera policy set)"
        guard let object = value.objectValue else {
            problems.append(problem(at, "must be a JSON object" + failClosed))
            return AccountPolicy(defaultDecision: .deny)
        }
        var policy = AccountPolicy()
        for key in object.keys.sorted() where key != Self.policyDefaultKey && key != Self.policyApplicationsKey {
            problems.append(problem("\(at).\(key)", "is not a known policy key (ignored)"))
        }
        if let text = object[Self.policyDefaultKey], !text.isNull {
            if let text = text.stringValue, let decision = ConsentDecision(rawValue: text) {
                policy.defaultDecision = decision
            } else {
                problems.append(problem("\(at).\(Self.policyDefaultKey)", "must be one of \(ConsentDecision.choices)" + failClosed))
                policy.defaultDecision = .deny
            }
        }
        guard let rules = object[Self.policyApplicationsKey], !rules.isNull else { return policy }
        guard let entries = rules.objectValue else {
            problems.append(problem("\(at).\(Self.policyApplicationsKey)", "must be a JSON object" + failClosed))
            policy.defaultDecision = .deny
            return policy
        }
        for key in entries.keys.sorted() {
            let field = "\(at).\(Self.policyApplicationsKey)[\"\(key)\"]"
            guard let application = ApplicationID(key: key) else {
                problems.append(problem(field, "is not an application key (flatpak:ID, snap:NAME or exe:/PATH); the rule is ignored"))
                continue
            }
            if let text = entries[key]?.stringValue, let decision = ConsentDecision(rawValue: text) {
                policy.rules[application] = decision
            } else {
                problems.append(problem(field, "must be one of \(ConsentDecision.choices); the program is denied until it is fixed"))
                policy.rules[application] = .deny
            }
        }
        return policy
    }
}

extension AccountFileProblem: Error {}
