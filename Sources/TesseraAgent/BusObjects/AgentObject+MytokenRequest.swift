import DBus
import FoundationEssentials
import OIDC
import TesseraAPI
import TesseraCore

/// The CreateMytokenRequest options (CreateMytoken, StartMytokenLogin, an account's login request)
/// as the OIDC module's `MytokenRequest`.
extension AgentObject {
    static let maxCapabilities = 32

    /// The wire request as the OIDC module's request; restriction strings parsed here, in the
    /// service's local time zone (the user's session).
    /// `keepRelativeTimes`: the single-clause options' relative times (`--exp +7d`) go to the
    /// server as typed, for a request kept and sent later (an account's login request).
    static func mytokenRequest(_ message: CreateMytokenRequest, keepRelativeTimes: Bool = false) throws(AgentError) -> MytokenRequest {
        var request = MytokenRequest()
        var options = MytokenRestrictionOptions()
        options.notBefore = message.notBefore
        options.expiresAt = message.expiresAt
        options.scopes = message.scopes ?? []
        options.audiences = message.audience ?? []
        options.hosts = message.hosts ?? []
        options.geoIPAllow = message.geoIPAllow ?? []
        options.geoIPDisallow = message.geoIPDisallow ?? []
        options.usagesAT = try message.usagesAT.map { value throws(AgentError) in
            guard let count = Int64(exactly: value) else {
                throw .invalidArgument(field: CreateMytokenKey.usagesAT.rawValue, reason: "is too large")
            }
            return count
        }
        options.usagesOther = try message.usagesOther.map { value throws(AgentError) in
            guard let count = Int64(exactly: value) else {
                throw .invalidArgument(field: CreateMytokenKey.usagesOther.rawValue, reason: "is too large")
            }
            return count
        }
        for (key, text) in [(CreateMytokenKey.restrictions, message.restrictions), (.profile, message.profile),
                            (.rotationTemplate, message.rotationTemplate)] {
            if let text, text.utf8.count > 64 * 1024 {
                throw .invalidArgument(field: key.rawValue, reason: "is longer than 64 KB")
            }
        }
        if message.restrictionsFile != nil && message.restrictions == nil {
            throw .invalidArgument(field: CreateMytokenKey.restrictionsFile.rawValue, reason: "applies only with restrictions")
        }
        if message.rotationFile != nil && message.rotationTemplate == nil {
            throw .invalidArgument(field: CreateMytokenKey.rotationFile.rawValue, reason: "applies only with rotation-template")
        }
        // Files are read by the caller (the service never opens a path a D-Bus peer names); the
        // file names only label errors.
        let times = MytokenTimeParser()
        let restrictionsFile = try message.restrictionsFile.map { path throws(AgentError) in
            try Validate.text(path, field: CreateMytokenKey.restrictionsFile.rawValue)
        }
        do throws(MytokenError) {
            if let text = message.restrictions {
                guard options.isEmpty else {
                    throw MytokenError.invalidRestriction(
                        "use either --restriction or the options --nbf, --exp, --scope, --aud, --host, --geo-ip-allow, "
                        + "--geo-ip-disallow, --usages-at, --usages-other, not both")
                }
                request.restrictionsJSON = try MytokenTemplateInput.restrictions(text, times: times, source: restrictionsFile)
            } else {
                request.restrictions = try MytokenRestrictionInput.resolve(restriction: nil, options: options, times: times)
                if keepRelativeTimes, let clause = request.restrictions.first,
                   case .object(var wire) = MytokenJSON.parse(Data(clause.jsonString().utf8)) ?? .null {
                    for (key, text) in [("nbf", options.notBefore), ("exp", options.expiresAt)] {
                        if let text, text.hasPrefix("+") { wire[key] = .string(text) }
                    }
                    request.restrictionsJSON = .array([.object(wire)])
                }
            }
        } catch {
            throw .invalidArgument(field: restrictionField(message), reason: error.description)
        }
        if let profile = message.profile {
            do { request.profile = try MytokenTemplateInput.profile(profile, times: times) } catch {
                throw .invalidArgument(field: CreateMytokenKey.profile.rawValue, reason: error.description)
            }
        }
        request.capabilities = try message.capabilities.map { list throws(AgentError) in
            try capabilityList(list, field: CreateMytokenKey.capabilities.rawValue)
        }
        request.subtokenCapabilities = try message.subtokenCapabilities.map { list throws(AgentError) in
            try capabilityList(list, field: CreateMytokenKey.subtokenCapabilities.rawValue)
        }
        if let template = message.rotationTemplate {
            // The client's precedence: the flags are added to the template's (on_AT/on_other/
            // auto_revoke OR'ed, a lifetime given replaces the template's).
            let rotationFile = try message.rotationFile.map { path throws(AgentError) in
                try Validate.text(path, field: CreateMytokenKey.rotationFile.rawValue)
            }
            var rotation: MytokenRotation
            do { rotation = try MytokenTemplateInput.rotation(template, source: rotationFile) } catch {
                throw .invalidArgument(field: CreateMytokenKey.rotationTemplate.rawValue, reason: error.description)
            }
            try addTriggers(message.rotation, to: &rotation)
            if let lifetime = message.rotationLifetime { rotation.lifetime = UInt64(lifetime) }
            if message.rotationAutoRevoke == true { rotation.autoRevoke = true }
            request.rotation = rotation
        } else if message.rotation != nil || message.rotationLifetime != nil || message.rotationAutoRevoke != nil {
            var rotation = MytokenRotation()
            try addTriggers(message.rotation, to: &rotation)
            guard rotation.onAccessToken || rotation.onOther else {
                throw .invalidArgument(field: CreateMytokenKey.rotation.rawValue,
                                       reason: "name at least one trigger (AT, other) for rotation-lifetime or rotation-auto-revoke")
            }
            rotation.lifetime = message.rotationLifetime.map(UInt64.init)
            rotation.autoRevoke = message.rotationAutoRevoke ?? false
            request.rotation = rotation
        }
        request.name = try message.name.map { text throws(AgentError) in try Validate.text(text, field: CreateMytokenKey.name.rawValue) }
        if let type = message.tokenType {
            guard let name = MytokenTokenTypeName(spelling: type) else {
                throw .invalidArgument(field: CreateMytokenKey.tokenType.rawValue,
                                       reason: "must be \(MytokenTokenTypeName.spellings), not \"\(type.prefix(32))\"")
            }
            request.responseType = switch name {
            case .jwt: .token
            case .short: .shortToken
            case .transfer: .transferCode
            }
        }
        if let length = message.maxTokenLength {
            guard length > 0 else { throw .invalidArgument(field: CreateMytokenKey.maxTokenLength.rawValue, reason: "must be positive") }
            request.maxTokenLength = Int(length)
        }
        request.failOnWiderRestrictions = message.failOnWiderRestrictions ?? false
        request.applicationName = "Tessera"
        return request
    }

