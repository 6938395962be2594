import Foundation
import Testing
@testable import OIDC

@Suite struct MytokenRestrictionTests {
    static let nowSeconds: Int64 = 1_717_243_200
    let times = MytokenTimeParser(
        now: Date(timeIntervalSince1970: TimeInterval(nowSeconds)), timeZone: TimeZone(identifier: "UTC")!)

    // MARK: Encoding

    @Test func fullClauseEncodesWithTheServersKeys() {
        let clause = MytokenRestriction(
            notBefore: 10, expiresAt: 20, scope: "openid profile", audiences: ["https://a"], hosts: ["10.0.0.0/8"],
            geoIPAllow: ["de"], geoIPDisallow: ["us"], usagesAT: 5, usagesOther: 0)
        #expect(clause.jsonString() == #"{"audience":["https://a"],"exp":20,"geoip_allow":["de"],"#
            + #""geoip_disallow":["us"],"hosts":["10.0.0.0/8"],"nbf":10,"scope":"openid profile","#
            + #""usages_AT":5,"usages_other":0}"#)
    }

    @Test func emptyFieldsAreLeftOut() {
        #expect(MytokenRestriction().jsonString() == "{}")
        #expect(MytokenRestriction(scope: "", audiences: [], hosts: []).jsonString() == "{}")
        #expect(MytokenRestriction(usagesAT: 0).jsonString() == #"{"usages_AT":0}"#)
    }

    @Test func serverJSONRoundTrips() throws {
        let clause = MytokenRestriction(expiresAt: 99, scope: "a b", audiences: ["x"], usagesOther: 3)
        let decoded = try JSONDecoder().decode(MytokenRestriction.self, from: Data(clause.jsonString().utf8))
        #expect(decoded == clause)
    }

    // MARK: Options → one clause

    @Test func noOptionsGiveNoClause() throws {
        #expect(try MytokenRestrictionOptions().clause(times: times) == nil)
    }

