import ArgumentParser
import Glibc
import Secrets

/// Where a mytoken passed to `tessera mytoken …` came from, so a rotated replacement can go back
/// there (a file) or be shown (everything else).
enum MytokenOrigin: Equatable {
    case file(String)
    case environment(String)
    case prompt
    case argument

    var name: String {
        switch self {
        case .file(let path): "the file \(path)"
        case .environment(let variable): "$\(variable)"
        case .prompt: "the prompt"
        case .argument: "--mytoken"
        }
    }
}

/// A mytoken the user passes instead of naming an account, as the mytoken client takes it.
struct MytokenInput: ParsableArguments {
    @Option(name: [.customLong("mytoken-file"), .customLong("MT-file")],
            help: ArgumentHelp("Read the mytoken from the first line of FILE (rewritten there when the token rotates).",
                               valueName: "file"))
    var file: String?

    @Option(name: [.customLong("mytoken-env"), .customLong("MT-env")],
            help: ArgumentHelp("Read the mytoken from the environment variable VAR.", valueName: "var"))
    var environmentVariable: String?

    @Flag(name: [.customLong("mytoken-prompt"), .customLong("MT-prompt")], help: "Read the mytoken from a no-echo prompt (or standard input).")
    var prompt = false

    @Option(name: [.customLong("mytoken"), .customLong("MT")],
            help: ArgumentHelp("The mytoken itself (unsafe: other users can read the command line).", valueName: "token"))
    var argument: String?

    @Option(name: .customLong("mytoken-server"),
            help: ArgumentHelp("""
                The mytoken server (default $MYTOKEN_SERVER or $MYTOKEN_URL, else the token's own iss claim, \
                else the server of your mytoken accounts).
                """, valueName: "url"))
    var serverArgument: String?

    var server: String? { serverArgument ?? defaultMytokenServer() }

    var given: Bool { file != nil || environmentVariable != nil || prompt || argument != nil }

    func validate() throws {
        let count = [file != nil, environmentVariable != nil, prompt, argument != nil].filter { $0 }.count
        if count > 1 { throw ValidationError("give the mytoken one way: --mytoken-file, --mytoken-env, --mytoken-prompt or --mytoken") }
        if file?.isEmpty == true || environmentVariable?.isEmpty == true || argument?.isEmpty == true {
            throw ValidationError("an empty mytoken option was given")
        }
    }

    /// The mytoken as passed, or by WLCG bearer token discovery when none was: `$BEARER_TOKEN`,
    /// `$BEARER_TOKEN_FILE`, `$XDG_RUNTIME_DIR/bt_u$UID`, `/tmp/bt_u$UID`.
    /// The passed mytoken, its server and where it came from, for a command that names no
    /// account; nil when it names one (the account knows its own).
    func passed(unless account: String?) throws(CLIError) -> (mytoken: Secret, server: String?, origin: MytokenOrigin)? {
        guard account == nil else { return nil }
        let (mytoken, origin) = try read()
        return (mytoken, server, origin)
    }

    func read() throws(CLIError) -> (Secret, MytokenOrigin) {
        if let file { return (try Self.firstLine(of: file), .file(file)) }
        if let environmentVariable {
            guard let value = Environment.value(environmentVariable) else {
                throw .usage("$\(environmentVariable) is not set or empty")
            }
            return (try Self.checked(value, from: "$\(environmentVariable)"), .environment(environmentVariable))
        }
        if prompt {
            let prompt = SecretPrompt()
            defer { prompt.close() }
            let value = try prompt.readSecret(prompt: "Mytoken: ")
            return (try Self.checked(value.reveal(), from: "the prompt"), .prompt)
        }
        if let argument {
            StandardStream.error.line("""
                tessera: warning: --mytoken puts the token on the command line, where other users can read it; \
                prefer --mytoken-file, --mytoken-env or --mytoken-prompt
                """)
            return (try Self.checked(argument, from: "--mytoken"), .argument)
        }
        if let value = Environment.value("BEARER_TOKEN") {
            return (try Self.checked(value, from: "$BEARER_TOKEN"), .environment("BEARER_TOKEN"))
        }
        if let path = Environment.value("BEARER_TOKEN_FILE") { return (try Self.firstLine(of: path), .file(path)) }
        for path in Self.discoveryPaths() where access(path, R_OK) == 0 {
            return (try Self.firstLine(of: path), .file(path))
        }
        throw .usage("""
            no mytoken given: name an account, or pass one with --mytoken-file, --mytoken-env, --mytoken-prompt \
            or --mytoken (or set BEARER_TOKEN / BEARER_TOKEN_FILE)
            """)
    }

