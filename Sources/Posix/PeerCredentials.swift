import Glibc

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

    /// The credentials of the process at the other end of the connected AF_UNIX socket `descriptor`.
    public static func of(_ descriptor: Int32) -> PeerCredentials? {
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
