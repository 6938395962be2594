import FoundationEssentials
import Glibc

/// Parses time values the way the mytoken client does for `--nbf`, `--exp` and the `nbf`/`exp`
/// fields of a restriction written as JSON:
/// - unix seconds: `1735689600`
/// - an absolute local time: `2006-01-02 15:04` (in `timeZone`)
/// - a time relative to `now`: `+2w`, `+3d12h30m`, `+1.5h`, or `+60` (a bare number is seconds);
///   units `y` (365 days), `w`, `d`, `h`, `m`, `s`.
///
/// `now` and `timeZone` are fixed at construction so a whole request (several clauses) uses one
/// instant, and tests can pin both. Without a `timeZone`, local times are the system's (C
/// library's `mktime`: `TZ`, else /etc/localtime): FoundationEssentials alone knows no zone but
/// GMT, and the time zone database (ICU) is what tesserad leaves out by not loading full Foundation.
public struct MytokenTimeParser: Sendable {
    public let now: Date
    public let timeZone: TimeZone?

    public init(now: Date = Date(), timeZone: TimeZone? = nil) {
        self.now = now
        self.timeZone = timeZone
    }

    /// One line describing every accepted form; part of every error about a time value.
    public static let acceptedForms =
        "unix seconds (e.g. 1735689600), a local time 'YYYY-MM-DD HH:MM' (e.g. '2006-01-02 15:04'), "
        + "or a time relative to now starting with '+' (e.g. '+2w', '+3d12h30m', '+60'; "
        + "units y w d h m s, a bare number is seconds)"

    /// The unix time in seconds that `text` names.
    public func parse(_ text: String) throws(MytokenError) -> Int64 {
        guard let seconds = unixSeconds(text) else {
            throw MytokenError.invalidTimeValue(text)
        }
        return seconds
    }

    private func unixSeconds(_ text: String) -> Int64? {
        if text.hasPrefix("+") {
            return relative(Substring(text.dropFirst()))
        }
        if let absolute = Self.digits(Substring(text)) {
            return absolute
        }
        return localTime(text)
    }

    /// `+<number>` alone is seconds; otherwise a sequence of `<number>[.<fraction>]<unit>`.
    private func relative(_ text: Substring) -> Int64? {
        if let seconds = Self.digits(text) {
            return Self.add(now, seconds: Double(seconds))
        }
        guard !text.isEmpty else { return nil }
        var rest = text
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != ".",
                  let amount = Double(number.hasPrefix(".") ? "0" + number : String(number))
            else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unitCharacter = rest.first, let unit = Self.unitSeconds[unitCharacter] else { return nil }
            rest = rest.dropFirst()
            total += amount * unit
            guard total.isFinite, total < 1e15 else { return nil }
        }
        return Self.add(now, seconds: total)
    }

    /// `YYYY-MM-DD H:MM` or `YYYY-MM-DD HH:MM` (Go's `2006-01-02 15:04` layout: the hour may have
    /// one digit, every other field has a fixed width), read in `timeZone`.
    private func localTime(_ text: String) -> Int64? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-", omittingEmptySubsequences: false)
        let clock = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard date.count == 3, clock.count == 2,
              date[0].count == 4, date[1].count == 2, date[2].count == 2,
              (1...2).contains(clock[0].count), clock[1].count == 2,
              let year = Self.digits(date[0]), let month = Self.digits(date[1]), let day = Self.digits(date[2]),
              let hour = Self.digits(clock[0]), let minute = Self.digits(clock[1]),
              (1...12).contains(month), (0...23).contains(hour), (0...59).contains(minute), day >= 1
        else { return nil }
        guard let timeZone else {
            return Self.systemLocalTime(year: year, month: month, day: day, hour: hour, minute: minute)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let components = DateComponents(
            year: Int(year), month: Int(month), day: Int(day), hour: Int(hour), minute: Int(minute))
        guard let daysInMonth = calendar.range(
                of: .day, in: .month,
                for: calendar.date(from: DateComponents(year: Int(year), month: Int(month), day: 1)) ?? now),
              day <= daysInMonth.count,
              let resolved = calendar.date(from: components)
        else { return nil }
        return Int64(resolved.timeIntervalSince1970.rounded(.down))
    }

    /// The wall-clock time in the system's zone, through `mktime`; nil for a day the month does
    /// not have (mktime would roll 02-30 over into March).
    private static func systemLocalTime(year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64) -> Int64? {
        guard year <= 9999, day <= 31 else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year) - 1900
        parts.tm_mon = Int32(month) - 1
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_isdst = -1
        let seconds = mktime(&parts)
        guard parts.tm_mon == Int32(month) - 1, parts.tm_mday == Int32(day) else { return nil }
        return Int64(seconds)
    }

    private static let unitSeconds: [Character: Double] = [
        "s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800, "y": 31_536_000,
    ]

    /// Non-empty ASCII decimal digits only (no sign, no spaces) that fit an Int64.
    private static func digits(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(text)
    }

    private static func add(_ now: Date, seconds: Double) -> Int64? {
        let value = (now.timeIntervalSince1970 + seconds).rounded(.down)
        guard value.isFinite, value < 9.2e18 else { return nil }
        return Int64(value)
    }
}
