import ArgumentParser
import Secrets
import TesseraAPI

/// `tessera mytoken info`: tokeninfo (introspect, history, subtokens, list).
extension MytokenCommand {
    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "info",
            abstract: "Ask the mytoken server about a mytoken: introspect, history, subtokens, list.",
            discussion: """
                introspect: the token's properties and usage counts (capability tokeninfo:introspect); \
                history: its events (tokeninfo:history); subtokens: the tree of mytokens created from it \
                (tokeninfo:subtokens); list: all your mytokens (manage_mytokens:list). A token that \
                rotates is stored again (an account) or written back (a file).

                Examples:
                  tessera mytoken info introspect kit
                  tessera mytoken info history --mytoken-file job.mytoken --json
                  tessera mytoken info subtokens kit
                """)

        @Argument(help: ArgumentHelp("introspect, history, subtokens (or tree, token-tree) or list (or list-mytokens).",
                                     valueName: "action"))
        var action: String

        /// The action, also by the mytoken client's names and aliases.
        var actionName: MytokenInfoActionName? {
            switch action {
            case "tree", "token-tree": .subtokens
            case "list-mytokens": .list
            default: MytokenInfoActionName(rawValue: action)
            }
        }

        @Argument(help: ArgumentHelp("The mytoken account (else a passed mytoken).", valueName: "account"))
        var account: String?

        @OptionGroup var input: MytokenInput

        @Flag(help: "Print the server's answer as JSON.")
        var json = false

        func validate() throws {
            guard actionName != nil else {
                throw ValidationError("'\(action)' is not one of introspect, history, subtokens, list")
            }
            try validateAccountOrInput(account, input)
        }

        func run() async throws {
            guard let actionName else { return }
            var request = MytokenInfoRequest()
            let passed = try input.passed(unless: account)
            request.mytoken = passed?.mytoken.reveal()
            request.mytokenServer = passed?.server
            let agent = try await AgentClient.connect()
            let reply = try await agent.info(account: account, action: actionName, request: request)
            if let rotated = reply.rotatedMytoken, let origin = passed?.origin { MytokenInput.keep(Secret(rotated), origin: origin) }
            if json {
                StandardStream.output.line(reply.json)
                return
            }
            switch actionName {
            case .introspect:
                StandardStream.output.put(table(["FIELD", "VALUE"], reply.rows.map { [$0["field"] ?? "", $0["value"] ?? ""] }))
            case .history:
                StandardStream.output.put(table(["TIME", "EVENT", "IP", "COMMENT"], reply.rows.map {
                    [localTime($0["time"]), $0["event"] ?? "", $0["ip"] ?? "", $0["comment"] ?? ""]
                }))
            case .subtokens, .list:
                StandardStream.output.put(table(["NAME", "CREATED", "EXPIRES", "IP", "MOM-ID"], reply.rows.map {
                    let depth = Int($0["depth"] ?? "0") ?? 0
                    let name = ($0["name"] ?? "").isEmpty ? "(unnamed)" : $0["name"]!
                    return [String(repeating: "  ", count: depth) + name, localTime($0["created"]),
                            ($0["expires-at"] ?? "").isEmpty ? "never" : localTime($0["expires-at"]), $0["ip"] ?? "",
                            $0["mom-id"] ?? ""]
                }))
            }
        }
    }
}
