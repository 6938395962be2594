import ArgumentParser
import TesseraAPI

/// The options that describe a new mytoken, as the mytoken client takes them: restrictions
/// (one clause from the single options, or `--restriction`), capabilities, rotation, a profile,
/// a name and the token type. Values travel to the service as typed; only files are read here
/// (the service never opens a path a D-Bus peer names).
struct NewMytokenOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Not usable before this time.", valueName: "time")) var nbf: String?
    @Option(help: ArgumentHelp("Not usable after this time.", valueName: "time")) var exp: String?
    @Option(name: .customLong("host"), help: ArgumentHelp("Allowed host, IP or CIDR range (repeatable).", valueName: "host"))
    var hosts: [String] = []
    @Option(name: .customLong("geo-ip-allow"), help: ArgumentHelp("Allowed country code (repeatable).", valueName: "code"))
    var geoIPAllow: [String] = []
    @Option(name: .customLong("geo-ip-disallow"), help: ArgumentHelp("Forbidden country code (repeatable).", valueName: "code"))
    var geoIPDisallow: [String] = []
    @Option(name: [.customLong("usages-at"), .customLong("usages-AT")], help: ArgumentHelp("How many access tokens it may give.", valueName: "n"))
    var usagesAT: UInt64?
    @Option(name: .customLong("usages-other"), help: ArgumentHelp("How many other uses it allows.", valueName: "n"))
    var usagesOther: UInt64?
    @Option(name: [.customLong("restriction"), .customLong("restrictions")],
            help: ArgumentHelp("""
                Restrictions: JSON (a clause or a list of clauses), a file (./, ../, / or ~/ path) holding \
                such JSON, or space-separated names of the server's restriction templates (e.g. "1d ip-this").
                """, valueName: "json|path|names"))
    var restriction: String?

    @Option(name: [.customLong("capability"), .customLong("capabilities")],
            help: ArgumentHelp("Capabilities: names (repeatable or space-separated), @TEMPLATE, or a JSON array.", valueName: "cap"))
    var capabilities: [String] = []
    @Option(name: .customLong("subtoken-capability"), help: ArgumentHelp("A capability it may pass on (repeatable).", valueName: "cap"))
    var subtokenCapabilities: [String] = []
    @Option(name: [.customLong("rotation"), .customLong("rotate")],
            help: ArgumentHelp("Rotation: a JSON object, a file (./, ../, / or ~/ path), or rotation template names.",
                               valueName: "json|path|names"))
    var rotation: String?
    @Flag(name: [.customLong("rotation-on-at"), .customLong("rotation-on-AT"), .customLong("rotate-on-at"), .customLong("rotate-on-AT")],
          help: "Rotate on every access token.")
    var rotationOnAT = false
    @Flag(name: [.customLong("rotation-on-other"), .customLong("rotate-on-other")], help: "Rotate on every other use.")
    var rotationOnOther = false
    @Option(name: .customLong("rotation-lifetime"), help: ArgumentHelp("Seconds a rotated token stays valid.", valueName: "seconds"))
    var rotationLifetime: UInt32?
    @Flag(name: .customLong("rotation-auto-revoke"), help: "Revoke the token family when a rotated-away token is replayed.")
    var rotationAutoRevoke = false
    @Option(help: ArgumentHelp("A profile: a JSON object of request fields, or the server's profile names (e.g. agent).",
                               valueName: "json|names"))
    var profile: String?
    @Option(name: [.customShort("n"), .customLong("name")], help: ArgumentHelp("A name for the token in the server's lists.", valueName: "name"))
    var name: String?
    @Option(name: .customLong("token-type"),
            help: ArgumentHelp("jwt (default; also 'token'), short ('short_token') or transfer ('transfer_code').", valueName: "type"))
    var tokenType: String?
    @Option(name: .customLong("max-token-len"), help: ArgumentHelp("Longest JWT acceptable (else a short token).", valueName: "n"))
    var maxTokenLength: UInt32?

    /// The single-clause options besides `-s` and `--aud` (which `mytoken add` uses for the
    /// account's defaults, so they live in `MytokenScopeOptions`).
    var hasClauseOptions: Bool {
        nbf != nil || exp != nil || !hosts.isEmpty || !geoIPAllow.isEmpty
            || !geoIPDisallow.isEmpty || usagesAT != nil || usagesOther != nil
    }

    var isEmpty: Bool {
        !hasClauseOptions && restriction == nil && capabilities.isEmpty && subtokenCapabilities.isEmpty && rotation == nil
            && !rotationOnAT && !rotationOnOther && rotationLifetime == nil && !rotationAutoRevoke && profile == nil
            && name == nil && tokenType == nil && maxTokenLength == nil
    }

    func validate() throws {
        if restriction != nil && hasClauseOptions {
            throw ValidationError("use either --restriction or the options --nbf, --exp, --scope, --aud, --host, "
                + "--geo-ip-allow, --geo-ip-disallow, --usages-at, --usages-other, not both")
        }
        if let tokenType, MytokenTokenTypeName(spelling: tokenType) == nil {
            throw ValidationError("--token-type must be \(MytokenTokenTypeName.spellings), not '\(tokenType)'")
        }
        if rotation == nil && (rotationLifetime != nil || rotationAutoRevoke) && !rotationOnAT && !rotationOnOther {
            throw ValidationError("--rotation-lifetime and --rotation-auto-revoke need --rotation-on-at, --rotation-on-other or --rotation")
        }
        for (option, value) in [("--restriction", restriction), ("--rotation", rotation), ("--profile", profile)] {
            if value?.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\n" }) == true {
                throw ValidationError("\(option) is empty")
            }
        }
    }

    /// The request as it travels; files named by `--restriction` / `--rotation` are read here.
    func request(_ clause: MytokenScopeOptions? = nil) throws(CLIError) -> CreateMytokenRequest {
        if restriction != nil, let clause, !clause.scopes.isEmpty || !clause.audiences.isEmpty {
            throw .usage("use either --restriction or the options --nbf, --exp, --scope, --aud, --host, "
                + "--geo-ip-allow, --geo-ip-disallow, --usages-at, --usages-other, not both")
        }
        var request = CreateMytokenRequest()
        if let restriction {
            (request.restrictions, request.restrictionsFile) = try Self.inlineOrFile(restriction, what: "restrictions file")
        }
        if let rotation {
            (request.rotationTemplate, request.rotationFile) = try Self.inlineOrFile(rotation, what: "rotation file")
        }
        request.profile = profile
        request.notBefore = nbf
        request.expiresAt = exp
        if let clause, !clause.scopes.isEmpty { request.scopes = splitWords(clause.scopes) }
        if let clause, !clause.audiences.isEmpty { request.audience = clause.audiences }
        if !hosts.isEmpty { request.hosts = hosts }
        if !geoIPAllow.isEmpty { request.geoIPAllow = geoIPAllow }
        if !geoIPDisallow.isEmpty { request.geoIPDisallow = geoIPDisallow }
        request.usagesAT = usagesAT
        request.usagesOther = usagesOther
        if !capabilities.isEmpty { request.capabilities = capabilities }
        if !subtokenCapabilities.isEmpty { request.subtokenCapabilities = subtokenCapabilities }
        let triggers = (rotationOnAT ? ["AT"] : []) + (rotationOnOther ? ["other"] : [])
        if !triggers.isEmpty { request.rotation = triggers }
        request.rotationLifetime = rotationLifetime
        if rotationAutoRevoke { request.rotationAutoRevoke = true }
        request.name = name
        request.tokenType = tokenType
        request.maxTokenLength = maxTokenLength
        return request
    }

    /// The mytoken client's rule: an argument starting with `./`, `../`, `/` or `~/` names a file
    /// (`~` is $HOME); anything else is JSON or template names.
    /// The argument's text, or the file's when it names one (and then the file's path).
    static func inlineOrFile(_ argument: String, what: String) throws(CLIError) -> (text: String, file: String?) {
        guard let path = path(argument) else { return (argument, nil) }
        return (try MytokenFiles.read(path, what: what), path)
    }

    static func path(_ argument: String) -> String? {
        if argument.hasPrefix("./") || argument.hasPrefix("../") || argument.hasPrefix("/") { return argument }
        if argument.hasPrefix("~/"), let home = Environment.value("HOME") {
            return (home.hasSuffix("/") ? String(home.dropLast()) : home) + "/" + argument.dropFirst(2)
        }
        return nil
    }
}

/// `-s` and `--aud` of a new mytoken's restriction clause.
struct MytokenScopeOptions: ParsableArguments {
    @Option(name: [.customShort("s"), .customLong("scope")], help: ArgumentHelp("Allowed scope (repeatable).", valueName: "scope"))
    var scopes: [String] = []
    @Option(name: .customLong("aud"), help: ArgumentHelp("Allowed audience (repeatable).", valueName: "audience"))
    var audiences: [String] = []
}

/// `-s "openid profile"` means two scopes, as in oidc-token and the mytoken client.
func splitWords(_ values: [String]) -> [String] {
    values.flatMap { $0.split(separator: " ").map(String.init) }
}

/// The default mytoken server from the environment: Tessera's `MYTOKEN_SERVER`, else the mytoken
/// client's `MYTOKEN_URL`. Without either the service takes the server of the only mytoken account.
func defaultMytokenServer() -> String? {
    Environment.value("MYTOKEN_SERVER") ?? Environment.value("MYTOKEN_URL")
}
