import ArgumentParser
import TesseraAPI

/// `tessera mytoken profiles`: the server's profiles and templates.
extension MytokenCommand {
    struct Profiles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "profiles",
            abstract: "List the mytoken server's profiles and its capability, restriction and rotation templates.",
            discussion: """
                Names listed here can be given to --profile, --restriction, --capability (as @NAME) and \
                --rotation; a group's templates as GROUP/NAME.

                Examples:
                  tessera mytoken profiles
                  tessera mytoken profiles restrictions --json
                  tessera mytoken profiles groups
                  tessera mytoken profiles rotation --group kit
                """)

        @Argument(help: ArgumentHelp("groups, list (profiles), capabilities, restrictions or rotation.", valueName: "what"))
        var what: String = "list"

        @Option(name: [.customLong("group"), .customLong("groups")],
                help: ArgumentHelp("The template group (default: the server's default group).", valueName: "group"))
        var group: String?

        @OptionGroup var serverOption: MytokenServerOption

        @Flag(help: "Print the server's answer as JSON.")
        var json = false

        var kind: MytokenTemplatesKindName? {
            what == "list" ? .profiles : MytokenTemplatesKindName(rawValue: what)
        }

        func validate() throws {
            guard let kind else {
                throw ValidationError("'\(what)' is not one of groups, list, capabilities, restrictions, rotation")
            }
            if kind == .groups && group != nil { throw ValidationError("--group does not apply to groups") }
            if group?.isEmpty == true { throw ValidationError("--group is empty") }
        }

        func run() async throws {
            guard let kind else { return }
            let agent = try await AgentClient.connect()
            let reply = try await agent.templates(MytokenTemplatesRequest(
                mytokenServer: serverOption.server, kind: kind.rawValue, group: group))
            if json {
                StandardStream.output.line(reply.json)
                return
            }
            let names = reply.entries.keys.sorted()
            if names.isEmpty {
                StandardStream.error.line("tessera: the server lists no \(kind == .groups ? "template groups" : kind.rawValue)"
                    + (group.map { " in the group \($0)" } ?? ""))
                return
            }
            if kind == .groups {
                for name in names { StandardStream.output.line(name) }
                return
            }
            StandardStream.output.put(table(["NAME", "CONTENT"], names.map { [$0, reply.entries[$0] ?? ""] }))
        }
    }
}
