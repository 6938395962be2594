import Glibc
import Posix

/// Where oidc-agent 5.x clients look when `OIDC_SOCK` is unset:
/// `${TMPDIR:-/tmp}/oidc-agent-service-$UID/oidc-agent.sock`.
public enum SocketLocation {
    public static func defaultPath(environment: [String: String], userID: UInt32 = getuid()) -> String {
        var base = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        return "\(base)/oidc-agent-service-\(userID)/oidc-agent.sock"
    }
}

/// A bound, listening AF_UNIX stream socket in a directory only its user can enter.
///
/// The directory is created 0700 if missing; if it exists it must be a real directory (not a
/// symlink), owned by this user, with no access for group or others — otherwise another user could
/// have planted it and would see or replace the socket. The socket itself is 0600. A socket left
/// behind by a dead process (connecting is refused) is replaced; a live one is not.
public final class ListeningSocket: Sendable {
    public let path: String
    let descriptor: Int32
    /// The socket file's identity when bound, so `close` only unlinks our own file.
    private let device: UInt64
    private let inode: UInt64

    public static let backlog: Int32 = 128

    public init(path: String, userID: UInt32 = getuid()) throws(SocketSetupError) {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { throw .pathTooLong(path) }
        guard path.hasPrefix("/") else { throw .pathInUse(path: path, reason: "the path must be absolute") }
        let directory = Self.parent(of: path)
        try SocketFiles.securePrivateDirectory(directory, userID: userID)
        try SocketFiles.clearStaleSocket(path, userID: userID)

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .system(call: "socket", path: path, errno: errno) }
        var address = SocketFiles.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let number = errno
            close(fd)
            if number == EADDRINUSE { throw .pathInUse(path: path, reason: "another process bound it just now") }
            throw .system(call: "bind", path: path, errno: number)
        }
        // The directory already keeps others out; 0600 is the second lock (and what oidc-agent 5 does).
        var info = stat()
        guard chmod(path, 0o600) == 0, lstat(path, &info) == 0, listen(fd, Self.backlog) == 0 else {
            let number = errno
            close(fd)
            unlink(path)
            throw .system(call: "chmod/listen", path: path, errno: number)
        }
        self.path = path
        descriptor = fd
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// Stops listening and removes the socket file if it is still ours.
    func closeAndUnlink() {
        var info = stat()
        if lstat(path, &info) == 0, UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode {
            unlink(path)
        }
        close(descriptor)
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    static func address(_ path: String) -> sockaddr_un { SocketFiles.address(path) }
}

/// Close-on-exec and non-blocking for a new descriptor (Glibc's Swift module lacks `pipe2` and
/// `accept4`, which would set both atomically; tesserad's children are spawned with only the
/// standard descriptors, so the short window does not leak the socket).
func configureDescriptor(_ descriptor: Int32) -> Bool {
    fcntl(descriptor, F_SETFD, FD_CLOEXEC) == 0 && fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) == 0
}
