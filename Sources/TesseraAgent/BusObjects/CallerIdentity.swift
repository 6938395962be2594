import Posix
import TesseraCore

/// What the kernel says about a caller's process: the program it runs and the sandbox it is in.
/// Never what the caller says about itself.
public struct ProcessIdentity: Sendable, Equatable {
    /// `/proc/PID/exe`: the program that made the connection.
    public var executable: String?
    /// `.flatpak(id)` or `.snap(name)` when the process runs in such a sandbox.
    public var sandbox: ApplicationID?

    public init(executable: String? = nil, sandbox: ApplicationID? = nil) {
        self.executable = executable
        self.sandbox = sandbox
    }

    public static let unknown = ProcessIdentity()
}

/// Reads a caller's identity from /proc, for bus callers and socket peers alike.
///
/// The process is pinned first — by the pidfd the bus or the kernel took when it connected, or
/// else by `pidfd_open` right after its pid arrived — and `/proc/PID` is opened while that pidfd
/// shows it alive, so every read is about that one process. A pid recycled before the pidfd was
/// taken is caught by its start time: the caller existed when it was asked about, a process that
/// started later is somebody else. Whatever cannot be read or trusted gives no identity (the
/// caller is then named by its pid alone and matched by no rule); nothing here throws or blocks.
public enum CallerIdentity {
    /// Longest `.flatpak-info` read (flatpak writes a few hundred bytes).
    static let maxFlatpakInfo = 64 * 1024
    /// Longest `/proc/PID/mountinfo` read (a Flatpak sandbox has a few dozen mounts).
    static let maxMountInfo = 1 << 20
    /// Longest security label read.
    static let maxLabel = 4096

    /// - Parameters:
    ///   - processID: the pid the bus or `SO_PEERCRED` reported.
    ///   - handle: a pidfd of the caller, when there is one.
    ///   - handleTakenAtConnect: true when `handle` is the bus's or the kernel's own, taken when the
    ///     caller connected (`ProcessFD`, `SO_PEERPIDFD`); false for a `pidfd_open` of the reported
    ///     pid, which is checked against `askedAt` like a pid alone.
    ///   - securityLabel: the LSM label taken at connect time (`LinuxSecurityLabel`, `SO_PEERSEC`).
    ///   - askedAt: time since boot when the caller was known to exist (its message had arrived).
    public static func identify(processID: UInt32?, handle: ProcessHandle?, handleTakenAtConnect: Bool,
                                securityLabel: [UInt8]?, askedAt: Duration?) -> ProcessIdentity {
        guard let processID, processID > 0, processID <= UInt32(Int32.max) else { return .unknown }
        let pid = Int32(processID)
        let pinned: ProcessHandle
        if let handle {
            // It must be the pid that was reported (and not exited: then the kernel says -1).
            guard handle.processID == pid else { return .unknown }
            pinned = handle
        } else {
            guard let opened = try? ProcessHandle.open(pid) else { return .unknown }
            pinned = opened
        }
        guard let directory = try? ProcessDirectory(processID: pid), !pinned.hasExited else { return .unknown }
        // From here `directory` answers for the pinned process or not at all.
        if !(handle != nil && handleTakenAtConnect), let askedAt {
            guard let started = directory.startedAfterBoot, started <= askedAt else { return .unknown }
        }
        var identity = ProcessIdentity(executable: directory.readLink("exe"))
        identity.sandbox = flatpak(of: directory).map(ApplicationID.flatpak)
            ?? snap(label: securityLabel, directory: directory).map(ApplicationID.snap)
        // Still the same process after the reads (belt and braces: the directory already fails for another).
        guard !pinned.hasExited else { return .unknown }
        return identity
    }

    // MARK: Flatpak

    /// tesserad's own mount namespace, read once: it does not change while the service runs, and
    /// every new caller is compared with it.
    static let ownMountNamespace = Posix.readLink("/proc/self/ns/mnt")

    /// The Flatpak app id from `.flatpak-info` at the root of the process's own mount namespace.
    ///
    /// Why it can be believed: flatpak writes that file, read-only, onto the sandbox's tmpfs root
    /// before the app starts, and the app's seccomp filter forbids new mount or user namespaces,
    /// so code inside cannot swap it. A process outside any sandbox shares our mount namespace and
    /// cannot write to the real `/` (root's), so it is never asked. It is read through
    /// `/proc/PID/root` without following a symlink, only when it is a regular file on a tmpfs
    /// (as flatpak's is), bounded in size. Before anything is looked up there, the process's
    /// mount table (procfs, which no caller serves) must show a tmpfs at `/` and at
    /// `/.flatpak-info`: a lookup or fstat on a FUSE mount the caller serves could stall us. What this does not
    /// stop: unsandboxed code of the user can build its own namespace with any `.flatpak-info`
    /// (bwrap needs no privilege) — such code is outside what Tessera can defend (README, Threat model).
    static func flatpak(of directory: ProcessDirectory) -> String? {
        guard let theirs = directory.readLink("ns/mnt"), let ours = ownMountNamespace,
              theirs != ours, flatpakInfoIsOnTmpfs(mountInfo: directory.read("mountinfo", maxBytes: maxMountInfo)),
              let root = directory.root(),
              let info = Posix.readTmpfsFile(".flatpak-info", in: root, maxBytes: maxFlatpakInfo) else { return nil }
        return flatpakAppID(info: info)
    }

