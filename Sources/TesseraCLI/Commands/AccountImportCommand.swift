import ArgumentParser
import FoundationEssentials
import Glibc
import Secrets
import TesseraAPI

extension AccountCommand {
    /// `oidc-gen -p NAME | tessera account import --oidc-agent NAME`: an oidc-agent account moves
    /// over with its login. The configuration (with its client secret and refresh token) goes from
    /// stdin to the service in one D-Bus call, which reads it and puts the secrets in the keyring:
    /// nothing on argv, nothing written to a file.
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import an account from oidc-agent (the output of `oidc-gen -p NAME` on stdin).",
            discussion: """
                The issuer, client id and secret, refresh token, scopes, audience, redirect URIs \
                (`login --browser` listens on their loopback port) and registration data (the \
                registration access token goes to the keyring, so `account remove` deletes the \
                client oidc-gen registered) are taken over; the account is logged in at once. \
                Anything else the configuration holds (e.g. a password-flow user name and password, \
                a custom CA bundle) is named on standard error as not imported.

                Example:
                  oidc-gen -p egi | tessera account import --oidc-agent egi
                """)

        static let maxBytes = 256 * 1024

        @Option(name: .customLong("oidc-agent"),
                help: ArgumentHelp("The account's name (oidc-agent's short name, kept in Tessera).", valueName: "name"))
        var name: String

        @Flag(help: "Replace an existing Tessera account of that name.")
        var replace = false

        mutating func validate() throws {
            try validateAccountName(name)
        }

        func run() async throws {
            if StandardStream.input.isTerminal {
                throw CLIError.usage("pipe the configuration in: oidc-gen -p \(shellWord(name)) | tessera account import --oidc-agent \(shellWord(name))")
            }
            let text = try Self.readStandardInput()
            let settings = AccountSettingsMessage(replace: replace ? true : nil, oidcAgentConfig: text.reveal())
            let agent = try await AgentClient.connect()
            _ = try await agent.call(AgentMethod.addAccount.rawValue, [.string(name), settings.dbusOptions.dbusValue], account: name)
            StandardStream.output.line("Imported \(name) from oidc-agent. Try: tessera token \(shellWord(name))")
            let left = Self.notImported(text)
            if !left.isEmpty {
                StandardStream.error.line("tessera: not imported from oidc-agent (Tessera does not keep them): \(left.joined(separator: ", "))")
            }
        }

        /// The configuration's keys that hold something Tessera does not keep (the service's rule,
        /// `OIDCAgentImportKeys`). Only key names and value shapes are read here.
        static func notImported(_ text: Secret) -> [String] {
            guard let fields = try? JSONDecoder().decode([String: ImportValue].self, from: Data(text.reveal().utf8)) else { return [] }
            return OIDCAgentImportKeys.notImported(fields.mapValues(\.value))
        }

        /// A top-level value of the configuration, as far as the import rule cares.
        struct ImportValue: Decodable {
            let value: OIDCAgentImportKeys.Value

            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if container.decodeNil() {
                    value = .empty
                } else if let text = try? container.decode(String.self) {
                    value = text.isEmpty ? .empty : .text(text)
                } else if let number = try? container.decode(Int64.self) {
                    value = .other(String(number))
                } else if let flag = try? container.decode(Bool.self) {
                    value = .other(String(flag))
                } else if let list = try? container.decode([ImportValue].self) {
                    value = list.isEmpty ? .empty : .other("list")
                } else if let object = try? container.decode([String: ImportValue].self) {
                    value = object.isEmpty ? .empty : .other("object")
                } else {
                    value = .other("value")
                }
            }
        }

        /// All of stdin, bounded; kept as a secret (it holds the refresh token).
        static func readStandardInput() throws(CLIError) -> Secret {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let count = read(STDIN_FILENO, &chunk, chunk.count)
                if count < 0 && errno == EINTR { continue }
                guard count >= 0 else { throw CLIError.runtime("cannot read standard input: \(String(cString: strerror(errno)))") }
                if count == 0 { break }
                bytes += chunk[..<count]
                guard bytes.count <= maxBytes else {
                    throw CLIError.usage("standard input is larger than \(maxBytes / 1024) KiB; pipe in `oidc-gen -p NAME`")
                }
            }
            chunk.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
            guard !bytes.isEmpty else { throw CLIError.usage("standard input is empty; pipe in `oidc-gen -p NAME`") }
            let text = String(decoding: bytes, as: UTF8.self)
            bytes.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
            return Secret(text)
        }
    }
}
