import Glibc

/// A word a POSIX shell reads back as exactly `text`: bare when it only holds characters no shell
/// treats specially (tokens, URLs and numbers stay readable and `grep`-able, as oidc-token's are),
/// otherwise single-quoted.
func shellWord(_ text: String) -> String {
    let safe = text.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: ":"),
             UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: "+"), UInt8(ascii: "="), UInt8(ascii: ","):
            true
        default:
            false
        }
    }
    if safe && !text.isEmpty { return text }
    return "'" + text.replacing("'", with: "'\\''") + "'"
}

/// A minimal JSON writer: the CLI prints JSON but never parses it, and Foundation's encoder would
/// cost more startup time than the whole rest of the program.
indirect enum JSONValue: Equatable, Sendable {
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case array([JSONValue])
    /// Keys keep their order so the output is stable and reads like the documentation.
    case object([(String, JSONValue)])
    case null

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.rendered() == rhs.rendered() }

    func rendered(indent: Int? = 2) -> String {
        var out = ""
        render(into: &out, level: 0, indent: indent)
        return out
    }

    private func render(into out: inout String, level: Int, indent: Int?) {
        let newline = indent == nil ? "" : "\n"
        func pad(_ depth: Int) -> String { String(repeating: " ", count: (indent ?? 0) * depth) }
        switch self {
        case .string(let text): out += JSONValue.quote(text)
        case .integer(let number): out += String(number)
        case .bool(let flag): out += flag ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "[" + newline
            for (index, item) in items.enumerated() {
                out += pad(level + 1)
                item.render(into: &out, level: level + 1, indent: indent)
                out += (index < items.count - 1 ? "," : "") + newline
            }
            out += pad(level) + "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{" + newline
            for (index, (key, value)) in members.enumerated() {
                out += pad(level + 1) + JSONValue.quote(key) + (indent == nil ? ":" : ": ")
                value.render(into: &out, level: level + 1, indent: indent)
                out += (index < members.count - 1 ? "," : "") + newline
            }
            out += pad(level) + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Times as people and scripts read them, without Foundation's formatters.
enum Clock {
    static func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec)
    }

    /// Local time, e.g. `2025-11-22 14:03:07 CET`.
    static func localTimestamp(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        localtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S %Z", &parts)
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "in 4m 59s", "3s ago": how far a moment is from now.
    static func relative(_ seconds: Int64, now: Int64 = Clock.now()) -> String {
        let delta = seconds - now
        let span = duration(abs(delta))
        return delta >= 0 ? "in \(span)" : "\(span) ago"
    }

    static func duration(_ seconds: Int64) -> String {
        let days = seconds / 86_400, hours = seconds % 86_400 / 3_600
        let minutes = seconds % 3_600 / 60, rest = seconds % 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(rest)s" }
        return "\(rest)s"
    }
}

/// A plain-text table with left-aligned columns, as `account list` and `status` print it.
func renderTable(header: [String], rows: [[String]]) -> String {
    let all = [header] + rows
    var widths = [Int](repeating: 0, count: header.count)
    for row in all {
        for (index, cell) in row.enumerated() where index < widths.count {
            widths[index] = max(widths[index], cell.count)
        }
    }
    return all.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
        }.joined(separator: "  ")
    }.joined(separator: "\n") + "\n"
}

extension Clock {
    static func monotonicMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

/// Columns padded to their widest cell; the last column is not padded.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    var widths = [Int](repeating: 0, count: header.count)
    for row in all { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
    var out = ""
    for row in all {
        var line = ""
        for (index, cell) in row.enumerated() {
            line += index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
        }
        out += line + "\n"
    }
    return out
}

/// Unix seconds as local "YYYY-MM-DD HH:MM:SS" (the CLI has no Foundation).
func localTime(_ seconds: String?) -> String {
    guard let seconds, var value = time_t(seconds) else { return seconds ?? "" }
    var parts = tm()
    guard localtime_r(&value, &parts) != nil else { return seconds }
    var buffer = [CChar](repeating: 0, count: 32)
    let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S", &parts)
    return count > 0 ? String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self) : seconds
}
