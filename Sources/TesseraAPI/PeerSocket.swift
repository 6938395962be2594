import DBus

/// Where tesserad serves its D-Bus objects peer-to-peer, beside the bus, and where `tessera`
/// looks for them: `$XDG_RUNTIME_DIR/tessera/bus-KEY`, a symbolic link to the serving process's
/// own socket `bus-KEY.PID` in the same directory.
///
/// Why a link: a tesserad taking over with `--replace` points the link at its socket in one
/// `rename`, and the old one's socket file (which libdbus removes when it stops) is never the
/// one clients use. Why a key: it is an FNV-1a hash of the session bus's socket path, so the
/// services of two buses of one user (a nested session, a test's private bus) never meet; a
/// client whose bus address names no UNIX socket path simply uses the bus.
public enum PeerSocket {
    /// The link clients connect to, or nil when there is none to look for: no absolute
    /// `XDG_RUNTIME_DIR`, or a session bus address that is not a UNIX socket.
    public static func linkPath(runtimeDirectory: String?, busAddress: String?) -> String? {
        guard let runtimeDirectory, runtimeDirectory.hasPrefix("/"), let busAddress,
              let socket = BusAddress.unixSocket(of: busAddress) else { return nil }
        var directory = runtimeDirectory
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        // Room for ".PID" after the link's name within sun_path's 107 bytes.
        let path = "\(directory)/tessera/bus-\(key(socket))"
        return path.utf8.count + 12 < 108 ? path : nil
    }

    /// The serving process's own socket behind `link`.
    public static func socketPath(link: String, processID: Int32) -> String { "\(link).\(processID)" }

    /// 16 hex digits of the 64-bit FNV-1a hash of `text`'s UTF-8 bytes (stable across runs and
    /// builds, unlike Swift's seeded `Hasher`).
    static func key(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        // By hand, not `String(hash, radix: 16)`: the generic integer printing costs a one-shot
        // `tessera token` more than the rest of this function.
        // Written into the string's own storage: no `[UInt8]` (whose type the runtime would look
        // up by name in a one-shot `tessera token`).
        return String(unsafeUninitializedCapacity: 16) { digits in
            for index in 0..<16 {
                let nibble = UInt8(truncatingIfNeeded: hash >> (60 - 4 * UInt64(index))) & 0xF
                digits[index] = nibble < 10 ? 48 + nibble : 87 + nibble
            }
            return 16
        }
    }
}
