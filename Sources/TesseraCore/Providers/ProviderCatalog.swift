import FoundationEssentials
import Glibc
import OIDC
import Synchronization
import TesseraNames

/// Which parameter carries a requested audience at a provider (`audience-parameter`).
public enum AudienceParameter: String, Sendable, CaseIterable {
    /// The legacy `audience` parameter (INDIGO IAM: a `resource` that is not an absolute URI is refused).
    case audience
    /// RFC 8707 `resource`.
    case resource
    /// Decided by value: an absolute URI goes as `resource`, anything else as `audience`.
    case auto
}

/// A provider Tessera knows by a short name: from the list shipped with it (`providers.json`,
/// facts from oidc-agent's `issuer.config.d`) or from the user's `providers.json`.
public struct KnownProvider: Sendable, Equatable {
    public var shortName: String
    public var displayName: String
    public var issuer: URL
    /// The page where a person registers a client (oidc-agent's `register`); not the RFC 7591
    /// endpoint, which discovery names.
    public var registrationURI: URL?
    /// A client published for everyone's use: Tessera uses it instead of registering one.
    public var publicClientID: String?
    /// The scopes the public client may ask for, as published; what `max` means when the
    /// public client is used (the provider's `scopes_supported` also lists scopes it refuses).
    public var scopes: [String]
    public var audienceParameter: AudienceParameter
    public var notes: String
    /// `built-in`, or the path of the user's file that defined or changed the entry.
    public var source: String

    public static let builtInSource = "built-in"
}

/// One thing wrong in a providers file, named by file and field so a person can fix it.
public struct ProviderFileProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// A JSON path such as `providers[2].issuer`, or `(file)` for the file as a whole.
    public var field: String
    public var reason: String
    public var description: String { "\(file): \(field): \(reason)" }
}

/// The known providers: the built-in list, then the user's `$XDG_CONFIG_HOME/tessera/providers.json`
/// on top (an entry with a built-in short name changes the fields it gives; a new short name adds a
/// provider). The user's file is read again when it changes, so edits need no restart; a broken
/// file or entry is reported by file and field and the rest keeps working.
public final class ProviderCatalog: Sendable {
    public static let schemaVersion = 1
    public static let maxShortNameBytes = 64

    /// The list shipped with Tessera, parsed once (a test proves it parses without a problem).
    public static let builtIn: (providers: [KnownProvider], problems: [ProviderFileProblem]) =
        parse(Data(PackageResources.providers_json), file: "providers.json (built in)", base: [], source: KnownProvider.builtInSource)

    public let userFile: String
    private struct Loaded {
        var stamp: FileStamp?
        var providers: [KnownProvider]
        var problems: [ProviderFileProblem]
    }
    private let loaded = Mutex<Loaded?>(nil)

    public init(userFile: String) { self.userFile = userFile }

