// The mytoken time syntax (`--nbf`/`--exp`, restriction nbf/exp) and restriction JSON
// (`--restriction`, which the agent also reads from D-Bus), plus the single-clause options.
import Foundation
import OIDC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRestriction(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let mode = input.byte() % 4
    let zoneChoice = input.byte()
    let bytes = input.rest
    let text = String(decoding: bytes, as: UTF8.self)
    // A fixed instant and a zone with a DST change, so runs are repeatable.
    let zones = ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/St_Johns"]
    let times = MytokenTimeParser(now: Date(timeIntervalSince1970: 1_767_225_600),
                                  timeZone: TimeZone(identifier: zones[Int(zoneChoice) % zones.count]) ?? .gmt)
    switch mode {
    case 0:
        _ = try? times.parse(text)
    case 1:
        if let clauses = try? MytokenRestrictionInput.parseJSON(bytes, times: times) {
            // What was accepted must encode again (it goes to the server and into D-Bus answers).
            for clause in clauses { _ = clause.jsonString() }
        }
    case 2:
        // Never "@FILE": the fuzzer must not read files.
        if !text.hasPrefix("@") { _ = try? MytokenRestrictionInput.parse(text, times: times) }
    default:
        // The single-clause options, each field from one line of the input.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func line(_ index: Int) -> String? { index < lines.count ? lines[index] : nil }
        let options = MytokenRestrictionOptions(
            notBefore: line(0), expiresAt: line(1), scopes: line(2).map { [$0] } ?? [],
            audiences: line(3).map { [$0] } ?? [], hosts: line(4).map { [$0] } ?? [],
            geoIPAllow: line(5).map { [$0] } ?? [], geoIPDisallow: line(6).map { [$0] } ?? [],
            usagesAT: line(7).flatMap { Int64($0) }, usagesOther: line(8).flatMap { Int64($0) })
        if let clause = try? options.clause(times: times) { _ = clause.jsonString() }
    }
    return 0
}
