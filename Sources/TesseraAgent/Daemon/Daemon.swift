import CHardening
import DBus
import FoundationEssentials
import Glibc
import Keyring
import Logging
import OIDC
import Posix
import TesseraAPI
import TesseraCore

/// `tesserad`'s life: parse the command line, harden the process, connect, export, claim the
/// name, serve until SIGTERM/SIGINT or until replaced, then stop cleanly.
public enum Daemon {
    public static let version = TesseraVersion.current

    /// Exit codes, documented in the README.
    public enum ExitCode: Int32 {
        case success = 0
        case failure = 1
        case usage = 2
        /// Another process owns io.tessera.Agent1 (and `--replace` was not given or not allowed).
        case nameTaken = 3
    }

    struct Options {
        var replace = false
        var level: Logger.Level = .info
        /// `--oidc-agent-socket [PATH]`: serve oidc-agent's protocol for this run (PATH or `default`).
        var oidcAgentSocket: String?
        /// `--no-peer-socket`: serve the bus only (every client then goes through dbus-daemon).
        var peerSocket = true
    }

    static let usage = """
        usage: tesserad [--replace] [--oidc-agent-socket [PATH]] [--no-peer-socket]
                        [--log-level trace|debug|info|notice|warning|error]
               tesserad --version | --print-introspection

        The Tessera session service: owns io.tessera.Agent1 on the session bus.
          --replace         take the bus name over from a running tesserad
          --oidc-agent-socket [PATH]
                            serve oidc-agent's clients (oidc-token, liboidc-agent) at PATH, default
                            ${TMPDIR:-/tmp}/oidc-agent-service-$UID/oidc-agent.sock, for this run
                            (`tessera compat enable` turns it on for good)
          --no-peer-socket  serve only the bus, not also peer-to-peer D-Bus at
                            $XDG_RUNTIME_DIR/tessera/bus-KEY (what `tessera token` uses when it can)
          --log-level L     how much to log to stderr (default info; also TESSERA_LOG_LEVEL)
          --version         print the version and exit
        """

    /// Runs the service and exits the process with its code (the whole of `tesserad`'s main).
    public static func run(_ arguments: [String] = CommandLine.arguments) async -> Never {
        exit(await main(arguments))
    }

