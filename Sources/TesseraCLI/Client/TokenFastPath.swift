import DBus

/// `tessera token NAME` without ArgumentParser and without Swift concurrency: the command that
/// scripts run all the time, made as cheap as `oidc-token`.
///
/// Why: building ArgumentParser's command tree costs ~10 M instructions at every start (it
/// reflects every property wrapper and probes for a completion-script request, and each first
/// `as?` on a new type scans the binary's ~3900 protocol conformance records, 40% of them from
/// the FoundationEssentials that ArgumentParser links) — three quarters of the whole process.
/// The async `Connection` adds a loop thread and the concurrency runtime's worker threads, and
/// on a loaded machine every handoff between them waits for a free core.
///
/// Only the plain, valid forms are taken here: one account word, `--json`, `--env`, `--force`
/// and well-formed `-s/--scope`, `--aud`, `-t/--min-valid` values, each flag at most once.
/// Anything else (help, `=` forms, `--`, `--bearer-file`, `--interactive`, values that
/// `validate()` would reject, …) returns nil and goes through ArgumentParser, so every usage
/// error and every other command behaves exactly as before. `TokenFastPathTests` checks that
/// each accepted command line means what ArgumentParser makes of it.
struct TokenFastPath: Equatable {
    var request: TokenQuery
    var format: TokenFormat

    static func parse(_ arguments: [String]) -> TokenFastPath? {
        if case .fast(let fast) = reading(count: arguments.count, { arguments[$0] }) { return fast }
        return nil
    }

    /// Parses and runs; nil when the line is not one for the fast path.
    static func run(count: Int, _ argument: (Int) -> String) -> Int32? {
        guard case .fast(let fast) = reading(count: count, argument) else { return nil }
        return fast.run()
    }

    /// What a command line is to the fast path. Not `TokenFastPath?`: in a one-shot process the
    /// runtime would build that optional's metadata from its mangled name on first use.
    enum Reading {
        case fast(TokenFastPath)
        case other
    }

    /// The command line one word at a time: `tessera` passes its C `argv` without building the
    /// `[String]` of `CommandLine.arguments` (the first array of a one-shot process costs it the
    /// runtime's type lookup, ~0.05 ms).
    static func reading(count: Int, _ argument: (Int) -> String) -> Reading {
        guard count > 0, argument(0) == "token" else { return .other }
        var account: String?
        var scopes: [String] = [], audiences: [String] = []
        var minValid: UInt32?
        var json = false, env = false, force = false
        var index = 1
        func value() -> String? {
            index += 1
            guard index < count else { return nil }
            let word = argument(index)
            guard let first = word.utf8.first, first != UInt8(ascii: "-") else { return nil }
            return word
        }
        while index < count {
            let word = argument(index)
            switch word {
            case "--json":
                guard !json else { return .other }
                json = true
            case "--env":
                guard !env else { return .other }
                env = true
            case "--force":
                guard !force else { return .other }
                force = true
            case "-s", "--scope":
                guard let scope = value(), !scope.split(separator: " ").isEmpty else { return .other }
                scopes.append(scope)
            case "--aud":
                guard let audience = value(), !audience.contains(" ") else { return .other }
                audiences.append(audience)
            case "-t", "--min-valid":
                // Any `u`, as the bus takes it; a value that is not one is ArgumentParser's usage error.
                guard minValid == nil, let text = value(), text.utf8.count <= 10,
                      text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                      let seconds = UInt32(text) else { return .other }
                minValid = seconds
            default:
                guard account == nil, let first = word.first, first != "-", word != "help" else { return .other }
                account = word
            }
            index += 1
        }
        guard let account, !(json && env) else { return .other }
        var words: [String] = []
        for scope in scopes { for part in scope.split(separator: " ") { words.append(String(part)) } }
        let request = TokenQuery(account: account, scopes: words, audience: audiences, minValid: minValid, force: force)
        return .fast(TokenFastPath(request: request, format: json ? .json : env ? .env : .plain))
    }

    /// The same call, output, messages and exit codes as `TokenCommand.run` without --interactive.
    func run() -> Int32 {
        do throws(CLIError) {
            let issued = try AgentClient.tokenOnce(request)
            StandardStream.output.put(format.render(issued))
            return 0
        } catch {
            if error != .interrupted { StandardStream.error.line("tessera: \(error)") }
            return error.exitCode
        }
    }
}
