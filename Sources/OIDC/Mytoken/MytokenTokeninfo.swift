import FoundationEssentials
import Secrets

/// The tokeninfo endpoint's actions (api v0 `tokeninfoAction.go`) and the capability each needs.
public enum MytokenTokeninfoAction: String, Sendable, CaseIterable {
    case introspect
    case eventHistory = "event_history"
    case subtokens
    case listMytokens = "list_mytokens"

    /// The capability the server checks (a parent capability such as `tokeninfo` covers it).
    public var capability: String {
        switch self {
        case .introspect: "tokeninfo:introspect"
        case .eventHistory: "tokeninfo:history"
        case .subtokens: "tokeninfo:subtokens"
        case .listMytokens: "manage_mytokens:list"
        }
    }

    /// The capability to name in advice: the one a user would ask for.
    var advisedCapability: String { self == .listMytokens ? "manage_mytokens:list" : "tokeninfo" }
}

/// One event of a mytoken's history.
public struct MytokenEvent: Sendable, Equatable {
    public var event: String
    /// Unix seconds.
    public var time: Int64
    public var ip: String
    public var userAgent: String
    public var comment: String
    public var momID: String
}

/// One mytoken in a subtoken tree or the list of all mytokens, flattened depth-first.
public struct MytokenListEntry: Sendable, Equatable {
    /// 0 for the tree's root, 1 for its sub-tokens, …
    public var depth: Int
    public var name: String
    /// Unix seconds.
    public var created: Int64
    public var expiresAt: Int64?
    public var ip: String
    public var userAgent: String
    public var momID: String
}

/// A tokeninfo answer: the server's JSON (without `token_update`), and the presented mytoken's
/// replacement when the call rotated it.
public struct MytokenTokeninfo: Sendable, Equatable {
    public var action: MytokenTokeninfoAction
    public var json: MytokenJSON
    public var rotatedMytoken: Secret?

    /// `event_history`: the events, oldest first.
    public var events: [MytokenEvent] {
        (json["events"]?.arrayValue ?? []).map { event in
            MytokenEvent(
                event: event["event"]?.stringValue ?? "", time: event["time"]?.integerValue ?? 0,
                ip: event["ip"]?.stringValue ?? "", userAgent: event["user_agent"]?.stringValue ?? "",
                comment: event["comment"]?.stringValue ?? "", momID: event["mom_id"]?.stringValue ?? "")
        }
    }

    /// `subtokens` (one tree) and `list_mytokens` (a list of trees), flattened depth-first.
    public var entries: [MytokenListEntry] {
        var result: [MytokenListEntry] = []
        func walk(_ tree: MytokenJSON, depth: Int) {
            guard let token = tree["token"] else { return }
            result.append(MytokenListEntry(
                depth: depth, name: token["name"]?.stringValue ?? "", created: token["created"]?.integerValue ?? 0,
                expiresAt: token["expires_at"]?.integerValue, ip: token["ip"]?.stringValue ?? "",
                userAgent: token["user_agent"]?.stringValue ?? "", momID: token["mom_id"]?.stringValue ?? ""))
            for child in tree["children"]?.arrayValue ?? [] { walk(child, depth: depth + 1) }
        }
        switch json["mytokens"] {
        case .array(let trees): for tree in trees { walk(tree, depth: 0) }
        case .some(let tree): walk(tree, depth: 0)
        case .none: break
        }
        return result
    }
}

extension MytokenClient {
    /// One tokeninfo action for `mytoken`. A missing capability comes back as
    /// `.insufficientCapabilities` naming the capability the action needs.
    public func tokeninfo(_ action: MytokenTokeninfoAction, mytoken: Secret) async throws(MytokenError) -> MytokenTokeninfo {
        guard let endpoint = configuration.tokeninfoEndpoint else { throw .unsupported("the tokeninfo endpoint") }
        let object: [String: JSONValue]
        do {
            object = try await post(endpoint, ["action": .string(action.rawValue), "mytoken": .string(mytoken.reveal())])
        } catch .insufficientCapabilities(let description) {
            throw .insufficientCapabilities(description: (description.map { $0 + "; " } ?? "")
                + "\(action.rawValue) needs the capability '\(action.capability)': create the mytoken with "
                + "--capability \(action.advisedCapability)")
        }
        var answer = object
        let rotated = Self.tokenUpdate(object)
        answer["token_update"] = nil
        return MytokenTokeninfo(action: action, json: .object(answer), rotatedMytoken: rotated)
    }

    // MARK: Templates and profiles

    /// The server's template groups (`_` is the default group).
    public func templateGroups() async throws(MytokenError) -> [String] {
        let value = try await getJSON(try profilesURL([]))
        guard case .array(let items) = value else {
            if case .null = value { return [] }
            throw .invalidResponse("the profiles endpoint did not list groups")
        }
        return items.compactMap(\.stringValue)
    }

    /// The templates of one kind in `group` (nil: the default group). A group the server has no
    /// templates for is an empty list (the server answers `null`).
    public func templates(_ kind: MytokenTemplateKind, group: String? = nil) async throws(MytokenError) -> [MytokenTemplate] {
        if let group {
            guard !group.isEmpty, !group.contains("/"), group.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }),
                  // Characters a URL path carries as they are (Foundation's `urlPathAllowed`).
                  group.unicodeScalars.allSatisfy({ $0.isASCIIAlphanumeric || "!$&'()*+,-.:;=@_~".unicodeScalars.contains($0) })
            else { throw .invalidArgument("'\(group.prefix(40))' is not a template group name") }
        }
        let value = try await getJSON(try profilesURL((group.map { [$0] } ?? []) + [kind.rawValue]))
        switch value {
        case .null: return []
        case .array(let items):
            return items.map {
                MytokenTemplate(id: $0["id"]?.stringValue ?? "", name: $0["name"]?.stringValue ?? "",
                                payload: $0["payload"] ?? .null)
            }.sorted { $0.name < $1.name }
        default: throw .invalidResponse("the profiles endpoint did not list \(kind.rawValue)")
        }
    }

    private func profilesURL(_ components: [String]) throws(MytokenError) -> URL {
        guard let endpoint = configuration.profilesEndpoint else { throw .unsupported("server-side profiles and templates") }
        var url = endpoint
        for component in components { url.appendPathComponent(component) }
        return url
    }

    private func getJSON(_ url: URL) async throws(MytokenError) -> MytokenJSON {
        let response = try await Self.send(transport, HTTPRequest(method: .get, url: url, headers: ["Accept": "application/json"]))
        let value = MytokenJSON.parse(response.body)
        if let error = value?["error"]?.stringValue {
            throw MytokenError.fromServer(status: response.status, error: error,
                                          description: value?["error_description"]?.stringValue)
        }
        guard response.status == 200, let value else {
            throw .invalidResponse("\(url.path) answered HTTP \(response.status)"
                                   + (value == nil ? " with a body that is not JSON" : ""))
        }
        return value
    }
}
