import Foundation
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
/// {"schema": 1, "accounts": [{"name": "egi", "kind": "oidc", "issuer": "https://…",
///   "client-id": "…", "scopes": ["openid"], "audience": [], "audience-style": "resource"}]}
/// ```
/// Keys are the `AccountSetting` names of the D-Bus contract. Written atomically (temp file in the
/// same directory, fsync, rename) with mode 0600. A file that could not be read completely is
/// kept as `accounts.json.invalid` the next time the service writes, so nothing the user wrote by
/// hand is lost silently.
public struct AccountFile: Sendable {
    public static let schemaVersion = 1
    public let path: String

    public init(path: String) { self.path = path }

    /// The standard location, from `XDG_CONFIG_HOME` or `~/.config`.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> AccountFile {
        let config: String
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            config = xdg
        } else {
            config = (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
        }
        return AccountFile(path: config + "/tessera/accounts.json")
    }

    public func load() -> AccountFileContents {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                return AccountFileContents(accounts: [], problems: [problem("(file)", "cannot be read (check its permissions)")])
            }
            return AccountFileContents(accounts: [], problems: [])
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            return AccountFileContents(accounts: [], problems: [problem("(file)", "is not valid JSON")])
        }
        guard let root = json as? [String: Any] else {
            return AccountFileContents(accounts: [], problems: [problem("(file)", "must hold a JSON object")])
        }
        var problems: [AccountFileProblem] = []
        guard let schema = root["schema"] as? Int else {
            return AccountFileContents(accounts: [], problems: [problem("schema", "is missing or not an integer")])
        }
        guard schema == Self.schemaVersion else {
            return AccountFileContents(
                accounts: [],
                problems: [problem("schema", "version \(schema) is not supported (this tesserad reads \(Self.schemaVersion))")])
        }
        for key in root.keys.sorted() where key != "schema" && key != "accounts" {
            problems.append(problem(key, "is not a known key (ignored)"))
        }
        guard let list = root["accounts"] as? [Any] else {
            return AccountFileContents(accounts: [], problems: problems + [problem("accounts", "is missing or not a list")])
        }
        var accounts: [Account] = []
        var names = Set<String>()
        for (index, element) in list.enumerated() {
            let at = "accounts[\(index)]"
            do {
                let account = try decode(element, at: at)
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

    private func decode(_ element: Any, at: String) throws(AccountFileProblem) -> Account {
        guard let object = element as? [String: Any] else { throw problem(at, "must be a JSON object") }
        let stored: Set<String> = [
            AccountSetting.issuer, .clientID, .scopes, .audience, .audienceStyle, .kind, .mytokenServer,
        ].reduce(into: ["name"]) { $0.insert($1.rawValue) }
        if let unknown = object.keys.sorted().first(where: { !stored.contains($0) }) {
            throw problem("\(at).\(unknown)", "is not a known account key")
        }
        func string(_ key: String, required: Bool) throws(AccountFileProblem) -> String? {
            guard let value = object[key], !(value is NSNull) else {
                if required { throw problem("\(at).\(key)", "is missing") }
                return nil
            }
            guard let text = value as? String else { throw problem("\(at).\(key)", "must be a string") }
            return text
        }
        func strings(_ key: String) throws(AccountFileProblem) -> [String]? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let list = value as? [Any], let texts = list as? [String] else {
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
        var style = AudienceStyle.resource
        if let text = try string(AccountSetting.audienceStyle.rawValue, required: false) {
            guard let value = AudienceStyle(rawValue: text) else {
                throw problem("\(at).audience-style", "\"\(text)\" is not one of resource, audience")
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
        if kind == .mytoken && mytokenServer == nil {
            throw problem("\(at).mytoken-server", "is required for a mytoken account")
        }
        return Account(name: name, kind: kind, issuer: issuer, clientID: clientID, scopes: scopes,
                       audience: audience, audienceStyle: style, mytokenServer: mytokenServer)
    }

    /// Writes all accounts atomically. `keepInvalid` moves the current file aside first (used when
    /// loading it reported problems, so the user's hand edits survive).
    public func save(_ accounts: [Account], keepInvalid: Bool = false) throws(AccountFileError) {
        let list: [[String: Any]] = accounts.map { account in
            var object: [String: Any] = [
                "name": account.name,
                AccountSetting.kind.rawValue: account.kind.rawValue,
                AccountSetting.issuer.rawValue: account.issuer.absoluteString,
                AccountSetting.scopes.rawValue: account.scopes,
                AccountSetting.audience.rawValue: account.audience,
                AccountSetting.audienceStyle.rawValue: account.audienceStyle.rawValue,
            ]
            if let clientID = account.clientID { object[AccountSetting.clientID.rawValue] = clientID }
            if let server = account.mytokenServer { object[AccountSetting.mytokenServer.rawValue] = server.absoluteString }
            return object
        }
        let root: [String: Any] = ["schema": Self.schemaVersion, "accounts": list]
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw .writeFailed(file: path, reason: "cannot encode the accounts")
        }
        try ConfigFile.write(data, to: path, keepInvalid: keepInvalid)
    }
}

extension AccountFileProblem: Error {}
