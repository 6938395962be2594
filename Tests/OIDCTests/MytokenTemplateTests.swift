import Foundation
import Testing
import TestSupport
@testable import OIDC
import Secrets

/// `--restriction`, `--capability`, `--rotation` and `--profile` as the mytoken client reads them,
/// and the server's templates, profiles and tokeninfo through the client.
@Suite struct MytokenTemplateTests {
    static let nowSeconds: Int64 = 1_717_243_200
    let times = MytokenTimeParser(
        now: Date(timeIntervalSince1970: TimeInterval(nowSeconds)), timeZone: TimeZone(identifier: "UTC")!)

    // MARK: Input forms

    @Test func templateNamesBecomeAnIncludeClause() throws {
        #expect(try MytokenTemplateInput.restrictions("1d", times: times).text == #"[{"include":"1d"}]"#)
        #expect(try MytokenTemplateInput.restrictions(" 1d  ip-this ", times: times).text
            == #"[{"include":["1d","ip-this"]}]"#)
        #expect(try MytokenTemplateInput.restrictions("kit/1w", times: times).text == #"[{"include":"kit/1w"}]"#)
    }

    @Test func jsonKeepsRelativeTimesAndIncludes() throws {
        let json = try MytokenTemplateInput.restrictions(
            #"[{"exp":"+1d","scope":"openid"},{"include":["ip-this"],"usages_AT":1},"1w"]"#, times: times)
        #expect(json.text == #"[{"exp":"+1d","scope":"openid"},{"include":"ip-this","usages_AT":1},"1w"]"#)
        // An absolute local time is the user's, so it is resolved here; unix seconds stay.
        let absolute = try MytokenTemplateInput.restrictions(#"{"nbf":"2024-06-01 12:00","exp":1717300000}"#, times: times)
        #expect(absolute.text == #"[{"exp":1717300000,"nbf":1717243200}]"#)
        // The older key `ip` is the newer `hosts`; empty clauses go.
        #expect(try MytokenTemplateInput.restrictions(#"[{"ip":["10.0.0.1"]},{}]"#, times: times).text
            == #"[{"hosts":["10.0.0.1"]}]"#)
    }

    @Test func badRestrictionInputIsNamed() {
        func message(_ text: String, source: String? = nil) -> String {
            do {
                _ = try MytokenTemplateInput.restrictions(text, times: times, source: source)
                return "no error"
            } catch { return error.description }
        }
        #expect(message("{\"exp\":") .contains("not valid JSON"))
        #expect(message("{\"exp\":", source: "./r.json").contains("./r.json"))
        #expect(message("1d", source: "/tmp/r.json").contains("/tmp/r.json must contain a JSON object or array"))
        #expect(message(#"{"exp":"+1x"}"#).contains("'+1x' is not a valid time"))
        #expect(message(#"{"exp":"+1d","nbf":"+2d"}"#).contains("could never be used"))
        #expect(message(#"{"expires":"+1d"}"#).contains("unknown key 'expires'"))
        #expect(message(#"{"include":[1]}"#).contains("template names"))
        #expect(message("1d \"x\"").contains("is not a restriction template name"))
        #expect(message("   ").contains("empty"))
        #expect(message("@/etc/passwd").contains("looks like a file path"))
        #expect(message("~/r.json").contains("looks like a file path"))
        #expect(message(#"[{"exp":"+1x"}]"#, source: "./r.json").hasPrefix("invalid restriction: in ./r.json: "))
    }

    @Test func capabilitiesTakeWordsJSONAndTemplates() throws {
        #expect(try MytokenTemplateInput.capabilities(["AT tokeninfo", "@default+MT"]) == ["AT", "tokeninfo", "@default+MT"])
        #expect(try MytokenTemplateInput.capabilities([#"["AT","create_mytoken"]"#, "AT"]) == ["AT", "create_mytoken"])
        #expect(throws: MytokenError.self) { try MytokenTemplateInput.capabilities(["@"]) }
        #expect(throws: MytokenError.self) { try MytokenTemplateInput.capabilities([#"["AT",1]"#]) }
        #expect(throws: MytokenError.self) { try MytokenTemplateInput.capabilities(["AT"], source: "caps.txt").count }
    }

    @Test func rotationTakesJSONOrTemplateNames() throws {
        let names = try MytokenTemplateInput.rotation("at-other-daily-auto-revoke")
        #expect(names == MytokenRotation(include: ["at-other-daily-auto-revoke"]))
        #expect(String(decoding: try JSONEncoder().encode(names), as: UTF8.self) == #"{"include":"at-other-daily-auto-revoke"}"#)
        let json = try MytokenTemplateInput.rotation(#"{"on_AT":true,"lifetime":3600,"include":["auto-revoke"]}"#)
        #expect(json == MytokenRotation(onAccessToken: true, lifetime: 3600, include: ["auto-revoke"]))
        #expect(throws: MytokenError.self) { try MytokenTemplateInput.rotation(#"{"on_at":true}"#) }
        #expect(throws: MytokenError.self) { try MytokenTemplateInput.rotation(#"{"lifetime":-1}"#) }
    }

    @Test func profileTakesJSONOrNames() throws {
        #expect(try MytokenTemplateInput.profile("agent web-default", times: times)
            == MytokenProfile(include: ["agent", "web-default"]))
        let json = try MytokenTemplateInput.profile(
            #"{"restrictions":"1d","capabilities":"@default","rotation":"at","name":"job","include":"agent"}"#, times: times)
        #expect(json.include == ["agent"])
        #expect(json.fields["restrictions"]?.text == #"[{"include":"1d"}]"#)
        #expect(json.fields["capabilities"]?.text == #"["@default"]"#)
        #expect(json.fields["rotation"]?.text == #"{"include":"at"}"#)
        #expect(throws: MytokenError.self) { try MytokenTemplateInput.profile(#"{"nme":"x"}"#, times: times) }
        #expect(throws: MytokenError.self) { try MytokenTemplateInput.profile("[1]", times: times) }
    }

    // MARK: Against the test server

    @Test func theServerReceivesAndResolvesTemplates() async throws {
        let server = try await MytokenServer.start()
        let client = try await MytokenClientTests.client(server)
        let parent = Secret(try await server.mint(capabilities: ["AT", "create_mytoken", "tokeninfo"]))
        var request = MytokenRequest(capabilities: try MytokenTemplateInput.capabilities(["@default"]),
                                     rotation: try MytokenTemplateInput.rotation("at-other-weekly-auto-revoke"))
        request.restrictionsJSON = try MytokenTemplateInput.restrictions(#"[{"include":"1d","scope":"openid"}]"#, times: times)
        let issued = try await client.createMytoken(from: parent, request)
        let body = try #require(try await server.receivedBodies(path: "/api/v0/token/my").last)
        #expect(body.contains(#""restrictions":[{"include":"1d","scope":"openid"}]"#))
        #expect(body.contains(#""rotation":{"include":"at-other-weekly-auto-revoke"}"#))
        #expect(body.contains(#""capabilities":["@default"]"#))
        // The server resolved them: `1d` is {"exp": "+1d"}, `@default` is AT + tokeninfo.
        #expect(issued.capabilities == ["AT", "tokeninfo"])
        let exp = try #require(issued.restrictions.first?.expiresAt)
        #expect(abs(exp - Int64(Date().timeIntervalSince1970) - 86_400) < 30)
        #expect(issued.rotation == MytokenRotation(onAccessToken: true, onOther: true, lifetime: 604_800, autoRevoke: true))
    }

    @Test func profilesAreIncludedAndExplicitFieldsWin() async throws {
        let server = try await MytokenServer.start()
        let client = try await MytokenClientTests.client(server)
        let parent = Secret(try await server.mint(capabilities: ["AT", "create_mytoken", "tokeninfo", "settings"]))
        var request = MytokenRequest(profile: try MytokenTemplateInput.profile("agent", times: times))
        let agent = try await client.createMytoken(from: parent, request)
        #expect(Set(agent.capabilities) == ["AT", "tokeninfo", "create_mytoken", "settings"])
        request = MytokenRequest(profile: try MytokenTemplateInput.profile(#"{"capabilities":["AT"],"name":"p"}"#, times: times))
        request.capabilities = ["tokeninfo"]
        let explicit = try await client.createMytoken(from: parent, request)
        #expect(explicit.capabilities == ["tokeninfo"])
        let body = try #require(try await server.receivedBodies(path: "/api/v0/token/my").last)
        #expect(body.contains(#""capabilities":["tokeninfo"]"#) && body.contains(#""name":"p""#))
    }

    @Test func anUnknownTemplateIsTheServersErrorNamed() async throws {
        let server = try await MytokenServer.start()
        let client = try await MytokenClientTests.client(server)
        let parent = Secret(try await server.mint())
        let request = MytokenRequest(restrictionsJSON: try MytokenTemplateInput.restrictions("1d 2x", times: times))
        let error = await MytokenClientTests.error { _ = try await client.createMytoken(from: parent, request) }
        guard case .unknownTemplate(let description) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(description.contains("unknown include name: '2x'"))
        #expect(error!.description.contains("'2x'"))
    }

    @Test func templatesAreListed() async throws {
        let server = try await MytokenServer.start()
        try await server.addTemplate(group: "kit", kind: "restrictions", name: "2h", payloadJSON: #"{"exp":"+2h"}"#)
        let client = try await MytokenClientTests.client(server)
        #expect(try await client.templateGroups() == ["_", "kit"])
        let restrictions = try await client.templates(.restrictions)
        #expect(restrictions.map(\.name) == ["12h", "1d", "1m", "1w", "1y", "ip-this", "web-default"])
        let web = try #require(restrictions.first { $0.name == "web-default" })
        #expect(web.payload.arrayValue?.first?["usages_AT"] == .integer(15))
        #expect(web.payload.arrayValue?.first?["hosts"] == .array([.string("this")]))
        let rotation = try await client.templates(.rotation)
        #expect(rotation.first { $0.name == "at-other-no-auto-revoke" }?.payload.text == #"{"on_AT":true,"on_other":true}"#)
        #expect(try await client.templates(.profiles).first { $0.name == "agent" }?.payload["capabilities"]?.arrayValue?.count == 5)
        #expect(try await client.templates(.restrictions, group: "kit").map(\.name) == ["2h"])
        #expect(try await client.templates(.capabilities, group: "nobody").isEmpty)
        await #expect(throws: MytokenError.self) { try await client.templates(.capabilities, group: "a/b") }
    }

    @Test func tokeninfoActions() async throws {
        let server = try await MytokenServer.start()
        let client = try await MytokenClientTests.client(server)
        let root = Secret(try await server.mint(
            capabilities: ["AT", "create_mytoken", "tokeninfo", "manage_mytokens:list"]))
        _ = try await client.accessToken(mytoken: root, comment: "job 1")
        _ = try await client.createMytoken(from: root, MytokenRequest(name: "child"))
        let introspection = try await client.tokeninfo(.introspect, mytoken: root)
        #expect(introspection.json["valid"] == .bool(true))
        #expect(introspection.json["token"]?["capabilities"]?.arrayValue?.count == 4)
        let history = try await client.tokeninfo(.eventHistory, mytoken: root)
        #expect(history.events.map(\.event) == ["created", "AT_created", "MT_created", "tokeninfo_introspect"])
        #expect(history.events[1].comment == "job 1")
        let tree = try await client.tokeninfo(.subtokens, mytoken: root)
        #expect(tree.entries.map(\.depth) == [0, 1])
        #expect(tree.entries.last?.name == "child")
        let list = try await client.tokeninfo(.listMytokens, mytoken: root)
        #expect(list.entries.map(\.name) == ["", "child"])

        let bare = Secret(try await server.mint(capabilities: ["AT"]))
        let refused = await MytokenClientTests.error { _ = try await client.tokeninfo(.eventHistory, mytoken: bare) }
        guard case .insufficientCapabilities(let description) = refused else { Issue.record("\(String(describing: refused))"); return }
        #expect(description?.contains("--capability tokeninfo") == true)
    }

    @Test func tokeninfoCountsUsageAndRotates() async throws {
        let server = try await MytokenServer.start()
        let client = try await MytokenClientTests.client(server)
        let token = Secret(try await server.mint(
            restrictionsJSON: #"[{"usages_other":1}]"#, capabilities: ["tokeninfo"], rotationJSON: #"{"on_other":true}"#))
        let history = try await client.tokeninfo(.eventHistory, mytoken: token)
        let rotated = try #require(history.rotatedMytoken)
        #expect(history.json["token_update"] == nil)
        // The one "other" use is spent; introspection needs no usage.
        _ = try await client.tokeninfo(.introspect, mytoken: rotated)
        let spent = await MytokenClientTests.error { _ = try await client.tokeninfo(.subtokens, mytoken: rotated) }
        guard case .usageRestricted = spent else { Issue.record("\(String(describing: spent))"); return }
    }
}
