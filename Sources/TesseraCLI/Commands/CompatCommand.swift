import ArgumentParser
import TesseraAPI

/// `tessera compat enable|disable|status`: the oidc-agent socket, switched and persisted by tesserad.
struct CompatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compat",
        abstract: "Serve oidc-agent's clients (oidc-token, liboidc-agent, …) from tesserad.",
        discussion: """
            tesserad can answer oidc-agent's socket protocol, so tools written for oidc-agent get \
            their tokens from Tessera unchanged. The setting is kept across restarts.

            Examples:
              tessera compat enable            # ${TMPDIR:-/tmp}/oidc-agent-service-$UID/oidc-agent.sock
              eval "$(tessera env)"            # OIDC_SOCK for oidc-agent 4 clients
              oidc-token myaccount
            """,
        subcommands: [Enable.self, Disable.self, Status.self])

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enable", abstract: "Serve the oidc-agent socket (now and after restarts).")

        @Argument(help: ArgumentHelp("Where to put the socket (absolute path); default: where oidc-agent 5 clients look.",
                                     valueName: "path"))
        var path: String?

        mutating func validate() throws {
            if let path, !path.hasPrefix("/") { throw ValidationError("the socket path must be absolute, not \"\(path)\"") }
        }

        func run() async throws {
            let agent = try await AgentClient.connect()
            try await agent.setOIDCAgentSocket(path ?? OIDCAgentSocketValue.defaultPath)
            let settings = try await agent.settings()
            StandardStream.output.line("Serving oidc-agent's clients at \(settings.oidcAgentSocketActive ?? "?").")
            StandardStream.output.line("For oidc-agent 4 clients: eval \"$(tessera env)\"")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "disable", abstract: "Stop serving the oidc-agent socket.")

        func run() async throws {
            let agent = try await AgentClient.connect()
            try await agent.setOIDCAgentSocket(OIDCAgentSocketValue.off)
            StandardStream.output.line("The oidc-agent socket is off.")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Show whether and where the socket is served.")

        func run() async throws {
            let settings = try await AgentClient.connect().settings()
            let configured = settings.oidcAgentSocket ?? ""
            let active = settings.oidcAgentSocketActive ?? ""
            if !active.isEmpty {
                StandardStream.output.line("oidc-agent socket: on at \(active)")
            } else if configured.isEmpty {
                StandardStream.output.line("oidc-agent socket: off (turn it on with `tessera compat enable`)")
            } else {
                StandardStream.output.line("oidc-agent socket: configured (\(configured)) but not served: \(settings.oidcAgentSocketProblem ?? "unknown reason")")
                throw CLIError.runtime("the oidc-agent socket is not served; fix the problem above, then run `tessera compat enable` again")
            }
        }
    }
}

/// `tessera env`: shell commands that point oidc-agent's clients at tesserad.
struct EnvCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Print `export OIDC_SOCK=…` for shells (use: eval \"$(tessera env)\").")

    func run() async throws {
        let settings = try await AgentClient.connect().settings()
        guard let active = settings.oidcAgentSocketActive, !active.isEmpty else {
            let problem = settings.oidcAgentSocketProblem.flatMap { $0.isEmpty ? nil : $0 }
            throw CLIError.runtime(problem.map { "the oidc-agent socket is not served: \($0)" }
                ?? "the oidc-agent socket is off; turn it on with `tessera compat enable`")
        }
        StandardStream.output.line("export OIDC_SOCK=\(shellWord(active))")
    }
}