    /// True when the mounts `/.flatpak-info` resolves through — the last mount at `/.flatpak-info`
    /// if any, else the last at `/` — are tmpfs (`/proc/PID/mountinfo`: mount point is field 5, the
    /// file system type follows the " - " separator; later lines are mounted on top of earlier ones).
    static func flatpakInfoIsOnTmpfs(mountInfo: [UInt8]?) -> Bool {
        guard let mountInfo else { return false }
        var root: Substring?, info: Substring?
        for line in String(decoding: mountInfo, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            switch fields[4] {
            case "/": root = fields[dash + 1]
            case "/.flatpak-info": info = fields[dash + 1]
            default: continue
            }
        }
        return root == "tmpfs" && (info ?? "tmpfs") == "tmpfs"
    }

    /// `name=` of the `[Application]` group of a `.flatpak-info` key file, when it is a valid app id.
    static func flatpakAppID(info: [UInt8]) -> String? {
        var group = ""
        // Split on the byte: as Characters, "\r\n" is one grapheme and would not split on "\n".
        for rawLine in info.split(separator: UInt8(ascii: "\n")) {
            let line = String(decoding: rawLine, as: UTF8.self).trimmed(" \t\r")
            if line.hasPrefix("#") { continue }
            if line.hasPrefix("[") {
                group = line
                continue
            }
            guard group == "[Application]", let equals = line.firstIndex(of: "=") else { continue }
            guard line[..<equals].trimmed(" \t") == "name" else { continue }
            let value = line[line.index(after: equals)...].trimmed(" \t")
            return isFlatpakAppID(value) ? value : nil
        }
        return nil
    }

    /// Flatpak's rule (`flatpak_is_valid_name`): at most 255 bytes, three or more dot-separated
    /// elements of `[A-Za-z0-9_-]`, none empty, none starting with a digit (a `-` is allowed
    /// only in the last element).
    static func isFlatpakAppID(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 255 else { return false }
        let elements = id.split(separator: ".", omittingEmptySubsequences: false)
        guard elements.count >= 3 else { return false }
        for (index, element) in elements.enumerated() {
            guard let first = element.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
            for scalar in element.unicodeScalars {
                let isWordCharacter = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_")
                guard isWordCharacter || (scalar == "-" && index == elements.count - 1) else { return false }
            }
        }
        return true
    }

    // MARK: Snap

    /// The snap's name from the AppArmor label snapd gives its apps (`snap.NAME.APP`,
    /// `snap.NAME.hook.HOOK`), from the label taken at connect time or else the process's current
    /// one. A process cannot choose its AppArmor label; only a confined (enforce) one counts.
    static func snap(label: [UInt8]?, directory: ProcessDirectory) -> String? {
        let raw = label ?? directory.read("attr/apparmor/current", maxBytes: maxLabel)
            ?? directory.read("attr/current", maxBytes: maxLabel)
        guard let raw else { return nil }
        return snapName(label: String(decoding: raw, as: UTF8.self))
    }

    /// `snap.NAME.APP (enforce)` → NAME (with an `_instance` key kept, as snapd names instances).
    static func snapName(label: String) -> String? {
        var text = Substring(label)
        while let last = text.last, last == "\0" || last == "\n" { text.removeLast() }
        if let open = text.lastIndex(of: "("), text.hasSuffix(")"), open > text.startIndex,
           text[text.index(before: open)] == " " {
            let mode = text[text.index(after: open)..<text.index(before: text.endIndex)]
            // complain mode (devmode snaps) confines nothing, so it proves nothing.
            guard mode == "enforce" || mode == "kill" else { return nil }
            text = text[..<text.index(before: open)]
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.first == "snap", parts.count == 3 || (parts.count == 4 && parts[2] == "hook") else { return nil }
        let instance = parts[1].split(separator: "_", maxSplits: 1, omittingEmptySubsequences: false)
        guard isSnapName(instance[0]) else { return nil }
        if instance.count == 2 {
            let key = instance[1]
            guard (1...10).contains(key.count), key.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) })
            else { return nil }
        }
        let app = parts[parts.count - 1]
        guard !app.isEmpty, app.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") })
        else { return nil }
        return String(parts[1])
    }

    /// snapd's rule: 2 to 40 of `[a-z0-9-]`, at least one letter, no leading, trailing or double `-`.
    static func isSnapName(_ name: Substring) -> Bool {
        guard (2...40).contains(name.count), !name.hasPrefix("-"), !name.hasSuffix("-"), !name.contains("--") else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
            && name.unicodeScalars.contains { ("a"..."z").contains($0) }
    }
}

extension StringProtocol {
    func trimmed(_ set: String) -> String {
        let drop = Set(set)
        return String(String(self.drop { drop.contains($0) }).reversed().drop { drop.contains($0) }.reversed())
    }
}
