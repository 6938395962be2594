import DBus

/// One `ListProviders` entry: `(s short_name, a{sv} facts)`.
public struct ProviderInfo: Sendable, Equatable {
    public var shortName: String
    public var issuer: String
    public var displayName: String
    public var registrationURI: String?
    public var publicClientID: String?
    public var scopes: [String]
    public var audienceParameter: String
    public var notes: String
    public var source: String

    public init(shortName: String, issuer: String, displayName: String, registrationURI: String?, publicClientID: String?,
                scopes: [String], audienceParameter: String, notes: String, source: String) {
        self.shortName = shortName
        self.issuer = issuer
        self.displayName = displayName
        self.registrationURI = registrationURI
        self.publicClientID = publicClientID
        self.scopes = scopes
        self.audienceParameter = audienceParameter
        self.notes = notes
        self.source = source
    }

    static var factFields: [OptionField<Self>] {
        [
            OptionField(ProviderKey.issuer, \.issuer, default: ""),
            // Default: the short name (set before reading).
            OptionField(ProviderKey.displayName, \.displayName, default: ""),
            OptionField(ProviderKey.registrationURI, \.registrationURI),
            OptionField(ProviderKey.publicClientID, \.publicClientID),
            OptionField(ProviderKey.scopes, \.scopes, default: []),
            OptionField(ProviderKey.audienceParameter, \.audienceParameter, default: "auto"),
            OptionField(ProviderKey.notes, \.notes, default: ""),
            OptionField(ProviderKey.source, \.source, default: ""),
        ]
    }

    public var dbusValue: DBusValue { .structure([.string(shortName), Self.factFields.options(of: self).dbusValue]) }

    public init(dbusValue: DBusValue) throws(DBusError) {
        guard case .structure(let fields) = dbusValue, fields.count == 2 else {
            throw .typeMismatch(expected: "(sa{sv})", actual: dbusValue.signature.rawValue, context: "provider entry")
        }
        let (shortName, facts) = try fields.decode(String.self, [String: Variant].self)
        self.init(shortName: shortName, issuer: "", displayName: "", registrationURI: nil, publicClientID: nil,
                  scopes: [], audienceParameter: "", notes: "", source: "")
        try Self.factFields.read(facts, into: &self)
        if facts[ProviderKey.displayName.rawValue] == nil { displayName = shortName }
    }

    /// `ListProviders`' reply body.
    public static func listBody(_ providers: [ProviderInfo]) -> [DBusValue] {
        [.array(of: "(sa{sv})", providers.map(\.dbusValue))]
    }

    public static func list(body: [DBusValue]) throws(DBusError) -> [ProviderInfo] {
        guard let first = body.first, case .array(_, let entries) = first, body.count == 1 else {
            throw .typeMismatch(expected: "a(sa{sv})", actual: body.map(\.signature.rawValue).joined(), context: "ListProviders reply")
        }
        var result: [ProviderInfo] = []
        for entry in entries { result.append(try ProviderInfo(dbusValue: entry)) }
        return result
    }
}

/// `GetIdToken`'s options, for both sides.
public struct IdTokenOptions: OptionsMessage {
    public var minValid: UInt32?
    public var force: Bool?

    public init(minValid: UInt32? = nil, force: Bool? = nil) { self.minValid = minValid; self.force = force }

    public init() {}

    public static var fields: [OptionField<Self>] {
        [OptionField(IdTokenOption.minValid, \.minValid), OptionField(IdTokenOption.force, \.force)]
    }
}
