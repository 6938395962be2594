import DBus
import Glibc
import Logging
import Posix
import TesseraAPI

/// tesserad's peer-to-peer D-Bus socket (`PeerSocket`): the agent's objects, with the same caller
/// checks, for clients that connect straight to this process. `tessera token` uses it so a
/// cached token costs one round trip to tesserad instead of a trip through the bus daemon and a
/// credentials query back to it; any other client may use it too, or keep using the bus.
///
/// Only the owner of io.tessera.Agent1 serves it (started after the name is claimed, stopped
/// before it is released). The directory must be private to the user (0700, ours, not a link),
/// as for the oidc-agent socket; anything wrong there is logged and the bus alone is served.
struct PeerEndpoint {
    let link: String
    let socket: String

    /// Serves `connection`'s objects peer-to-peer; nil (logged) when there is no place for it.
    static func start(on connection: Connection, logger: Logger,
                      environment: (String) -> String? = { getenv($0).map { String(cString: $0) } }) async -> PeerEndpoint? {
        guard let link = PeerSocket.linkPath(runtimeDirectory: environment("XDG_RUNTIME_DIR"),
                                             busAddress: environment("DBUS_SESSION_BUS_ADDRESS")) else {
            logger.debug("no peer-to-peer socket: XDG_RUNTIME_DIR or a UNIX session bus address is missing")
            return nil
        }
        let socket = PeerSocket.socketPath(link: link, processID: getpid())
        let directory = String(link[..<(link.lastIndex(of: "/") ?? link.endIndex)])
        do {
            try SocketFiles.securePrivateDirectory(directory, userID: getuid())
            removeStaleSockets(beside: link, in: directory)
            try SocketFiles.clearStaleSocket(socket, userID: getuid())
        } catch {
            logger.warning("no peer-to-peer socket: \(error); clients use the bus")
            return nil
        }
        do { try await connection.servePeers(at: socket) } catch {
            logger.warning("no peer-to-peer socket at \(socket): \(error); clients use the bus")
            return nil
        }
        // Point the link at our socket in one step: a client sees the old target or ours.
        let staged = "\(socket).link"
        unlink(staged)
        let target = fileName(socket)
        guard symlink(target, staged) == 0, rename(staged, link) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(staged)
            await connection.stopServingPeers()
            logger.warning("no peer-to-peer socket: cannot link \(link) to \(target): \(reason); clients use the bus")
            return nil
        }
        logger.debug("serving peer-to-peer D-Bus at \(link)")
        return PeerEndpoint(link: link, socket: socket)
    }

    /// Stops serving and removes the link if it still points at our socket (a tesserad that
    /// took over has pointed it at its own).
    func stop(on connection: Connection) async {
        await connection.stopServingPeers()
        if Posix.readLink(link) == Self.fileName(socket) { unlink(link) }
    }

    /// The last component of an absolute path (the link's target is relative to its directory).
    private static func fileName(_ path: String) -> String {
        String(path[path.index(after: path.lastIndex(of: "/") ?? path.startIndex)...])
    }

    /// Sockets of earlier tesserads of this bus that died without stopping (`bus-KEY.PID` that
    /// refuse connections). A live one (a tesserad handing over) is left alone.
    private static func removeStaleSockets(beside link: String, in directory: String) {
        guard let stream = opendir(directory) else { return }
        defer { closedir(stream) }
        let prefix = fileName(link) + "."
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix(prefix), name.dropFirst(prefix.count).allSatisfy(\.isNumber) else { continue }
            try? SocketFiles.clearStaleSocket("\(directory)/\(name)", userID: getuid())
        }
    }
}
