import CLinuxShims
import Glibc

// The project's one thin layer over the POSIX calls it makes outside the C libraries' own
// wrappers: whole writes, durable replacement of a file, spawning a helper, reading a symlink,
// starting a named thread.
// No Foundation here (the CLI links this), and every call site gets a thrown `Errno` instead of a
// global `errno` read at the right moment.

/// A failed system call: its errno, with the C library's text for it.
public struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int32
    public init(_ code: Int32 = errno) { self.code = code }
    public var description: String { String(cString: strerror(code)) }
}

/// An open file descriptor. It does not close itself: ownership stays with the caller, who calls
/// `close()` once (the standard streams are never closed).
public struct FileDescriptor: Sendable, Equatable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    /// Opens `path`; `O_CLOEXEC` is always added.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Errno() }
        return FileDescriptor(rawValue: fd)
    }

    /// A new file from `mkstemp` in `directory` (mode 0600), and its path.
    public static func temporaryFile(in directory: String, prefix: String) throws(Errno) -> (FileDescriptor, String) {
        var template = Array(directory.utf8CString.dropLast()) + Array("/\(prefix)XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw Errno() }
        return (FileDescriptor(rawValue: fd), String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// Writes every byte, retrying after short writes and EINTR.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw Errno()
            }
            offset += written
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBytes { buffer in Result { () throws(Errno) in try writeAll(buffer) } }.get()
    }

    public func writeAll(_ text: String) throws(Errno) {
        var text = text
        try text.withUTF8 { buffer in Result { () throws(Errno) in try writeAll(UnsafeRawBufferPointer(buffer)) } }.get()
    }

    /// Reads to the end of the file (retrying after EINTR).
    public func readAll() throws(Errno) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(rawValue, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Errno()
            }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
    }

    /// `fchmod` then `fsync`: the file has its mode and its bytes are on the disk.
    public func persist(mode: mode_t = 0o600) throws(Errno) {
        guard fchmod(rawValue, mode) == 0, fsync(rawValue) == 0 else { throw Errno() }
    }

    public func close() { _ = Glibc.close(rawValue) }

    public var isTerminal: Bool { isatty(rawValue) == 1 }
}

public enum Posix {
    public static func rename(_ from: String, _ to: String) throws(Errno) {
        guard Glibc.rename(from, to) == 0 else { throw Errno() }
    }

    public static func unlink(_ path: String) { _ = Glibc.unlink(path) }

    /// The whole content of the file at `path`.
    public static func readFile(_ path: String) throws(Errno) -> [UInt8] {
        let file = try FileDescriptor.open(path, O_RDONLY)
        defer { file.close() }
        return try file.readAll()
    }

    /// Makes a rename in `directory` durable (best effort: some file systems refuse it).
    public static func syncDirectory(_ directory: String) {
        let fd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = Glibc.close(fd)
    }

    /// The target of a symbolic link (e.g. `/proc/PID/exe`), or nil.
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = Glibc.readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Starts `argv` (looked up on PATH) with stdin from /dev/null and does not wait for it; a
    /// detached thread reaps it, so no zombie is left.
    public static func spawnDetached(_ argv: [String]) throws(Errno) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        let arguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in arguments { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, argv[0], &actions, nil, arguments, environ)
        guard status == 0 else { throw Errno(status) }
        reapInBackground(pid)
    }

    /// Starts a detached thread named `name` (at most 15 bytes are kept) that runs `body` once.
    /// For the few long-lived threads that block in C calls (libsecret, libcurl, accept): the
    /// Swift concurrency executors must never block, and Foundation's `Thread` would load full
    /// Foundation for nothing more than this.
    public static func startThread(named name: String, _ body: @escaping @Sendable () -> Void) {
        final class Start {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
        }
        // The kernel keeps 15 bytes and pthread_setname_np refuses a longer name outright
        // ("tessera-keyring-0" would leave the thread named after the executable).
        var short = name
        while short.utf8.count > 15 { short.removeLast() }
        let context = Unmanaged.passRetained(Start(name: short, body: body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
            tessera_set_thread_name(start.name)
            start.body()
            return nil
        }, context)
        precondition(status == 0, "pthread_create failed: \(Errno(status))")
        pthread_detach(thread)
    }

    private static func reapInBackground(_ pid: pid_t) {
        var thread = pthread_t()
        let argument = UnsafeMutableRawPointer(bitPattern: Int(pid))
        let started = pthread_create(&thread, nil, { argument in
            let child = pid_t(Int(bitPattern: argument))
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            return nil
        }, argument)
        if started == 0 { pthread_detach(thread) }
    }
}
