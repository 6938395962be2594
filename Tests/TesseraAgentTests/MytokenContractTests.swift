import DBus
import TesseraAPI
import Testing

/// The mytoken part of the contract, without a bus: the CLI's encoders and the service's strict
/// decoders agree, and secrets stay out of descriptions.
@Suite struct MytokenContractTests {
    @Test func createRequestRoundTripsEveryKey() throws {
        var request = CreateMytokenRequest()
        request.mytoken = "m"
        request.mytokenServer = "https://mytoken.example.org"
        request.restrictions = "[]"
        request.notBefore = "+1h"
        request.expiresAt = "2006-01-02 15:04"
        request.scopes = ["openid"]
        request.audience = ["https://a"]
        request.hosts = ["192.0.2.0/24"]
        request.geoIPAllow = ["DE"]
        request.geoIPDisallow = ["US"]
        request.usagesAT = 3
        request.usagesOther = 4
        request.capabilities = ["AT"]
        request.subtokenCapabilities = ["AT"]
        request.rotation = ["AT", "other"]
        request.rotationLifetime = 60
        request.rotationAutoRevoke = true
        request.name = "n"
        request.tokenType = "transfer"
        request.maxTokenLength = 100
        request.failOnWiderRestrictions = true
        request.restrictionsFile = "./r.json"
        request.profile = "agent"
        request.rotationTemplate = "at"
        request.rotationFile = "./rotation.json"
        request.oidcIssuer = "egi"
        request.notify = false
        #expect(Set(request.dbusOptions.keys) == Set(CreateMytokenKey.allCases.map(\.rawValue)))
        #expect(try CreateMytokenRequest(dbusOptions: request.dbusOptions) == request)
        #expect(throws: ArgumentError(field: "usages-at", reason: "must be of type 't', not 's'")) {
            try CreateMytokenRequest(dbusOptions: ["usages-at": Variant("3")])
        }
    }

    @Test func serverOptionsAllowRecursiveOnlyForRevocation() throws {
        let options = MytokenServerOptions(mytokenServer: "https://m", recursive: true)
        #expect(try MytokenServerOptions(dbusOptions: options.dbusOptions, allowRecursive: true) == options)
        #expect(throws: ArgumentError.self) { try MytokenServerOptions(dbusOptions: options.dbusOptions, allowRecursive: false) }
        let token = MytokenTokenOptions(mytokenServer: "https://m", scopes: ["a"], audience: ["b"], oidcIssuer: "https://i", comment: "c")
        #expect(try MytokenTokenOptions(dbusOptions: token.dbusOptions) == token)
        #expect(try RevokeOptions(dbusOptions: RevokeOptions(keepOnFailure: true, recursive: true).dbusOptions).recursive == true)
    }

    @Test func repliesRoundTripAndRedact() throws {
        let reply = MytokenReply(token: "secret-token", tokenType: "short", expiresAt: 5, restrictions: "[]",
                                 capabilities: ["AT"], mytokenServer: "https://m", rotatedMytoken: "rotated-secret")
        #expect(try MytokenReply(body: reply.body) == reply)
        #expect(!"\(reply)".contains("secret"))
        let flow = DeviceFlowReply(flow: AgentContract.flowPath(2), userCode: "", verificationURI: "https://m/c/x",
                                   verificationURIComplete: "https://m/c/x", expiresAt: 1, interval: 1)
        guard case .dictionary(_, _, let entries) = flow.body[1] else { Issue.record("info is not a dictionary"); return }
        #expect(!entries.contains { $0.key == .string(DeviceFlowInfoKey.userCode.rawValue) }, "a consent login has no user code")
        #expect(try DeviceFlowReply(body: flow.body) == flow)
        #expect(AccountSetting.settable.contains(.mytoken) && AccountSetting.settable.contains(.transferCode))
    }
}
