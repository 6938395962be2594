import Glibc
import Posix

/// Why the socket could not be set up; `description` is the one line the user reads.
public enum SocketSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    case unsafeDirectory(path: String, reason: String)
    case pathInUse(path: String, reason: String)
    case pathTooLong(String)
    case system(call: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .unsafeDirectory(let path, let reason):
            "refusing the oidc-agent socket directory \(path): \(reason); remove it or choose another path"
        case .pathInUse(let path, let reason):
            "cannot serve the oidc-agent socket at \(path): \(reason)"
        case .pathTooLong(let path):
            "the oidc-agent socket path \(path) is longer than a UNIX socket address allows (107 bytes)"
        case .system(let call, let path, let number):
            "cannot set up the oidc-agent socket at \(path): \(call) failed: \(String(cString: strerror(number)))"
        }
    }
}

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
        try Self.secureDirectory(directory, userID: userID)
        try Self.clearStaleSocket(path, userID: userID)

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .system(call: "socket", path: path, errno: errno) }
        var address = Self.address(path)
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

    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            raw.copyBytes(from: path.utf8)
        }
        return address
    }

    private static func secureDirectory(_ directory: String, userID: UInt32) throws(SocketSetupError) {
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

    private static func clearStaleSocket(_ path: String, userID: UInt32) throws(SocketSetupError) {
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

/// Close-on-exec and non-blocking for a new descriptor (Glibc's Swift module lacks `pipe2` and
/// `accept4`, which would set both atomically; tesserad's children are spawned with only the
/// standard descriptors, so the short window does not leak the socket).
func configureDescriptor(_ descriptor: Int32) -> Bool {
    fcntl(descriptor, F_SETFD, FD_CLOEXEC) == 0 && fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) == 0
}

/// The connecting process as the kernel vouches for it, read at accept time: SO_PEERCRED (pid,
/// uid, gid as of connect), a pidfd that keeps naming that process whatever later takes its pid
/// (SO_PEERPIDFD, Linux 6.5+; else `pidfd_open` right away, checked against `acceptedAt` by the
/// identity lookup), and the LSM label (SO_PEERSEC) where there is one. Who the program is, is
/// read from these by the agent (`VerifiedCaller.identify`), the same way as for bus callers.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public let processID: Int32
    public let userID: UInt32
    public let groupID: UInt32
    /// The peer's pidfd, or nil when neither way gave one (the process already gone).
    public let process: ProcessHandle?
    /// True when `process` came from the kernel at connect time (SO_PEERPIDFD), not `pidfd_open`.
    public let processPinnedAtConnect: Bool
    /// SO_PEERSEC: e.g. an AppArmor label `snap.NAME.APP (enforce)`; nil without an LSM.
    public let securityLabel: [UInt8]?
    /// Time since boot at accept: the peer's process existed by then.
    public let acceptedAt: Duration

    public init(processID: Int32, userID: UInt32, groupID: UInt32, process: ProcessHandle? = nil,
                processPinnedAtConnect: Bool = false, securityLabel: [UInt8]? = nil, acceptedAt: Duration = Posix.sinceBoot()) {
        self.processID = processID
        self.userID = userID
        self.groupID = groupID
        self.process = process
        self.processPinnedAtConnect = processPinnedAtConnect
        self.securityLabel = securityLabel
        self.acceptedAt = acceptedAt
    }

    static func of(_ descriptor: Int32) -> PeerCredentials? {
        let acceptedAt = Posix.sinceBoot()
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } — Glibc's Swift module hides it behind
        // _GNU_SOURCE, so it is read as three 32-bit fields.
        var fields = [Int32](repeating: -1, count: 3)
        var length = socklen_t(MemoryLayout<Int32>.size * 3)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &fields, &length) == 0,
              length == socklen_t(MemoryLayout<Int32>.size * 3) else { return nil }
        let pid = fields[0]
        let pinned = try? ProcessHandle.peer(ofSocket: descriptor)
        let process = pinned ?? (try? ProcessHandle.open(pid))
        return PeerCredentials(processID: pid, userID: UInt32(bitPattern: fields[1]), groupID: UInt32(bitPattern: fields[2]),
                               process: process, processPinnedAtConnect: pinned != nil,
                               securityLabel: securityLabel(of: descriptor), acceptedAt: acceptedAt)
    }

    /// SO_PEERSEC, bounded; nil when no LSM labels sockets (ENOPROTOOPT) or it cannot be read.
    static func securityLabel(of descriptor: Int32) -> [UInt8]? {
        var label = [UInt8](repeating: 0, count: 4096)
        var length = socklen_t(label.count)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERSEC, &label, &length) == 0, length > 0,
              Int(length) <= label.count else { return nil }
        return Array(label[..<Int(length)])
    }

    public static func == (lhs: PeerCredentials, rhs: PeerCredentials) -> Bool {
        lhs.processID == rhs.processID && lhs.userID == rhs.userID && lhs.groupID == rhs.groupID
            && lhs.process === rhs.process && lhs.securityLabel == rhs.securityLabel && lhs.acceptedAt == rhs.acceptedAt
    }

    public var description: String { "pid \(processID), uid \(userID)" }
}