    /// `$XDG_CONFIG_HOME/tessera/providers.json` (or `~/.config/…`), beside the account file.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> ProviderCatalog {
        let accounts = AccountFile.standard(environment: environment).path
        return ProviderCatalog(userFile: Paths.directory(of: accounts) + "/providers.json")
    }

    /// Every known provider, sorted by short name, and what is wrong in the user's file (if anything).
    /// `changed` is true when the user's file was (re)read by this call, so problems are logged once.
    public func load() -> (providers: [KnownProvider], problems: [ProviderFileProblem], changed: Bool) {
        let stamp = FileStamp(path: userFile)
        if let cached = loaded.withLock({ $0 }), cached.stamp == stamp {
            return (cached.providers, cached.problems, false)
        }
        var providers = Self.builtIn.providers
        var problems = Self.builtIn.problems
        if stamp != nil {
            if let data = FileManager.default.contents(atPath: userFile) {
                let user = Self.parse(data, file: userFile, base: providers, source: userFile)
                providers = user.providers
                problems += user.problems
            } else {
                problems.append(ProviderFileProblem(file: userFile, field: "(file)", reason: "cannot be read (check its permissions)"))
            }
        }
        providers.sort { $0.shortName < $1.shortName }
        loaded.withLock { $0 = Loaded(stamp: stamp, providers: providers, problems: problems) }
        return (providers, problems, true)
    }

    public func provider(named shortName: String) -> KnownProvider? {
        load().providers.first { $0.shortName == shortName }
    }

    // MARK: Parsing

    /// Reads a providers document over `base` (the entries it may change); returns the result and
    /// the problems, skipping only the entries that are wrong.
    static func parse(_ data: Data, file: String, base: [KnownProvider], source: String)
        -> (providers: [KnownProvider], problems: [ProviderFileProblem])
    {
        func problem(_ field: String, _ reason: String) -> ProviderFileProblem {
            ProviderFileProblem(file: file, field: field, reason: reason)
        }
        guard let json = JSONValue.parse(data) else {
            return (base, [problem("(file)", "is not valid JSON")])
        }
        guard let root = json.objectValue else { return (base, [problem("(file)", "must hold a JSON object")]) }
        guard let schema = root["schema"]?.integerValue else {
            return (base, [problem("schema", "is missing or not an integer (write \"schema\": \(schemaVersion))")])
        }
        guard schema == schemaVersion else {
            return (base, [problem("schema", "version \(schema) is not supported (this tesserad reads \(schemaVersion))")])
        }
        var problems: [ProviderFileProblem] = []
        for key in root.keys.sorted() where !["schema", "providers", "source"].contains(key) {
            problems.append(problem(key, "is not a known key (ignored)"))
        }
        guard let list = root["providers"]?.arrayValue else {
            return (base, problems + [problem("providers", "is missing or not a list")])
        }
        var providers = base
        var seen = Set<String>()
        for (index, element) in list.enumerated() {
            let at = "providers[\(index)]"
            do {
                let entry = try decode(element, at: at, file: file, base: providers, source: source)
                guard seen.insert(entry.shortName).inserted else {
                    problems.append(problem("\(at).short-name", "\"\(entry.shortName)\" is a duplicate (the first one is used)"))
                    continue
                }
                if let existing = providers.firstIndex(where: { $0.shortName == entry.shortName }) {
                    providers[existing] = entry
                } else {
                    providers.append(entry)
                }
            } catch {
                problems.append(error)
            }
        }
        return (providers, problems)
    }

    private static func decode(_ element: JSONValue, at: String, file: String, base: [KnownProvider], source: String)
        throws(ProviderFileProblem) -> KnownProvider
    {
        func problem(_ key: String, _ reason: String) -> ProviderFileProblem {
            ProviderFileProblem(file: file, field: "\(at).\(key)", reason: reason)
        }
        guard let object = element.objectValue else {
            throw ProviderFileProblem(file: file, field: at, reason: "must be a JSON object")
        }
        let known: Set<String> = Set(ProviderKey.allCases.map(\.rawValue)).subtracting([ProviderKey.source.rawValue])
            .union(["short-name"])
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw problem(unknown, "is not a known key (known: \(known.sorted().joined(separator: ", ")))")
        }
        func string(_ key: String) throws(ProviderFileProblem) -> String? {
            guard let value = object[key], !value.isNull else { return nil }
            guard let text = value.stringValue else { throw problem(key, "must be a string") }
            return text
        }
        func checked<T>(_ key: String, _ body: () throws(AgentError) -> T) throws(ProviderFileProblem) -> T {
            do { return try body() } catch {
                if case .invalidArgument(_, let reason) = error { throw problem(key, reason) }
                throw problem(key, error.message)
            }
        }

        guard let shortName = try string("short-name") else { throw problem("short-name", "is missing") }
        try checkShortName(shortName, problem: { problem("short-name", $0) })
        let inherited = base.first { $0.shortName == shortName }

        let issuer: URL
        if let text = try string(ProviderKey.issuer.rawValue) {
            issuer = try checked(ProviderKey.issuer.rawValue) { () throws(AgentError) in
                try Validate.serverURL(text, field: ProviderKey.issuer.rawValue)
            }
        } else if let inherited {
            issuer = inherited.issuer
        } else {
            throw problem(ProviderKey.issuer.rawValue, "is missing (required for a provider Tessera does not know)")
        }
        var entry = inherited ?? KnownProvider(shortName: shortName, displayName: shortName, issuer: issuer, registrationURI: nil,
                                               publicClientID: nil, scopes: [], audienceParameter: .auto, notes: "",
                                               source: source)
        entry.issuer = issuer
        entry.source = source
        if let text = try string(ProviderKey.displayName.rawValue) {
            entry.displayName = try checked(ProviderKey.displayName.rawValue) { () throws(AgentError) in
                try Validate.text(text, field: ProviderKey.displayName.rawValue)
            }
        }
        if let text = try string(ProviderKey.registrationURI.rawValue) {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["https", "http"].contains(scheme),
                  url.host?.isEmpty == false
            else { throw problem(ProviderKey.registrationURI.rawValue, "\"\(text.prefix(80))\" is not an http(s) URL") }
            entry.registrationURI = url
        }
        if let text = try string(ProviderKey.publicClientID.rawValue) {
            entry.publicClientID = text.isEmpty ? nil : try checked(ProviderKey.publicClientID.rawValue) { () throws(AgentError) in
                try Validate.text(text, field: ProviderKey.publicClientID.rawValue)
            }
        }
        if let value = object[ProviderKey.scopes.rawValue], !value.isNull {
            guard let words = value.stringsValue else {
                throw problem(ProviderKey.scopes.rawValue, "must be a list of strings")
            }
            entry.scopes = try checked(ProviderKey.scopes.rawValue) { () throws(AgentError) in
                try Validate.words(words, field: ProviderKey.scopes.rawValue)
            }
        }
        if let text = try string(ProviderKey.audienceParameter.rawValue) {
            guard let value = AudienceParameter(rawValue: text) else {
                throw problem(ProviderKey.audienceParameter.rawValue,
                              "\"\(text.prefix(40))\" is not one of \(AudienceParameter.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            entry.audienceParameter = value
        }
        if let text = try string(ProviderKey.notes.rawValue) {
            guard text.utf8.count <= Validate.maxStringBytes else {
                throw problem(ProviderKey.notes.rawValue, "is longer than \(Validate.maxStringBytes) bytes")
            }
            entry.notes = text
        }
        return entry
    }

    /// Short names are typed on command lines: lower-case letters, digits, `.`, `_` and `-`.
    static func checkShortName(_ name: String, problem: (String) -> ProviderFileProblem) throws(ProviderFileProblem) {
        if name.isEmpty { throw problem("must not be empty") }
        if name.utf8.count > maxShortNameBytes { throw problem("is longer than \(maxShortNameBytes) bytes") }
        if !name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) }) {
            throw problem("\"\(name.prefix(40))\" may hold only a-z, 0-9, '.', '_' and '-'")
        }
    }
}

/// What identifies a version of a file cheaply: a changed file is read again.
private struct FileStamp: Equatable {
    var modified: timespec
    var size: off_t
    var inode: ino_t

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        modified = info.st_mtim
        size = info.st_size
        inode = info.st_ino
    }

    static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec && a.size == b.size && a.inode == b.inode
    }
}
