import Glibc

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
    public static func write(_ token: SecretText, to path: String) throws(CLIError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        var template = Array((directory.isEmpty ? "/" : directory).utf8CString.dropLast())
            + Array("/.bt-tessera.XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw .runtime("cannot create a file in \(directory) for the bearer token: \(errnoText()); "
                + "choose another path with --bearer-file=PATH")
        }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var renamed = false
        defer {
            close(descriptor)
            if !renamed { unlink(temporary) }
        }
        // mkstemp already uses 0600; fchmod makes that independent of the C library's choice.
        var bytes = Array(token.revealed().utf8) + [UInt8(ascii: "\n")]
        defer { for index in bytes.indices { bytes[index] = 0 } }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw .runtime("cannot write the bearer token to \(temporary): \(errnoText())")
            }
            offset += written
        }
        guard fchmod(descriptor, 0o600) == 0, fsync(descriptor) == 0 else {
            throw .runtime("cannot save the bearer token in \(directory): \(errnoText())")
        }
        guard rename(temporary, path) == 0 else {
            throw .runtime("cannot move the bearer token to \(path): \(errnoText()); "
                + "choose another path with --bearer-file=PATH")
        }
        renamed = true
    }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
