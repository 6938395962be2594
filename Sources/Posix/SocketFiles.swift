import Glibc

/// Why the socket could not be set up; `description` is the one line the user reads.
public enum SocketSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    case unsafeDirectory(path: String, reason: String)
    case pathInUse(path: String, reason: String)
    case pathTooLong(String)
    case system(call: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .unsafeDirectory(let path, let reason):
            "refusing the socket directory \(path): \(reason); remove it or choose another path"
        case .pathInUse(let path, let reason):
            "cannot serve the socket at \(path): \(reason)"
        case .pathTooLong(let path):
            "the socket path \(path) is longer than a UNIX socket address allows (107 bytes)"
        case .system(let call, let path, let number):
            "cannot set up the socket at \(path): \(call) failed: \(String(cString: strerror(number)))"
        }
    }
}

/// Socket files in private directories: the checks the oidc-agent socket and the peer-to-peer
/// D-Bus socket make before they bind.
public enum SocketFiles {
    /// The `sockaddr_un` of a filesystem path (the caller checks that it fits).
    public static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            raw.copyBytes(from: path.utf8)
        }
        return address
    }

    /// Makes sure `directory` is one only `userID` can enter: created 0700 if missing (one level
    /// only); if it exists, a real directory (not a symlink) owned by `userID` with no access for
    /// group or others — otherwise another user could have planted it and would see or replace
    /// the sockets in it.
    public static func securePrivateDirectory(_ directory: String, userID: UInt32) throws(SocketSetupError) {
        var info = stat()
        if lstat(directory, &info) != 0 {
            guard errno == ENOENT else { throw .system(call: "lstat", path: directory, errno: errno) }
            // One level only: a missing grandparent is a typo, not something to create.
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw .system(call: "mkdir", path: directory, errno: errno)
            }
            guard lstat(directory, &info) == 0 else { throw .system(call: "lstat", path: directory, errno: errno) }
        }
        let type = info.st_mode & S_IFMT
        if type == S_IFLNK { throw .unsafeDirectory(path: directory, reason: "it is a symbolic link") }
        guard type == S_IFDIR else { throw .unsafeDirectory(path: directory, reason: "it is not a directory") }
        guard info.st_uid == userID else {
            throw .unsafeDirectory(path: directory, reason: "it belongs to uid \(info.st_uid), not to uid \(userID)")
        }
        let mode = info.st_mode & 0o7777
        guard mode & 0o077 == 0 else {
            throw .unsafeDirectory(path: directory, reason: "its mode is \(String(mode, radix: 8)), it must be 700 (only its owner may enter)")
        }
    }

    /// Removes a socket left at `path` by a process that died (connecting is refused); throws if
    /// something else is there, or a live socket.
    public static func clearStaleSocket(_ path: String, userID: UInt32) throws(SocketSetupError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            guard errno == ENOENT else { throw .system(call: "lstat", path: path, errno: errno) }
            return
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw .pathInUse(path: path, reason: "a file that is not a socket is in the way") }
        guard info.st_uid == userID else {
            throw .pathInUse(path: path, reason: "a socket of uid \(info.st_uid) is in the way")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw .system(call: "socket", path: path, errno: errno) }
        defer { close(probe) }
        var address = address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 {
            throw .pathInUse(path: path, reason: "another agent (oidc-agent or tesserad) is serving it; stop that one first")
        }
        guard errno == ECONNREFUSED else { throw .system(call: "connect", path: path, errno: errno) }
        // Nobody listens: the socket of a process that died. Replace it.
        guard unlink(path) == 0 || errno == ENOENT else { throw .system(call: "unlink", path: path, errno: errno) }
    }
}
