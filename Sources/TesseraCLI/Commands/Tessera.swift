import ArgumentParser
import Dispatch
import Synchronization
import TesseraAPI

/// `tessera`: the command-line client of the Tessera agent. Every command is one or two D-Bus calls
/// to `tesserad`; nothing here speaks HTTP or touches the keyring.
public struct Tessera: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Get OpenID Connect access tokens from the Tessera agent (tesserad).",
        discussion: """
            tessera asks the tesserad session service (D-Bus name io.tessera.Agent1) for access tokens, \
            starts logins and manages accounts. Refresh tokens stay in the desktop keyring; tessera \
            never sees them.

            Exit status: 0 success, 1 runtime error, 2 usage error, 3 login required, \
            4 the service is not reachable, 130 interrupted.
            """,
        version: TesseraVersion.current,
        subcommands: [AccountCommand.self, LoginCommand.self, TokenCommand.self,
                      RevokeCommand.self, StatusCommand.self, MytokenCommand.self, ProviderCommand.self,
                      CompatCommand.self, EnvCommand.self, PolicyCommand.self])

    public init() {}
}

/// The program: parse, run, and turn every outcome into one stderr line and a documented exit
/// code. ArgumentParser's own `main()` would exit 64 on a usage error and print several lines.
public enum TesseraMain {
    /// The whole program, for `main.swift`, which exits with the status it returns.
    ///
    /// `tessera --version` and `tessera token NAME …` are answered straight from `argv`, without
    /// the `[String]` of `CommandLine.arguments` (see `TokenFastPath`); everything else goes
    /// through ArgumentParser.
    ///
    /// The main thread does the work itself and the process ends with `exit()`: it never calls
    /// `dispatchMain()`. That ends the main thread with `pthread_exit`, whose forced unwind makes
    /// libgcc sort every FDE of this 29 MB static binary on the first frame it looks up (crtbeginT
    /// registers `.eh_frame`, and registered objects are searched before PT_GNU_EH_FRAME): 55 M of
    /// the 61 M instructions `tessera --version` took. Async commands run on a task while the
    /// main thread waits for their exit status; nothing in the CLI uses the main actor or queue.
    public static func main(argc: Int32, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
        let count = Int(argc) - 1
        func argument(_ index: Int) -> String { argv[index + 1].map { String(cString: $0) } ?? "" }
        if count == 1 && argument(0) == "--version" {
            StandardStream.output.line(versionLine)
            return 0
        }
        if let status = TokenFastPath.run(count: count, argument) { return status }
        switch parse((0..<count).map(argument)) {
        case .finished(let status):
            return status
        case .command(let command, let arguments):
            let outcome = ExitStatus()
            Task.detached {
                outcome.finish(await execute(command, arguments: arguments))
            }
            return outcome.wait()
        }
    }

    /// What `tessera --version` prints: ArgumentParser's answer (a test keeps them equal), without
    /// building its command tree (8 M instructions).
    static let versionLine = TesseraVersion.current

    public static func run(_ arguments: [String]) async -> Int32 {
        switch parse(arguments) {
        case .finished(let status): status
        case .command(let command, let arguments): await execute(command, arguments: arguments)
        }
    }

    private enum Parsed {
        /// Help, version, a completion script or a usage error, already reported.
        case finished(Int32)
        case command(any ParsableCommand, arguments: [String])
    }

    private static func parse(_ arguments: [String]) -> Parsed {
        let arguments = TokenCommand.normalizeVariableNames(TokenCommand.normalizeBearerFileArgument(arguments))
        do {
            return .command(try Tessera.parseAsRoot(arguments), arguments: arguments)
        } catch {
            return .finished(reportParseOutcome(error, arguments: arguments))
        }
    }

    private static func execute(_ command: any ParsableCommand, arguments: [String]) async -> Int32 {
        var command = command
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let error as CLIError {
            if error != .interrupted { StandardStream.error.line("tessera: \(error)") }
            return error.exitCode
        } catch {
            return reportParseOutcome(error, arguments: arguments)
        }
    }

    /// Help, version and completion requests print to stdout and succeed; anything else is a
    /// usage error: one line naming the problem and where the help is.
    private static func reportParseOutcome(_ error: any Error, arguments: [String]) -> Int32 {
        let code = Tessera.exitCode(for: error)
        if code == .success {
            let text = Tessera.fullMessage(for: error)
            if !text.isEmpty { StandardStream.output.line(text) }
            return 0
        }
        let path = commandPath(arguments)
        let message = Tessera.message(for: error)
        if code == .validationFailure || code.rawValue == 2 {
            StandardStream.error.line("\(path.joined(separator: " ")): \(message) (see '\(path.joined(separator: " ")) --help')")
            return 2
        }
        if !message.isEmpty { StandardStream.error.line("\(path.joined(separator: " ")): \(message)") }
        return code.rawValue
    }

    /// The subcommand words at the start of `arguments`, to point at the right `--help`.
    static func commandPath(_ arguments: [String]) -> [String] {
        var path = ["tessera"]
        var current: any ParsableCommand.Type = Tessera.self
        for word in arguments where !word.hasPrefix("-") {
            guard let next = current.configuration.subcommands.first(where: {
                $0.configuration.commandName == word || $0.configuration.aliases.contains(word)
            }) else { break }
            path.append(word)
            current = next
        }
        return path
    }
}

/// An async command's exit status, handed from its task to the waiting main thread.
private final class ExitStatus: Sendable {
    private let status = Mutex<Int32?>(nil)
    private let finished = DispatchSemaphore(value: 0)

    func finish(_ code: Int32) {
        status.withLock { $0 = code }
        finished.signal()
    }

    func wait() -> Int32 {
        finished.wait()
        return status.withLock { $0 } ?? 1
    }
}