    /// Runs the service; returns the process exit code.
    public static func main(_ arguments: [String]) async -> Int32 {
        var options = Options()
        if let level = ProcessInfo.processInfo.environment["TESSERA_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) {
            options.level = level
        }
        var rest = arguments.dropFirst()
        while let argument = rest.popFirst() {
            switch argument {
            case "--version":
                print("tesserad \(version)")
                return ExitCode.success.rawValue
            case "--print-introspection":
                // What dbus/io.tessera.Agent1.xml must hold; `make dbus-xml` writes it from here.
                print(AgentContract.introspectionXML, terminator: "")
                return ExitCode.success.rawValue
            case "--help", "-h":
                print(usage)
                return ExitCode.success.rawValue
            case "--replace":
                options.replace = true
            case "--no-peer-socket":
                options.peerSocket = false
            case "--oidc-agent-socket":
                if let next = rest.first, !next.hasPrefix("-") {
                    guard next.hasPrefix("/") else {
                        printError("tesserad: --oidc-agent-socket needs an absolute path, not \"\(next)\"\n\n\(usage)")
                        return ExitCode.usage.rawValue
                    }
                    options.oidcAgentSocket = rest.removeFirst()
                } else {
                    options.oidcAgentSocket = OIDCAgentSocketValue.defaultPath
                }
            case "--log-level":
                guard let value = rest.popFirst(), let level = Logger.Level(rawValue: value) else {
                    printError("tesserad: --log-level needs one of trace, debug, info, notice, warning, error\n\n\(usage)")
                    return ExitCode.usage.rawValue
                }
                options.level = level
            default:
                printError("tesserad: unknown argument \"\(argument)\"\n\n\(usage)")
                return ExitCode.usage.rawValue
            }
        }
        let level = options.level
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: level) }
        let logger = Logger(label: "io.tessera.agent")
        return await serve(options, logger: logger).rawValue
    }

    static func printError(_ text: String) {
        let line = text + "\n"
        line.utf8CString.withUnsafeBufferPointer { _ = write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
    }

    static func serve(_ options: Options, logger: Logger) async -> ExitCode {
        // No core dumps and no same-user ptrace: tokens live in this process's memory.
        if tessera_set_not_dumpable() != 0 {
            logger.warning("cannot mark the process non-dumpable: \(String(cString: strerror(errno)))")
        }
        let connection: Connection
        do { connection = try await Connection.session() } catch {
            logger.critical("cannot connect to the session bus: \(error)")
            return .failure
        }
        let transport = CurlTransport(configuration: .init(userAgent: "Tessera/\(version)"))
        let agent = Agent(accountFile: AccountFile.standard(), secrets: LibSecretStore(), transport: transport, logger: logger)
        for problem in agent.loadAccounts() {
            logger.error("account file problem: \(problem.description)")
        }
        // Every object this connection exports (agent, flows, tray, Properties, Introspectable)
        // answers only our own uid; the agent's interfaces refuse with the contract's NotPermitted.
        do {
            try await connection.admitCallers(ofUserID: UInt32(getuid())) { refused in
                logger.warning("refused a call from \(refused.sender) of uid \(refused.userID.map(String.init) ?? "unknown") to \(refused.path.map(\.rawValue) ?? "?") \(refused.interface.map(\.rawValue) ?? "?").\(refused.member.map(\.rawValue) ?? "?")")
                let isAgent = refused.interface?.rawValue.hasPrefix("io.tessera.") ?? false
                return isAgent ? AgentError.notPermitted(refused.explanation) : RefusedCall.accessDenied(refused)
            }
        } catch {
            logger.critical("cannot watch the callers on the bus: \(error)")
            return .failure
        }
        let compatibility = CompatibilitySocket(agent: agent, logger: logger)
        let object = AgentObject(connection: connection, agent: agent, logger: logger, compatibility: compatibility)
        agent.setObserver(object)
        await compatibility.use(consent: object.consent)
        do {
            try await object.export()
            try await NameHandover.export(on: connection, logger: logger)
        } catch {
            logger.critical("cannot export \(AgentBus.objectPath): \(error)")
            return .failure
        }

        let stop = StopSignal()
        if !stop.installSignalHandlers() {
            logger.warning("cannot handle SIGTERM/SIGINT: \(String(cString: strerror(errno)))")
        }
        let lost: AsyncStream<BusName>
        do { lost = try await connection.namesLost() } catch {
            logger.critical("cannot watch the bus name: \(error)")
            return .failure
        }
        do {
            try await NameHandover.claim(on: connection, replace: options.replace)
        } catch .nameTaken {
            let owner = (try? await connection.nameOwner(of: AgentContract.busName)).flatMap { $0 }
            var who = ""
            if let owner, let pid = try? await connection.callerProcessID(of: owner) { who = " (pid \(pid))" }
            printError("tesserad: \(AgentBus.name) is already owned by another process\(who); "
                + "stop it or start tesserad with --replace")
            await connection.close()
            return .nameTaken
        } catch {
            logger.critical("cannot claim \(AgentBus.name): \(error)")
            return .failure
        }
        logger.info("tesserad \(version) serving \(AgentBus.name) with \(agent.accounts.count) account(s)")
        // Like the compatibility socket, only the name's owner serves it.
        let peers = options.peerSocket ? await PeerEndpoint.start(on: connection, logger: logger) : nil
        // Only the name's owner serves the socket: a second tesserad that lost the name never touches it.
        await compatibility.start(commandLine: options.oidcAgentSocket)
        let tray = Tray(connection: connection, agent: agent, logger: logger, consent: object.consent) { stop.fire() }
        await tray.start()

        let takeover = Task {
            for await name in lost where name == AgentContract.busName {
                logger.notice("another tesserad took over \(AgentBus.name); stopping")
                stop.fire()
            }
            // The stream ends when the connection closes (the bus went away).
            stop.fire()
        }
        await stop.wait()
        logger.info("stopping")
        // A refresh the provider has answered must reach the keyring before we exit: its old
        // token is already dead at a rotating provider.
        let unfinished = await agent.finishRotations(within: .seconds(15))
        if unfinished > 0 { logger.error("stopping with \(unfinished) refresh(es) unfinished; their logins may be lost") }
        await tray.stop()
        await compatibility.stop()
        await peers?.stop(on: connection)
        // Our own release below is not a takeover: stop listening before it.
        takeover.cancel()
        _ = try? await connection.releaseName(AgentContract.busName)
        await connection.close()
        return .success
    }
}

/// SIGTERM, SIGINT or a lost bus name, whichever comes first.
final class StopSignal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Routes SIGTERM and SIGINT here, through a pipe read by a thread of its own (no libdispatch
    /// signal source: its handler would start dispatch's worker pool and its 1 Hz monitor).
    func installSignalHandlers() -> Bool {
        let fd = tessera_stop_signals_pipe()
        guard fd >= 0 else { return false }
        let continuation = self.continuation
        Posix.startThread(named: "signals") {
            var byte: UInt8 = 0
            while true {
                let count = read(fd, &byte, 1)
                if count == 1 {
                    continuation.yield()
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
        return true
    }

    func fire() { continuation.yield() }

    func wait() async {
        for await _ in stream { return }
    }
}