    static func discoveryPaths() -> [String] {
        var paths: [String] = []
        if let runtime = Environment.value("XDG_RUNTIME_DIR"), runtime.hasPrefix("/") { paths.append("\(runtime)/bt_u\(getuid())") }
        paths.append("/tmp/bt_u\(getuid())")
        return paths
    }

    private static func checked(_ value: String, from origin: String) throws(CLIError) -> Secret {
        var token = Substring(value)
        while let last = token.last, last == "\n" || last == "\r" || last == " " || last == "\t" { token = token.dropLast() }
        while let first = token.first, first == " " || first == "\t" { token = token.dropFirst() }
        if token.isEmpty { throw .usage("\(origin) holds no mytoken") }
        return Secret(String(token))
    }

    private static func firstLine(of path: String) throws(CLIError) -> Secret {
        let text = try MytokenFiles.read(path)
        return try checked(String(text.prefix { $0 != "\n" }), from: path)
    }

    /// Hands a rotated mytoken back: rewritten as the file's first line, else shown on stderr,
    /// because the old token no longer works and this is the only copy.
    static func keep(_ rotated: Secret, origin: MytokenOrigin) {
        if case .file(let path) = origin {
            do {
                try MytokenFiles.replaceFirstLine(of: path, with: rotated)
                return
            } catch {
                StandardStream.error.line("tessera: warning: \(error)")
            }
        }
        StandardStream.error.line("""
            tessera: warning: the mytoken was rotated and the new one cannot be written back to \(origin.name); \
            the old one no longer works. Keep this new mytoken:
            """)
        StandardStream.error.line(rotated.reveal())
    }
}

/// Small file operations for mytokens without Foundation (the CLI must start fast).
enum MytokenFiles {
    static func read(_ path: String, what: String? = nil) throws(CLIError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .usage("cannot read \(what.map { "the \($0) " } ?? "")\(path): \(errnoText())") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        defer { for index in bytes.indices { bytes[index] = 0 } }
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw .usage("cannot read \(what.map { "the \($0) " } ?? "")\(path): \(errnoText())") }
            if count == 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > 1 << 20 { throw .usage("\(path) is larger than 1 MB; it is not a mytoken or restriction file") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces the first line of the file at `path`, keeping the rest, atomically and mode 0600.
    static func replaceFirstLine(of path: String, with token: Secret) throws(CLIError) {
        let old = try read(path)
        let rest = old.firstIndex(of: "\n").map { String(old[$0...]) } ?? "\n"
        try BearerTokenFile.write(Secret(token.reveal() + (rest.hasSuffix("\n") ? rest.dropLast() : rest[...])), to: path)
    }

    /// A new file holding `token` and a newline, mode 0600, replacing `path` atomically.
    static func write(_ token: Secret, to path: String) throws(CLIError) {
        try BearerTokenFile.write(token, to: path)
    }

    /// A new mytoken to the `-o` file when one is named, else to stdout, where a script captures it.
    static func deliver(_ token: Secret, to path: String?) throws(CLIError) {
        if let path {
            try write(token, to: path)
        } else {
            StandardStream.output.line(token.reveal())
        }
    }
}
