import DBus

/// `GetSettings`' answer and `SetSettings`' argument, for both sides.
public struct ServiceSettingsMessage: Sendable, Equatable {
    public var oidcAgentSocket: String?
    public var oidcAgentSocketActive: String?
    public var oidcAgentSocketProblem: String?

    public init(oidcAgentSocket: String? = nil, oidcAgentSocketActive: String? = nil, oidcAgentSocketProblem: String? = nil) {
        self.oidcAgentSocket = oidcAgentSocket
        self.oidcAgentSocketActive = oidcAgentSocketActive
        self.oidcAgentSocketProblem = oidcAgentSocketProblem
    }

    public var dbusOptions: [String: Variant] {
        var options: [String: Variant] = [:]
        if let oidcAgentSocket { options[ServiceSetting.oidcAgentSocket.rawValue] = Variant(oidcAgentSocket) }
        if let oidcAgentSocketActive { options[ServiceSetting.oidcAgentSocketActive.rawValue] = Variant(oidcAgentSocketActive) }
        if let oidcAgentSocketProblem { options[ServiceSetting.oidcAgentSocketProblem.rawValue] = Variant(oidcAgentSocketProblem) }
        return options
    }

    /// `SetSettings`' strict reading: only the writable keys, each of its type.
    public init(settingsToSet options: [String: Variant]) throws(ArgumentError) {
        for key in options.keys.sorted() where ServiceSetting(rawValue: key).map({ !ServiceSetting.writable.contains($0) }) == true {
            throw ArgumentError(field: key, reason: "is read-only")
        }
        let reader = try OptionReader(options, allowed: ServiceSetting.writable.map(\.rawValue))
        oidcAgentSocket = try reader.value(ServiceSetting.oidcAgentSocket.rawValue)
    }

    /// `GetSettings`' answer as the CLI reads it (unknown keys from a newer service are ignored).
    public init(settings options: [String: Variant]) {
        oidcAgentSocket = try? options[ServiceSetting.oidcAgentSocket.rawValue]?.get(String.self)
        oidcAgentSocketActive = try? options[ServiceSetting.oidcAgentSocketActive.rawValue]?.get(String.self)
        oidcAgentSocketProblem = try? options[ServiceSetting.oidcAgentSocketProblem.rawValue]?.get(String.self)
    }
}
