import Glibc

/// The one way the project replaces a file: the new bytes go to a fresh file (`mkstemp`, so
/// `O_EXCL` and mode 0600 from the start) in the destination's directory, reach the disk
/// (`fchmod`, `fsync`), and only then are renamed over the old file. A reader or a crash sees the
/// old file or the new one, never half of one. Staging and committing are two steps so a caller
/// can act in between (the account file keeps a bad file aside only once the new one is safe);
/// a failed step removes the temporary file.
public struct StagedFile: Sendable {
    public enum Step: Sendable, Equatable {
        case create, write, rename
    }

    /// The step that failed and why.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let step: Step
        public let errno: Errno
        public var description: String { errno.description }
    }

    public let destination: String
    public let temporary: String

    /// Writes `bytes` beside `destination` under `prefix` + six random characters (default: the
    /// destination's name + ".tmp-") and makes them durable with mode `mode`.
    public init(_ bytes: UnsafeRawBufferPointer, replacing destination: String, mode: mode_t = 0o600,
                prefix: String? = nil) throws(Failure) {
        let directory = Self.directory(of: destination)
        let name = destination.split(separator: "/").last.map(String.init) ?? destination
        let file: FileDescriptor, temporary: String
        do { (file, temporary) = try FileDescriptor.temporaryFile(in: directory, prefix: prefix ?? "\(name).tmp-") } catch {
            throw Failure(step: .create, errno: error)
        }
        defer { file.close() }
        do throws(Errno) {
            try file.writeAll(bytes)
            try file.persist(mode: mode)
        } catch {
            Posix.unlink(temporary)
            throw Failure(step: .write, errno: error)
        }
        self.destination = destination
        self.temporary = temporary
    }

    public init(_ bytes: [UInt8], replacing destination: String, mode: mode_t = 0o600, prefix: String? = nil) throws(Failure) {
        self = try bytes.withUnsafeBytes { buffer in
            Result { () throws(Failure) in try StagedFile(buffer, replacing: destination, mode: mode, prefix: prefix) }
        }.get()
    }

    /// Renames the staged file over the destination. `syncDirectory`: make the rename itself
    /// durable (the directory's fsync), for files that must survive a crash.
    public func commit(syncDirectory: Bool = true) throws(Failure) {
        do { try Posix.rename(temporary, destination) } catch {
            discard()
            throw Failure(step: .rename, errno: error)
        }
        if syncDirectory { Posix.syncDirectory(Self.directory(of: destination)) }
    }

    /// Gives up: removes the staged file; the destination is untouched.
    public func discard() { Posix.unlink(temporary) }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
