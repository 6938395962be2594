import ArgumentParser

struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Log out: revoke the account's refresh token at the provider and forget it.",
        discussion: """
            The refresh token is revoked at the provider (RFC 7009), deleted from the keyring, and \
            cached access tokens are dropped. If the provider cannot be reached the local secret is \
            still removed, unless --keep-on-failure is given. The account itself stays; log in again \
            with `tessera login`.

            Example:
              tessera revoke wlcg
            """)

    @Argument(help: ArgumentHelp("The account to log out of.", valueName: "account"))
    var account: String

    @Flag(name: .customLong("keep-on-failure"),
          help: "Keep the refresh token if the provider cannot be reached.")
    var keepOnFailure = false

    mutating func validate() throws {
        if account.isEmpty { throw ValidationError("the account name is empty; see `tessera account list`") }
    }

    func run() async throws {
        let agent = try await AgentClient.connect()
        let revokedAtProvider = try await agent.revoke(account: account, keepOnFailure: keepOnFailure)
        if revokedAtProvider {
            StandardStream.output.line("Revoked the login of \(account) at the provider and removed it from the keyring.")
        } else {
            StandardStream.output.line("Removed the login of \(account) from the keyring; the provider could not confirm the revocation.")
        }
    }
}
