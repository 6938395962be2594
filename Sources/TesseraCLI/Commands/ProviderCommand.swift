import ArgumentParser
import DBus
import Secrets
import TesseraAPI

struct ProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider",
        abstract: "The OpenID providers Tessera knows by a short name.",
        subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the known providers (built in, and yours from $XDG_CONFIG_HOME/tessera/providers.json).",
            discussion: """
                Add an account for one with `tessera account add NAME --provider SHORT`. Your own \
                providers.json ({"schema": 1, "providers": [{"short-name": …, "issuer": …}]}) adds \
                providers or changes the fields it names of a built-in one; what is wrong in it is \
                reported here by file and field, and the rest of the list keeps working.

                Examples:
                  tessera provider list
                  tessera provider list --json | jq '.[] | select(.["audience-parameter"] == "audience")'
                """)

        @Flag(help: "Print the providers as a JSON array.")
        var json = false

        func run() async throws {
            let agent = try await AgentClient.connect()
            let providers = try await agent.listProviders()
            for problem in await agent.providerProblems() {
                StandardStream.error.line("tessera: warning: \(problem)")
            }
            if json {
                StandardStream.output.line(JSONValue.array(providers.map(\.json)).rendered())
                return
            }
            let rows = providers.map { provider in
                [provider.shortName, provider.displayName, provider.issuer,
                 provider.publicClientID == nil ? "-" : "public", provider.audienceParameter]
            }
            StandardStream.output.put(renderTable(header: ["SHORT", "NAME", "ISSUER", "CLIENT", "AUDIENCE"], rows: rows))
        }
    }
}

extension ProviderInfo {
    var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("short-name", .string(shortName)),
            (ProviderKey.displayName.rawValue, .string(displayName)),
            (ProviderKey.issuer.rawValue, .string(issuer)),
        ]
        if let registrationURI { members.append((ProviderKey.registrationURI.rawValue, .string(registrationURI))) }
        if let publicClientID { members.append((ProviderKey.publicClientID.rawValue, .string(publicClientID))) }
        members += [
            (ProviderKey.scopes.rawValue, .array(scopes.map { .string($0) })),
            (ProviderKey.audienceParameter.rawValue, .string(audienceParameter)),
            (ProviderKey.notes.rawValue, .string(notes)),
            (ProviderKey.source.rawValue, .string(source)),
        ]
        return .object(members)
    }
}

extension AgentClient {
    func listProviders() async throws(CLIError) -> [ProviderInfo] {
        let reply = try await call(AgentMethod.listProviders.rawValue, [], account: nil)
        do { return try ProviderInfo.list(body: reply) } catch {
            throw Self.unexpectedReply(AgentMethod.listProviders.rawValue, reply)
        }
    }

    /// Problems in the user's providers file, as the service last read it (best effort).
    func providerProblems() async -> [String] {
        guard let reply = try? await connection.call(
            destination: AgentContract.busName, path: AgentContract.objectPath, interface: .properties,
            member: MemberName(stringLiteral: "Get"),
            arguments: [.string(AgentBus.interface), .string(AgentProperty.providerProblems.rawValue)], timeout: .seconds(10))
        else { return [] }
        return reply.first?.stringsValue ?? []
    }

    func setAccount(name: String, settings: AccountSettingsMessage) async throws(CLIError) {
        _ = try await callWithSecret(AgentMethod.setAccount.rawValue, [.string(name), settings.dbusOptions.dbusValue], account: name)
    }

    func renameAccount(from old: String, to new: String) async throws(CLIError) {
        _ = try await call(AgentMethod.renameAccount.rawValue, [.string(old), .string(new)], account: old)
    }

    func idToken(account: String, minValid: UInt32?, force: Bool) async throws(CLIError) -> (token: Secret, expiresAt: Int64) {
        let options = IdTokenOptions(minValid: minValid, force: force ? true : nil)
        let reply = try await call(AgentMethod.getIdToken.rawValue, [.string(account), options.dbusOptions.dbusValue],
                                   account: account)
        guard reply.count == 2, case .string(let token) = reply[0], case .int64(let expiresAt) = reply[1] else {
            throw Self.unexpectedReply(AgentMethod.getIdToken.rawValue, reply)
        }
        return (Secret(token), expiresAt)
    }
}
