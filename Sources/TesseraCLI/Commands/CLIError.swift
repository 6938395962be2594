/// Everything that makes `tessera` exit non-zero after parsing succeeded. Each case carries the one
/// line printed on stderr, which always says what to do next; the exit codes are DESIGN.md's.
public enum CLIError: Error, Equatable, CustomStringConvertible {
    /// Bad input that only shows up at run time (the service rejected an option, a file is unusable).
    case usage(String)
    /// The service or the provider failed; the message says why and what to try.
    case runtime(String)
    /// The account has no valid login and the command may not start one.
    case loginRequired(account: String, detail: String)
    /// No `tesserad` answers on the session bus, or there is no session bus at all.
    case serviceUnreachable(String)
    /// The user pressed Ctrl-C (after whatever cleanup the command needed).
    case interrupted

    public var exitCode: Int32 {
        switch self {
        case .runtime: 1
        case .usage: 2
        case .loginRequired: 3
        case .serviceUnreachable: 4
        case .interrupted: 130
        }
    }

    public var description: String {
        switch self {
        case .usage(let message), .runtime(let message), .serviceUnreachable(let message):
            message
        case .loginRequired(let account, let detail):
            detail.contains("tessera login") ? detail
                : "\(detail.isEmpty ? "login required for \(account)" : detail); run `tessera login \(shellWord(account))`"
        case .interrupted:
            "interrupted"
        }
    }
}
