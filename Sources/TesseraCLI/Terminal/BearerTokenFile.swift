import Glibc
import Posix
import Secrets

/// The WLCG bearer token discovery file (WLCG Bearer Token Discovery, v1.0): tools look at
/// `$BEARER_TOKEN`, then `$BEARER_TOKEN_FILE`, then `$XDG_RUNTIME_DIR/bt_u$UID`, then
/// `/tmp/bt_u$UID`. `tessera token --bearer-file` writes the file those tools find.
public enum BearerTokenFile {
    /// Where a discovery-aware tool looks when neither `BEARER_TOKEN` nor `BEARER_TOKEN_FILE` is
    /// set: the runtime directory if there is one, else `/tmp`.
    public static func defaultPath() -> String {
        defaultPath(runtimeDirectory: Environment.value("XDG_RUNTIME_DIR"), uid: getuid())
    }

    public static func defaultPath(runtimeDirectory: String?, uid: UInt32) -> String {
        let directory = runtimeDirectory.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
        return "\(directory)/bt_u\(uid)"
    }

    /// Replaces the file at `path` with the token and a newline, readable by the owner only. The
    /// token goes to a fresh 0600 temporary file in the same directory, reaches the disk, and only
    /// then is renamed over the old file, so a reader sees either the old token or the new one,
    /// never a partial one, and never a file others could read.
    public static func write(_ token: Secret, to path: String) throws(CLIError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        var bytes = Array(token.reveal().utf8) + [UInt8(ascii: "\n")]
        defer { for index in bytes.indices { bytes[index] = 0 } }
        do throws(StagedFile.Failure) {
            // A token for this session only: the rename need not survive a crash (no directory fsync).
            try StagedFile(bytes, replacing: path, mode: 0o600, prefix: ".bt-tessera.").commit(syncDirectory: false)
        } catch {
            switch error.step {
            case .create:
                throw .runtime("cannot create a file in \(directory.isEmpty ? "/" : directory) for the bearer token: \(error); "
                    + "choose another path with --bearer-file=PATH")
            case .write:
                throw .runtime("cannot save the bearer token in \(directory.isEmpty ? "/" : directory): \(error)")
            case .rename:
                throw .runtime("cannot move the bearer token to \(path): \(error); "
                    + "choose another path with --bearer-file=PATH")
            }
        }
    }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
