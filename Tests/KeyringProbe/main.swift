// keyring-probe: runs one LibSecretStore operation in its own process, so a test can point it at
// a different session bus. libsecret caches its Secret Service connection per process for the
// bus in DBUS_SESSION_BUS_ADDRESS at first use; a child process is the only clean way to try
// another bus (one without a Secret Service, or with a locked keyring).
//
//   keyring-probe [--timeout SECONDS] store ACCOUNT ISSUER KIND   (secret on stdin, never argv)
//   keyring-probe [--timeout SECONDS] load|delete ACCOUNT ISSUER KIND
//   keyring-probe [--timeout SECONDS] delete-all ACCOUNT
//   keyring-probe [--timeout SECONDS] list
//   keyring-probe [--timeout SECONDS] STEP + STEP ...           (several steps, one store)
//   keyring-probe enum-types                  (`ok` if libsecret's enum types are registered, else
//                                              `missing NAME...`; registers nothing itself)
//   keyring-probe load-library                (loads libsecret as a keyring call's first step does)
//   keyring-probe --library NAME STEP ...     (loads NAME instead of libsecret first: a missing
//                                              library must make every call fail cleanly)
//
// Prints `ok [value]` or `error <case>: <message>` per step on stdout; exits 1 if any step failed, 2 on misuse.
import Foundation
import Keyring
import Secrets

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: keyring-probe [--timeout S] store|load|delete|delete-all|list ...\n".utf8))
    exit(2)
}

func caseName(_ error: KeyringError) -> String {
    switch error {
    case .locked: "locked"
    case .unavailable: "unavailable"
    case .noDefaultCollection: "noDefaultCollection"
    case .permissionDenied: "permissionDenied"
    case .timeout: "timeout"
    case .cancelled: "cancelled"
    case .invalidArgument: "invalidArgument"
    case .other: "other"
    }
}

var arguments = Array(CommandLine.arguments.dropFirst())
var timeout = Duration.seconds(10)
if arguments.first == "--timeout", arguments.count >= 2, let seconds = Double(arguments[1]) {
    timeout = .milliseconds(Int64(seconds * 1000))
    arguments.removeFirst(2)
}
if arguments.first == "--library", arguments.count >= 2 {
    // The first load wins for the whole process: every later call gets this library's outcome.
    do throws(KeyringError) { try LibSecretStore.loadLibrary(named: arguments[1]) } catch {
        FileHandle.standardError.write(Data("loading \(arguments[1]): \(error)\n".utf8))
    }
    arguments.removeFirst(2)
}
// Steps separated by "+" run one after another on the same store (one output line each), so a
// test can show that a call which timed out leaves the store usable.
let steps = arguments.split(separator: "+", omittingEmptySubsequences: true).map(Array.init)
guard !steps.isEmpty else { usage() }

func key(_ operands: [String]) -> SecretKey {
    guard operands.count == 3, let kind = SecretKind(rawValue: operands[2]) else { usage() }
    return SecretKey(account: operands[0], issuer: operands[1], kind: kind)
}

let store = LibSecretStore(timeout: timeout)
var failed = false
for step in steps {
    let operands = Array(step.dropFirst())
    let started = ContinuousClock.now
    do throws(KeyringError) {
        switch step[0] {
        case "store":
            let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            try await store.store(Secret(input), for: key(operands))
            print("ok")
        case "load":
            let secret = try await store.load(key(operands))
            print(secret.map { "ok \($0.reveal())" } ?? "ok")
        case "delete":
            print("ok \(try await store.delete(key(operands)))")
        case "delete-all":
            guard operands.count == 1 else { usage() }
            try await store.deleteAll(account: operands[0])
            print("ok")
        case "enum-types":
            let missing = LibSecretStore.unregisteredEnumTypes()
            print(missing.isEmpty ? "ok" : "missing \(missing.joined(separator: " "))")
        case "load-library":
            try LibSecretStore.loadLibrary()
            print("ok")
        case "list":
            let keys = try await store.accountsWithSecrets()
            print((["ok"] + keys.map { "\($0.account)|\($0.issuer)|\($0.kind.rawValue)" }).joined(separator: " "))
        default:
            usage()
        }
    } catch {
        print("error \(caseName(error)): \(error)")
        failed = true
    }
    FileHandle.standardError.write(Data("elapsed \(ContinuousClock.now - started)\n".utf8))
}
exit(failed ? 1 : 0)
