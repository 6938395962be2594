import ArgumentParser
import TesseraAPI

/// `tessera mytoken …`: the mytoken client's commands, spoken to tesserad over D-Bus. Restriction
/// and time values go to the service as typed (it parses them), so this stays Foundation-free.
struct MytokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mytoken",
        abstract: "Use mytokens: accounts backed by a mytoken server, sub-mytokens, transfer codes.",
        discussion: """
            A mytoken account keeps its mytoken in the keyring; log in with `tessera login NAME` \
            (consent at the mytoken server) or store an existing mytoken with `tessera mytoken import`. \
            Commands that take an account also take a mytoken instead: --mytoken-file, --mytoken-env, \
            --mytoken-prompt or --mytoken; with neither, the WLCG bearer token discovery order \
            ($BEARER_TOKEN, $BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u$UID, /tmp/bt_u$UID) finds it.
            """,
        subcommands: [Add.self, Import.self, New.self, AccessToken.self, Create.self, Exchange.self, Revoke.self, Profiles.self,
                      Info.self])
}

func validateAccountOrInput(_ account: String?, _ input: MytokenInput) throws {
    if let account {
        if account.isEmpty { throw ValidationError("the account name is empty; see `tessera account list`") }
        if input.given { throw ValidationError("name an account or pass a mytoken, not both") }
    }
}

/// `-o FILE`: where `new`, `create` and `exchange` put what they made, instead of standard output.
struct MytokenOutput: ParsableArguments {
    @Option(name: [.customShort("o"), .customLong("out")],
            help: ArgumentHelp("Write it to FILE (mode 0600) instead of standard output.", valueName: "file"))
    var path: String?

    func validate() throws {
        if path?.isEmpty == true { throw ValidationError("-o needs a file name") }
    }
}

/// `--mytoken-server URL` for the commands that name no account and pass no mytoken.
struct MytokenServerOption: ParsableArguments {
    @Option(name: .customLong("mytoken-server"),
            help: ArgumentHelp("The mytoken server (default $MYTOKEN_SERVER or $MYTOKEN_URL, else your mytoken accounts').",
                               valueName: "url"))
    var argument: String?

    /// The server named, else the default.
    var server: String? { argument ?? defaultMytokenServer() }
}
