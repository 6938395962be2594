import ArgumentParser
import TesseraAPI

extension ConsentDecision: ExpressibleByArgument {}

/// `tessera policy list|set|allow|deny|forget`: which programs get an account's tokens.
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Decide which programs get an account's tokens.",
        discussion: """
            Each account has a default decision for programs without a rule of their own: \
            allow (every program of yours gets tokens, the default), ask (a notification asks \
            you, with "Allow once", "Always allow" and "Deny") or deny. Rules name a program by \
            what the kernel says it is, never by what it calls itself: exe:/absolute/path, \
            flatpak:APP-ID or snap:NAME (a plain absolute path means exe:). `tessera` itself is \
            always allowed.

            Examples:
              tessera policy set egi ask
              tessera policy allow egi /usr/bin/rclone
              tessera policy deny egi flatpak:org.example.Browser
              tessera policy forget egi exe:/usr/bin/rclone
              tessera policy list
            """,
        subcommands: [List.self, Set.self, Allow.self, Deny.self, Forget.self])

    /// `exe:/path`, `flatpak:id`, `snap:name`, or a plain absolute path (exe:). The service checks the rest.
    static func applicationKey(_ text: String) throws -> String {
        if text.hasPrefix("/") { return "exe:" + text }
        guard text.hasPrefix("exe:") || text.hasPrefix("flatpak:") || text.hasPrefix("snap:") else {
            throw ValidationError("\"\(text)\" names no program: use exe:/absolute/path, flatpak:APP-ID, snap:NAME or an absolute path")
        }
        return text
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "Show the default decision and the rules of one account or of all.")

        @Argument(help: ArgumentHelp("The account (default: every account).", valueName: "account"))
        var account: String?

        func run() async throws {
            let agent = try await AgentClient.connect()
            let names = if let account { [account] } else { try await agent.listAccounts().map(\.name) }
            if names.isEmpty {
                StandardStream.output.line("No accounts; add one with `tessera account add`.")
                return
            }
            var rows: [[String]] = []
            for name in names {
                let policy = try await agent.policy(of: name)
                rows.append([name, "(default)", policy.defaultDecision])
                rows += policy.rules.map { [name, $0.application, $0.decision] }
            }
            StandardStream.output.put(renderTable(header: ["ACCOUNT", "APPLICATION", "DECISION"], rows: rows))
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Set the decision for programs without a rule: allow, ask or deny.")

        @Argument(help: ArgumentHelp("The account.", valueName: "account"))
        var account: String
        @Argument(help: ArgumentHelp("allow, ask or deny.", valueName: "decision"))
        var decision: ConsentDecision

        func run() async throws {
            try await AgentClient.connect().setPolicy(of: account, to: decision)
            StandardStream.output.line("\(account): programs without a rule: \(decision.rawValue)")
        }
    }

    /// The two arguments `allow`, `deny` and `forget` share: an account and a program's key.
    struct ApplicationRule: ParsableArguments {
        @Argument(help: ArgumentHelp("The account.", valueName: "account"))
        var account: String
        @Argument(help: ArgumentHelp("exe:/path, flatpak:ID, snap:NAME or an absolute path.", valueName: "application"))
        var application: String

        mutating func validate() throws { application = try PolicyCommand.applicationKey(application) }
    }

    struct Allow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "allow", abstract: "Always give a program the account's tokens.")
        @OptionGroup var rule: ApplicationRule

        func run() async throws {
            try await AgentClient.connect().setApplicationPolicy(of: rule.account, application: rule.application, to: .allow)
            StandardStream.output.line("\(rule.account): \(rule.application) allowed")
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "deny", abstract: "Never give a program the account's tokens.")
        @OptionGroup var rule: ApplicationRule

        func run() async throws {
            try await AgentClient.connect().setApplicationPolicy(of: rule.account, application: rule.application, to: .deny)
            StandardStream.output.line("\(rule.account): \(rule.application) denied")
        }
    }

    struct Forget: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget", abstract: "Drop a program's rule; it gets the account's default again.")
        @OptionGroup var rule: ApplicationRule

        func run() async throws {
            try await AgentClient.connect().forgetApplication(of: rule.account, application: rule.application)
            StandardStream.output.line("\(rule.account): the rule for \(rule.application) is gone")
        }
    }
}
