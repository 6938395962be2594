import Foundation
import TesseraNames
import Testing
@testable import TesseraCore

/// The known providers: the built-in list parses cleanly and says what oidc-agent says; the
/// user's file extends and overrides it, and a broken one is reported by file and field while the
/// built-in list keeps working.
@Suite struct ProviderCatalogTests {
    func userFile(_ text: String?) throws -> String {
        let dir = NSTemporaryDirectory() + "tessera-providers-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/providers.json"
        if let text { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        return path
    }

    @Test func theBuiltInListParsesWithoutAProblemAndHoldsTheIAMs() throws {
        let builtIn = ProviderCatalog.builtIn
        #expect(builtIn.problems.isEmpty, "\(builtIn.problems)")
        #expect(builtIn.providers.count >= 20)
        #expect(Set(builtIn.providers.map(\.shortName)).count == builtIn.providers.count, "short names are unique")
        let wlcg = try #require(builtIn.providers.first { $0.shortName == "wlcg" })
        #expect(wlcg.issuer.absoluteString == "https://wlcg.cloud.cnaf.infn.it/")
        #expect(wlcg.publicClientID == "7d6ad1c2-6647-4846-b0d5-c9f6ad0987d0")
        #expect(wlcg.scopes.contains("storage.read:/") && wlcg.scopes.contains("offline_access"))
        #expect(wlcg.audienceParameter == .audience)
        for experiment in ["alice", "atlas", "cms", "lhcb", "dteam"] {
            let entry = try #require(builtIn.providers.first { $0.shortName == experiment })
            #expect(entry.audienceParameter == .audience, "\(experiment): IAM takes `audience`")
            #expect(entry.publicClientID == nil && entry.registrationURI?.absoluteString.hasSuffix("/manage/dev/dynreg") == true)
        }
        #expect(builtIn.providers.first { $0.shortName == "egi" }?.publicClientID == "oidc-agent")
        #expect(builtIn.providers.allSatisfy { $0.source == KnownProvider.builtInSource })
    }

    @Test func noUserFileMeansTheBuiltInList() throws {
        let catalog = ProviderCatalog(userFile: try userFile(nil))
        let loaded = catalog.load()
        #expect(loaded.problems.isEmpty)
        #expect(loaded.providers.map(\.shortName) == ProviderCatalog.builtIn.providers.map(\.shortName).sorted())
    }

    @Test func theUserFileAddsProvidersAndChangesOnlyTheFieldsItGives() throws {
        let path = try userFile("""
            {"schema": 1, "providers": [
              {"short-name": "lab", "issuer": "https://iam.lab.example/", "display-name": "Our lab",
               "public-client-id": "lab-public", "scopes": ["openid", "offline_access", "lab.read"],
               "audience-parameter": "audience", "notes": "ours"},
              {"short-name": "cms", "public-client-id": "cms-public-client"}
            ]}
            """)
        let loaded = ProviderCatalog(userFile: path).load()
        #expect(loaded.problems.isEmpty, "\(loaded.problems)")
        let lab = try #require(loaded.providers.first { $0.shortName == "lab" })
        #expect(lab.displayName == "Our lab" && lab.publicClientID == "lab-public" && lab.audienceParameter == .audience)
        #expect(lab.source == path)
        let cms = try #require(loaded.providers.first { $0.shortName == "cms" })
        #expect(cms.publicClientID == "cms-public-client")
        #expect(cms.issuer.absoluteString == "https://cms-auth.cern.ch/", "the built-in issuer stays")
        #expect(cms.audienceParameter == .audience)
        #expect(loaded.providers.count == ProviderCatalog.builtIn.providers.count + 1)
    }

    @Test(arguments: [
        ("not json at all", "(file)", "is not valid JSON"),
        ("[1, 2]", "(file)", "must hold a JSON object"),
        (#"{"providers": []}"#, "schema", "missing"),
        (#"{"schema": 2, "providers": []}"#, "schema", "version 2"),
        (#"{"schema": 1, "providers": {}}"#, "providers", "not a list"),
        (#"{"schema": 1, "providers": [{"short-name": "x", "issuer": 5}]}"#, "providers[0].issuer", "must be a string"),
        (#"{"schema": 1, "providers": [{"short-name": "x", "issuer": "ftp://x"}]}"#, "providers[0].issuer", "https"),
        (#"{"schema": 1, "providers": [{"short-name": "x"}]}"#, "providers[0].issuer", "is missing"),
        (#"{"schema": 1, "providers": [{"short-name": "Bad Name", "issuer": "https://x.example"}]}"#, "providers[0].short-name", "may hold only"),
        (#"{"schema": 1, "providers": [{"short-name": "x", "issuer": "https://x.example", "scopes": "openid"}]}"#, "providers[0].scopes", "list of strings"),
        (#"{"schema": 1, "providers": [{"short-name": "x", "issuer": "https://x.example", "audience-parameter": "aud"}]}"#, "providers[0].audience-parameter", "not one of"),
        (#"{"schema": 1, "providers": [{"short-name": "x", "issuer": "https://x.example", "client-secret": "s"}]}"#, "providers[0].client-secret", "not a known key"),
        (#"{"schema": 1, "providers": [7]}"#, "providers[0]", "must be a JSON object"),
    ])
    func aBrokenUserFileIsReportedByFileAndFieldAndTheBuiltInListKeepsWorking(text: String, field: String, reason: String) throws {
        let path = try userFile(text)
        let loaded = ProviderCatalog(userFile: path).load()
        let problem = try #require(loaded.problems.first, "a problem for \(text)")
        #expect(problem.file == path)
        #expect(problem.field == field, "\(problem)")
        #expect(problem.reason.contains(reason), "\(problem)")
        #expect(loaded.providers.contains { $0.shortName == "wlcg" }, "the built-in list keeps working")
        #expect(!loaded.providers.contains { $0.shortName == "x" })
    }

    @Test func oneBrokenEntryIsSkippedAndTheOthersKept() throws {
        let path = try userFile(#"{"schema": 1, "providers": [{"short-name": "a", "issuer": 1}, {"short-name": "b", "issuer": "https://b.example"}]}"#)
        let loaded = ProviderCatalog(userFile: path).load()
        #expect(loaded.problems.map(\.field) == ["providers[0].issuer"])
        #expect(loaded.providers.contains { $0.shortName == "b" })
    }

    @Test func anEditedUserFileIsReadAgain() throws {
        let path = try userFile(#"{"schema": 1, "providers": [{"short-name": "a", "issuer": "https://a.example"}]}"#)
        let catalog = ProviderCatalog(userFile: path)
        #expect(catalog.load().changed)
        #expect(!catalog.load().changed, "unchanged: the cached list")
        try #"{"schema": 1, "providers": [{"short-name": "z", "issuer": "https://z.example"}]}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let again = catalog.load()
        #expect(again.changed)
        #expect(again.providers.contains { $0.shortName == "z" } && !again.providers.contains { $0.shortName == "a" })
    }
}
