import CLinuxShims
import Glibc

// Looking at another process without being fooled by a recycled pid: a pidfd names one process
// for as long as the descriptor lives, and a /proc/PID directory opened while that process is
// known to be alive keeps answering for it alone (once it is gone, reads through the directory
// fail instead of showing whoever takes the pid next).

/// A descriptor this value owns: closed once, when the value goes.
public final class OwnedDescriptor: Sendable {
    public let rawValue: Int32
    public init(takingOwnership rawValue: Int32) { self.rawValue = rawValue }
    deinit { _ = Glibc.close(rawValue) }
}

/// A pidfd: one process, whatever later happens to its pid. Closed when the value goes.
public final class ProcessHandle: Sendable, CustomStringConvertible {
    public let descriptor: OwnedDescriptor

    /// Adopts a pidfd the caller owns (from the bus's `ProcessFD` or `SO_PEERPIDFD`).
    public init(takingOwnership descriptor: Int32) { self.descriptor = OwnedDescriptor(takingOwnership: descriptor) }

    /// `pidfd_open`: whichever process holds `processID` now (ESRCH when none does).
    public static func open(_ processID: Int32) throws(Errno) -> ProcessHandle {
        guard processID > 0 else { throw Errno(ESRCH) }
        let fd = tessera_pidfd_open(processID)
        guard fd >= 0 else { throw Errno() }
        return ProcessHandle(takingOwnership: fd)
    }

    /// The kernel's pidfd of the process that connected the UNIX socket `socket` (Linux 6.5+).
    public static func peer(ofSocket socket: Int32) throws(Errno) -> ProcessHandle {
        let fd = tessera_peer_pidfd(socket)
        guard fd >= 0 else { throw Errno() }
        return ProcessHandle(takingOwnership: fd)
    }

    /// True once the process has exited (a pidfd polls readable then), or when that cannot be told.
    public var hasExited: Bool {
        var entry = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, 0)
        return ready != 0
    }

    /// The process's pid in our pid namespace as the kernel reports it for this pidfd
    /// (`/proc/self/fdinfo/FD`, "Pid:"); nil once it has exited or when it cannot be read.
    public var processID: Int32? {
        guard let info = Posix.readSmallFile("/proc/self/fdinfo/\(descriptor.rawValue)", maxBytes: 4096) else { return nil }
        for line in info.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("Pid:".utf8)) {
            let digits = String(decoding: line.dropFirst(4), as: UTF8.self).trimmingSpaces
            guard let pid = Int32(digits), pid > 0 else { return nil }
            return pid
        }
        return nil
    }

    public var description: String { "pidfd \(descriptor.rawValue)" }
}

/// `/proc/PID` opened as a directory. Open it while a `ProcessHandle` of the same pid shows the
/// process alive, and every read through it is about that process or fails.
public final class ProcessDirectory: Sendable {
    public let processID: Int32
    private let descriptor: OwnedDescriptor

    public init(processID: Int32) throws(Errno) {
        guard processID > 0 else { throw Errno(ESRCH) }
        let fd = Glibc.open("/proc/\(processID)", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Errno() }
        self.processID = processID
        descriptor = OwnedDescriptor(takingOwnership: fd)
    }

    /// A link in the directory (`exe`, `ns/mnt`), or nil.
    public func readLink(_ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlinkat(descriptor.rawValue, name, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A file of the directory (`stat`, `attr/current`), at most `maxBytes`; nil when unreadable or longer.
    public func read(_ name: String, maxBytes: Int) -> [UInt8]? {
        let fd = openat(descriptor.rawValue, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return nil }
        let file = OwnedDescriptor(takingOwnership: fd)
        return Posix.readBounded(file.rawValue, maxBytes: maxBytes)
    }

    /// When the process started, as time since boot (`stat` field 22, in clock ticks); nil if unreadable.
    public var startedAfterBoot: Duration? {
        guard let stat = read("stat", maxBytes: 4096),
              // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19, let ticks = Int64(String(decoding: fields[19], as: UTF8.self)) else { return nil }
        let perSecond = Int64(sysconf(Int32(_SC_CLK_TCK)))
        guard perSecond > 0 else { return nil }
        return .seconds(ticks / perSecond) + .nanoseconds((ticks % perSecond) * 1_000_000_000 / perSecond)
    }

    /// The process's root directory (`/proc/PID/root`, followed on purpose: it leads into the
    /// process's own mount namespace), as an `O_PATH` handle; nil when it cannot be entered.
    public func root() -> OwnedDescriptor? {
        let fd = tessera_open_directory_path(descriptor.rawValue, "root")
        return fd >= 0 ? OwnedDescriptor(takingOwnership: fd) : nil
    }
}

extension Posix {
    /// Time since boot, suspend included (`CLOCK_BOOTTIME`, the clock of a process's start time).
    public static func sinceBoot() -> Duration {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return .seconds(Int64(now.tv_sec)) + .nanoseconds(Int64(now.tv_nsec))
    }

    /// A small file (procfs and the like), at most `maxBytes`; nil when unreadable or longer.
    public static func readSmallFile(_ path: String, maxBytes: Int) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return nil }
        let file = OwnedDescriptor(takingOwnership: fd)
        return readBounded(file.rawValue, maxBytes: maxBytes)
    }

    /// `name` in `directory` when it is a regular file on a tmpfs of at most `maxBytes`; nil
    /// otherwise. A symlink is not followed, and nothing but a regular file is ever opened for
    /// reading (no FIFO to wait on, no device to wake); a tmpfs cannot stall a read the way a FUSE
    /// file system served by the caller could.
    public static func readTmpfsFile(_ name: String, in directory: OwnedDescriptor, maxBytes: Int) -> [UInt8]? {
        let pathFD = tessera_open_path_nofollow(directory.rawValue, name)
        guard pathFD >= 0 else { return nil }
        let handle = OwnedDescriptor(takingOwnership: pathFD)
        var info = stat()
        guard fstat(handle.rawValue, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size <= maxBytes,
              tessera_is_on_tmpfs(handle.rawValue) == 1 else { return nil }
        // An O_PATH handle cannot be read: reopen that same inode through /proc/self/fd.
        let fd = Glibc.open("/proc/self/fd/\(handle.rawValue)", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        let file = OwnedDescriptor(takingOwnership: fd)
        var reopened = stat()
        guard fstat(file.rawValue, &reopened) == 0, reopened.st_dev == info.st_dev, reopened.st_ino == info.st_ino else { return nil }
        return readBounded(file.rawValue, maxBytes: maxBytes)
    }

    /// Reads to the end, or nil past `maxBytes` or on an error.
    static func readBounded(_ fd: Int32, maxBytes: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > maxBytes { return nil }
        }
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