    @Test func eachOptionFillsItsField() throws {
        let now = Self.nowSeconds
        let cases: [(MytokenRestrictionOptions, String)] = [
            (.init(notBefore: "+1h"), #"{"nbf":\#(now + 3_600)}"#),
            (.init(expiresAt: "1800000000"), #"{"exp":1800000000}"#),
            (.init(expiresAt: "2030-01-01 00:00"), #"{"exp":1893456000}"#),
            (.init(scopes: ["openid", "profile"]), #"{"scope":"openid profile"}"#),
            (.init(scopes: ["openid profile", "openid"]), #"{"scope":"openid profile"}"#),
            (.init(audiences: ["https://rs.example", "aud2"]), #"{"audience":["https://rs.example","aud2"]}"#),
            (.init(hosts: ["127.0.0.1", "192.168.0.0/16"]), #"{"hosts":["127.0.0.1","192.168.0.0/16"]}"#),
            (.init(geoIPAllow: ["de", "FR"]), #"{"geoip_allow":["de","FR"]}"#),
            (.init(geoIPDisallow: ["us"]), #"{"geoip_disallow":["us"]}"#),
            (.init(usagesAT: 3), #"{"usages_AT":3}"#),
            (.init(usagesAT: 0), #"{"usages_AT":0}"#),
            (.init(usagesOther: 7), #"{"usages_other":7}"#),
        ]
        for (options, json) in cases {
            #expect(try options.clause(times: times)?.jsonString() == json)
        }
    }

    @Test func allOptionsTogetherMakeOneClause() throws {
        let options = MytokenRestrictionOptions(
            notBefore: "+60", expiresAt: "+3d12h30m", scopes: ["openid"], audiences: ["a"], hosts: ["h"],
            geoIPAllow: ["de"], geoIPDisallow: ["us"], usagesAT: 1, usagesOther: 2)
        let clause = try #require(try options.clause(times: times))
        #expect(clause == MytokenRestriction(
            notBefore: Self.nowSeconds + 60, expiresAt: Self.nowSeconds + 3 * 86_400 + 45_000, scope: "openid",
            audiences: ["a"], hosts: ["h"], geoIPAllow: ["de"], geoIPDisallow: ["us"], usagesAT: 1, usagesOther: 2))
    }

    @Test func badOptionsAreRefusedWithTheValue() {
        #expect(throws: MytokenError.invalidTimeValue("soon")) {
            try MytokenRestrictionOptions(expiresAt: "soon").clause(times: times)
        }
        #expect(throws: MytokenError.invalidTimeValue("+5q")) {
            try MytokenRestrictionOptions(notBefore: "+5q").clause(times: times)
        }
        let invalid: [(MytokenRestrictionOptions, String)] = [
            (.init(usagesAT: -1), "--usages-at value '-1'"),
            (.init(usagesOther: -3), "--usages-other value '-3'"),
            (.init(geoIPAllow: ["germany"]), "--geo-ip-allow value 'germany'"),
            (.init(geoIPDisallow: ["u1"]), "--geo-ip-disallow value 'u1'"),
            (.init(scopes: [" "]), "--scope value ' '"),
            (.init(audiences: ["a b"]), "--aud value 'a b'"),
            (.init(hosts: [""]), "--host value ''"),
            (.init(notBefore: "+2h", expiresAt: "+1h"), "is not after nbf"),
        ]
        for (options, fragment) in invalid {
            do {
                _ = try options.clause(times: times)
                Issue.record("accepted \(options)")
            } catch {
                guard case .invalidRestriction = error else { Issue.record("\(error)"); continue }
                #expect(error.description.contains(fragment), "\(error.description)")
            }
        }
    }

    // MARK: --restriction JSON

    @Test func singleObjectAndArrayAreAccepted() throws {
        #expect(try MytokenRestrictionInput.parse(#"{"scope":"openid","usages_AT":1}"#, times: times)
            == [MytokenRestriction(scope: "openid", usagesAT: 1)])
        #expect(try MytokenRestrictionInput.parse(#"[{"exp":100},{"audience":["a"]}]"#, times: times)
            == [MytokenRestriction(expiresAt: 100), MytokenRestriction(audiences: ["a"])])
    }

    @Test func timeStringsInsideJSONAreParsed() throws {
        let parsed = try MytokenRestrictionInput.parse(
            #"[{"nbf":"+1h","exp":"2030-01-01 00:00"},{"exp":"+2w"},{"nbf":"1800000000","exp":1900000000}]"#,
            times: times)
        #expect(parsed == [
            MytokenRestriction(notBefore: Self.nowSeconds + 3_600, expiresAt: 1_893_456_000),
            MytokenRestriction(expiresAt: Self.nowSeconds + 2 * 604_800),
            MytokenRestriction(notBefore: 1_800_000_000, expiresAt: 1_900_000_000),
        ])
    }

    @Test func emptyClausesAndEmptyValuesAreDropped() throws {
        #expect(try MytokenRestrictionInput.parse(#"[{},{"exp":""},{"scope":null}]"#, times: times) == [])
        #expect(try MytokenRestrictionInput.parse("[]", times: times) == [])
    }

    @Test func legacyIPKeyMeansHosts() throws {
        #expect(try MytokenRestrictionInput.parse(#"{"ip":["1.2.3.4"],"hosts":["h"]}"#, times: times)
            == [MytokenRestriction(hosts: ["h", "1.2.3.4"])])
    }

    @Test func singleStringIsAcceptedForAListField() throws {
        #expect(try MytokenRestrictionInput.parse(#"{"audience":"a"}"#, times: times)
            == [MytokenRestriction(audiences: ["a"])])
    }

    @Test func fileArgumentIsRead() throws {
        let path = NSTemporaryDirectory() + "mytoken-restr-\(UUID().uuidString).json"
        try #"[{"exp":"+60","geoip_disallow":["us"]}]"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try MytokenRestrictionInput.parse("@" + path, times: times)
            == [MytokenRestriction(expiresAt: Self.nowSeconds + 60, geoIPDisallow: ["us"])])
    }

    @Test(arguments: [
        (#"not json"#, "not valid JSON"),
        (#"42"#, "expected a JSON object"),
        (#""text""#, "expected a JSON object"),
        (#"[1]"#, "clause 1 is not a JSON object"),
        (#"[{},{"scopes":"openid"}]"#, "clause 2 has unknown key 'scopes'"),
        (#"{"exp":"tomorrow"}"#, "'tomorrow' is not a valid time"),
        (#"{"exp":-5}"#, "clause 1 'exp' must be unix seconds"),
        (#"{"exp":1.5}"#, "clause 1 'exp' must be unix seconds"),
        (#"{"nbf":true}"#, "clause 1 'nbf' must be unix seconds"),
        (#"{"usages_AT":"3"}"#, "clause 1 'usages_AT' must be a whole number"),
        (#"{"usages_other":-1}"#, "must be 0 or more"),
        (#"{"usages_AT":true}"#, "must be a whole number"),
        (#"{"scope":["openid"]}"#, "'scope' must be a string"),
        (#"{"audience":[1]}"#, "'audience' must be an array of strings"),
        (#"{"hosts":{}}"#, "'hosts' must be an array of strings"),
        (#"{"geoip_allow":["deu"]}"#, "'deu' is not a two-letter country code"),
        (#"{"nbf":200,"exp":100}"#, "exp (100) is not after nbf (200)"),
        ("@", "'@' must be followed by a file name"),
        ("@/nonexistent/restrictions.json", "cannot read restrictions file '/nonexistent/restrictions.json'"),
    ])
    func badRestrictionsNameTheProblem(input: String, fragment: String) {
        do {
            let parsed = try MytokenRestrictionInput.parse(input, times: times)
            Issue.record("accepted \(input) as \(parsed)")
        } catch {
            #expect(error.description.contains(fragment), "\(error.description)")
        }
    }

    @Test func resolvePicksOneSourceOfRestrictions() throws {
        #expect(try MytokenRestrictionInput.resolve(restriction: nil, options: .init(), times: times) == [])
        #expect(try MytokenRestrictionInput.resolve(restriction: nil, options: .init(usagesAT: 2), times: times)
            == [MytokenRestriction(usagesAT: 2)])
        #expect(try MytokenRestrictionInput.resolve(restriction: #"{"usages_other":1}"#, options: .init(), times: times)
            == [MytokenRestriction(usagesOther: 1)])
        do {
            _ = try MytokenRestrictionInput.resolve(
                restriction: #"{"usages_other":1}"#, options: .init(scopes: ["openid"]), times: times)
            Issue.record("both sources accepted")
        } catch {
            #expect(error.description.contains("use either --restriction or the options"))
        }
    }

    @Test func unknownKeyErrorListsTheAcceptedKeys() {
        #expect(throws: MytokenError.invalidRestriction(
            "clause 1 has unknown key 'schedule' (accepted: nbf, exp, scope, audience, hosts, geoip_allow, "
            + "geoip_disallow, usages_AT, usages_other, ip)")) {
            try MytokenRestrictionInput.parse(#"{"schedule":"x"}"#, times: times)
        }
    }
}
