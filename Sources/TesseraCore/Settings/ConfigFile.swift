import FoundationEssentials
import Glibc
import Posix

/// How the service writes its files in `$XDG_CONFIG_HOME/tessera`: the directory made 0700 if
/// missing, then `StagedFile` (a temp file in the same directory, fsync, rename) with mode 0600,
/// so a crash leaves the old file or the new one, never half of one.
enum ConfigFile {
    /// The standard directory, from `XDG_CONFIG_HOME` or `~/.config`.
    static func directory(environment: [String: String]) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/tessera" }
        return (environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path) + "/.config/tessera"
    }

    static func write(_ data: Data, to path: String) throws(AccountFileError) {
        try makeDirectory(for: path)
        let staged = try stage(data, for: path)
        do { try staged.commit() } catch {
            throw .writeFailed(file: path, reason: error.description)
        }
    }

    /// `path`'s directory, made (0700) when missing.
    static func makeDirectory(for path: String) throws(AccountFileError) {
        let directory = Paths.directory(of: path)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .writeFailed(file: path, reason: "cannot create \(directory)")
        }
    }

    /// `data` on the disk beside `path`, not yet in its place.
    static func stage(_ data: Data, for path: String) throws(AccountFileError) -> StagedFile {
        do {
            return try data.withUnsafeBytes { buffer in
                Result { () throws(StagedFile.Failure) in try StagedFile(buffer, replacing: path, mode: 0o600) }
            }.get()
        } catch {
            throw .writeFailed(file: path, reason: error.description)
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
