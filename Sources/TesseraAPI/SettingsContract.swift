import DBus

/// `GetSettings`' answer and `SetSettings`' argument, for both sides.
public struct ServiceSettingsMessage: OptionsMessage {
    public var oidcAgentSocket: String?
    public var oidcAgentSocketActive: String?
    public var oidcAgentSocketProblem: String?

    public init(oidcAgentSocket: String? = nil, oidcAgentSocketActive: String? = nil, oidcAgentSocketProblem: String? = nil) {
        self.oidcAgentSocket = oidcAgentSocket
        self.oidcAgentSocketActive = oidcAgentSocketActive
        self.oidcAgentSocketProblem = oidcAgentSocketProblem
    }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [
            OptionField(ServiceSetting.oidcAgentSocket, \.oidcAgentSocket),
            OptionField(ServiceSetting.oidcAgentSocketActive, \.oidcAgentSocketActive),
            OptionField(ServiceSetting.oidcAgentSocketProblem, \.oidcAgentSocketProblem),
        ]
    }

    /// `SetSettings`' strict reading: only the writable keys, each of its type.
    public init(settingsToSet options: [String: Variant]) throws(ArgumentError) {
        for key in options.keys.sorted() where ServiceSetting(rawValue: key).map({ !ServiceSetting.writable.contains($0) }) == true {
            throw ArgumentError(field: key, reason: "is read-only")
        }
        try self.init(dbusOptions: options, allowed: ServiceSetting.writable.map(\.rawValue))
    }

    /// `GetSettings`' answer as the CLI reads it (unknown keys from a newer service are ignored).
    public init(settings options: [String: Variant]) { self.init(lenient: options) }
}