    /// `rotation`'s triggers, OR'ed into `rotation` (a template's own stay on).
    private static func addTriggers(_ triggers: [String]?, to rotation: inout MytokenRotation) throws(AgentError) {
        for trigger in triggers ?? [] {
            switch trigger {
            case "AT": rotation.onAccessToken = true
            case "other": rotation.onOther = true
            default:
                throw .invalidArgument(field: CreateMytokenKey.rotation.rawValue,
                                       reason: "\"\(trigger.prefix(32))\" is not a rotation trigger (AT, other)")
            }
        }
    }

    private static func restrictionField(_ message: CreateMytokenRequest) -> String {
        message.restrictions != nil ? CreateMytokenKey.restrictions.rawValue : "restriction options"
    }

    private static func capabilityList(_ list: [String], field: String) throws(AgentError) -> [String] {
        guard !list.isEmpty else { throw .invalidArgument(field: field, reason: "must not be empty (leave it out to inherit)") }
        guard list.count <= maxCapabilities else {
            throw .invalidArgument(field: field, reason: "has more than \(maxCapabilities) entries")
        }
        // Each entry as the client takes --capability: names (`@name` a template) or a JSON array.
        do { return try MytokenTemplateInput.capabilities(list) } catch {
            throw .invalidArgument(field: field, reason: error.description)
        }
    }
}
