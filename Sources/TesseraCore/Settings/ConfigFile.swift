import FoundationEssentials
import Glibc

/// How the service writes its files in `$XDG_CONFIG_HOME/tessera`: the directory made 0700 if
/// missing, a temp file in the same directory, fsync, rename — so a crash leaves the old file or
/// the new one, never half of one — with mode 0600.
enum ConfigFile {
    /// The standard directory, from `XDG_CONFIG_HOME` or `~/.config`.
    static func directory(environment: [String: String]) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/tessera" }
        return (environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path) + "/.config/tessera"
    }

    /// `keepInvalid` moves the current file aside to `<path>.invalid` first.
    static func write(_ data: Data, to path: String, keepInvalid: Bool = false) throws(AccountFileError) {
        let directory = Paths.directory(of: path)
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                   attributes: [.posixPermissions: 0o700])
        } catch {
            throw .writeFailed(file: path, reason: "cannot create \(directory)")
        }
        if keepInvalid && fm.fileExists(atPath: path) {
            _ = rename(path, path + ".invalid")
        }
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .writeFailed(file: path, reason: String(cString: strerror(errno))) }
        var ok = data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 { if errno == EINTR { continue }; return false }
                offset += written
            }
            return true
        }
        ok = ok && fchmod(fd, 0o600) == 0 && fsync(fd) == 0
        let failure = errno
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(ok ? errno : failure))
            unlink(temporary)
            throw .writeFailed(file: path, reason: reason)
        }
    }
}

/// File path arithmetic the service needs (Foundation's `NSString` path methods are full
/// Foundation only).
enum Paths {
    /// The directory part of `path`: "/a/b/c" → "/a/b", "/a" → "/", "name" → "" (like
    /// `deletingLastPathComponent`; trailing slashes do not count).
    static func directory(of path: String) -> String {
        var path = Substring(path)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        guard let slash = path.lastIndex(of: "/") else { return "" }
        let directory = path[..<slash]
        return directory.isEmpty ? "/" : String(directory)
    }
}
