import Foundation
import Testing
@testable import OIDC

@Suite struct MytokenTimeTests {
    // 2024-06-01 12:00:00 UTC, with a fractional part to prove relative times round down.
    let now = Date(timeIntervalSince1970: 1_717_243_200.75)
    var utc: MytokenTimeParser { MytokenTimeParser(now: now, timeZone: TimeZone(identifier: "UTC")!) }
    var berlin: MytokenTimeParser { MytokenTimeParser(now: now, timeZone: TimeZone(identifier: "Europe/Berlin")!) }

    @Test func unixSecondsAreTakenAsIs() throws {
        #expect(try utc.parse("1735689600") == 1_735_689_600)
        #expect(try utc.parse("0") == 0)
        #expect(try utc.parse("0001735689600") == 1_735_689_600)
    }

    @Test(arguments: [
        ("+60", 60), ("+0", 0), ("+2w", 2 * 604_800), ("+3d12h30m", 3 * 86_400 + 12 * 3_600 + 30 * 60),
        ("+1y", 365 * 86_400), ("+45s", 45), ("+90m", 5_400), ("+1h1s", 3_601), ("+1.5h", 5_400),
        ("+.5m", 30), ("+1d1d", 2 * 86_400), ("+0s", 0),
    ] as [(String, Int64)])
    func relativeTimesCountFromNow(text: String, offset: Int64) throws {
        #expect(try utc.parse(text) == 1_717_243_200 + offset)
    }

    @Test func localTimeUsesTheGivenZone() throws {
        #expect(try utc.parse("2024-02-29 23:59") == 1_709_251_140)
        // Winter (UTC+1) and summer (UTC+2) in Berlin.
        #expect(try berlin.parse("2024-01-15 09:05") == 1_705_305_900)
        #expect(try berlin.parse("2024-01-15 9:05") == 1_705_305_900)
        #expect(try berlin.parse("2024-03-31 12:00") == 1_711_879_200)
        #expect(try utc.parse("2006-01-02 15:04") == 1_136_214_240)
    }

    @Test func fixedOffsetZone() throws {
        let parser = MytokenTimeParser(now: now, timeZone: TimeZone(secondsFromGMT: -5 * 3_600)!)
        #expect(try parser.parse("2024-01-01 00:00") == 1_704_085_200)
    }

    @Test(arguments: [
        "", " ", "+", "+-5h", "++5h", "-5", "-60", "+5x", "+5h3", "+h", "+1..5h", "+.h", "+5ms",
        "+5H", "1e9", "12.5", "tomorrow", "2024-13-01 10:00", "2024-02-30 10:00", "2023-02-29 10:00",
        "2024-01-01 24:00", "2024-01-01 10:60", "2024-1-01 10:00", "2024-01-1 10:00", "24-01-01 10:00",
        "2024-01-01", "2024-01-01T10:00", "2024-01-01  10:00", "2024-01-01 10:00:00", "2024-01-01 100:00",
        "2024-01-00 10:00", " 60", "60 ", "+ 60", "99999999999999999999", "+99999999999999999999",
        "+999999999999y", "１２３",
    ])
    func invalidValuesAreRefused(text: String) {
        #expect(throws: MytokenError.invalidTimeValue(text)) { try utc.parse(text) }
    }

    @Test func errorNamesTheValueAndTheAcceptedForms() {
        let message = MytokenError.invalidTimeValue("next week").description
        #expect(message.contains("'next week'"))
        for form in ["unix seconds", "2006-01-02 15:04", "+2w", "+3d12h30m", "+60", "y w d h m s"] {
            #expect(message.contains(form))
        }
    }

    @Test func defaultParserUsesTheCurrentTime() throws {
        let before = Int64(Date().timeIntervalSince1970)
        let parsed = try MytokenTimeParser().parse("+10")
        #expect(parsed >= before + 10 && parsed <= Int64(Date().timeIntervalSince1970) + 10)
    }
}

/// Without a zone the parser reads local times in the system's zone through the C library (tesserad
/// has no time zone database: FoundationEssentials alone knows only GMT). TZ is set for the test.
@Suite(.serialized) struct MytokenSystemTimeZoneTests {
    @Test func localTimeWithoutAZoneUsesTheSystemZone() throws {
        let saved = getenv("TZ").map { String(cString: $0) }
        setenv("TZ", "Europe/Berlin", 1)
        tzset()
        defer {
            if let saved { setenv("TZ", saved, 1) } else { unsetenv("TZ") }
            tzset()
        }
        let system = MytokenTimeParser(now: Date(timeIntervalSince1970: 1_717_243_200))
        #expect(system.timeZone == nil)
        // Winter (UTC+1) and summer (UTC+2) in Berlin, as `localTimeUsesTheGivenZone` reads them.
        #expect(try system.parse("2024-01-15 09:05") == 1_705_305_900)
        #expect(try system.parse("2024-03-31 12:00") == 1_711_879_200)
        #expect(try system.parse("2024-02-29 23:59") == 1_709_247_540)
        for text in ["2024-02-30 10:00", "2023-02-29 10:00", "2024-04-31 00:00", "2024-13-01 10:00"] {
            #expect(throws: MytokenError.self, "\(text)") { try system.parse(text) }
        }
    }
}
