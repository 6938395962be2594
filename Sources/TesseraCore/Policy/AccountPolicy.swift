import Glibc
import TesseraNames

/// Who may have an account's tokens: a decision for every program, and rules for named ones.
///
/// Kept in the account file with the account, so renaming the account carries it and removing
/// the account drops it.
public struct AccountPolicy: Sendable, Equatable {
    /// For programs without a rule of their own.
    public var defaultDecision: ConsentDecision
    public var rules: [ApplicationID: ConsentDecision]

    public init(defaultDecision: ConsentDecision = .allow, rules: [ApplicationID: ConsentDecision] = [:]) {
        self.defaultDecision = defaultDecision
        self.rules = rules
    }

    /// Today's behaviour: every program of the user gets tokens. Not written to the file.
    public var isDefault: Bool { self == AccountPolicy() }

    /// The rule for the program, else the default. A caller the kernel could not name (nil) only
    /// ever gets the default.
    public func decision(for application: ApplicationID?) -> ConsentDecision {
        application.flatMap { rules[$0] } ?? defaultDecision
    }

    /// The rules in a stable order (by key), for the wire and the file.
    public var sortedRules: [(application: ApplicationID, decision: ConsentDecision)] {
        rules.map { (application: $0.key, decision: $0.value) }.sorted { $0.application.key < $1.application.key }
    }
}

/// The programs that always get tokens whatever an account's policy says: Tessera's own CLI.
///
/// `tessera` is the user's own hand on the agent (and what `tessera policy` itself runs under),
/// so it is never asked. It is recognised by its place, not its name: the `tessera` binary in the
/// directory of the running service's own executable (`/proc/self/exe`), resolved through
/// symlinks as `/proc/PID/exe` resolves the caller's. Whoever can write that directory can
/// already replace `tesserad` itself. The tray runs inside `tesserad` and never asks over the bus.
public enum ConsentExemptions {
    public static let programs: Set<ApplicationID> = {
        guard let service = resolved("/proc/self/exe") else { return [] }
        let directory = service[..<(service.lastIndex(of: "/") ?? service.startIndex)]
        guard let cli = resolved("\(directory)/tessera") else { return [] }
        return [.executable(cli)]
    }()

    private static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
