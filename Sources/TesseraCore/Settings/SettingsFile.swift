import FoundationEssentials
import OIDC
import TesseraNames

/// The service-wide settings a user turns on once (`GetSettings`/`SetSettings`).
public struct ServiceSettings: Sendable, Equatable {
    /// A path, `default`, or "" (off): see `ServiceSetting.oidcAgentSocket`.
    public var oidcAgentSocket = OIDCAgentSocketValue.off

    public init(oidcAgentSocket: String = OIDCAgentSocketValue.off) { self.oidcAgentSocket = oidcAgentSocket }
}

/// `$XDG_CONFIG_HOME/tessera/settings.json`: `{"schema": 1, "oidc-agent-socket": "default"}`. Keys
/// are the `ServiceSetting` names. A missing file means the defaults; a bad file is reported (by
/// file and field) and the defaults are used, so the service still starts.
public struct SettingsFile: Sendable {
    public static let schemaVersion = 1
    public let path: String

    public init(path: String) { self.path = path }

    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> SettingsFile {
        SettingsFile(path: ConfigFile.directory(environment: environment) + "/settings.json")
    }

    /// The settings, and the problem that made the file unusable if there was one.
    public func load() -> (ServiceSettings, AccountFileProblem?) {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) { return (ServiceSettings(), problem("(file)", "cannot be read")) }
            return (ServiceSettings(), nil)
        }
        guard let root = JSONValue.parseObject(data) else {
            return (ServiceSettings(), problem("(file)", "must hold a JSON object"))
        }
        guard root["schema"]?.integerValue == Int64(Self.schemaVersion) else {
            return (ServiceSettings(), problem("schema", "must be \(Self.schemaVersion)"))
        }
        var settings = ServiceSettings()
        if let value = root[ServiceSetting.oidcAgentSocket.rawValue] {
            guard let text = value.stringValue else {
                return (ServiceSettings(), problem(ServiceSetting.oidcAgentSocket.rawValue, "must be a string"))
            }
            settings.oidcAgentSocket = text
        }
        return (settings, nil)
    }

    public func save(_ settings: ServiceSettings) throws(AccountFileError) {
        let root: JSONValue = [
            "schema": .integer(Int64(Self.schemaVersion)),
            ServiceSetting.oidcAgentSocket.rawValue: .string(settings.oidcAgentSocket),
        ]
        try ConfigFile.write(root.data(pretty: true), to: path)
    }

    private func problem(_ field: String, _ reason: String) -> AccountFileProblem {
        AccountFileProblem(file: path, field: field, reason: reason)
    }
}
