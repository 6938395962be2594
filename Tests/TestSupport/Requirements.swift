import Foundation

/// What a test needs from the machine. Outside CI a missing part skips the test with a reason;
/// with `CI=true` it is a failure, because a green run must never hide a part that did not run.
public enum Requirement {
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The environment variable, or a `TestSupportError.missing` naming what to do.
    public static func environment(_ name: String, hint: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw TestSupportError.missing("\(name) is not set: \(hint)")
        }
        return value
    }

    /// The absolute path of an executable on PATH, or `TestSupportError.missing`.
    public static func executable(_ name: String) throws -> String {
        if name.hasPrefix("/") {
            guard FileManager.default.isExecutableFile(atPath: name) else {
                throw TestSupportError.missing("\(name) is not installed (run scripts/deps.sh)")
            }
            return name
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestSupportError.missing("\(name) is not on PATH (run scripts/deps.sh)")
    }

    /// True when the test session (scripts/session.sh) is around us: a private bus and its parts.
    public static func session() throws {
        _ = try environment("TESSERA_SESSION_ROOT", hint: "run the suite through `make test` (scripts/session.sh)")
        _ = try environment("DBUS_SESSION_BUS_ADDRESS", hint: "run the suite through `make test`")
    }
}

public enum TestSupportError: Error, CustomStringConvertible {
    case missing(String)
    case failed(String)
    case timedOut(String)

    public var description: String {
        switch self {
        case .missing(let what): "missing test dependency: \(what)"
        case .failed(let what): what
        case .timedOut(let what): "timed out: \(what)"
        }
    }
}
