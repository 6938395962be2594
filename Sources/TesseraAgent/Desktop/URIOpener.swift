import DBus
import FoundationEssentials
import Logging
import Posix

/// Opens a web page for the user: the desktop portal when there is one (sandbox-friendly, asks
/// the desktop's browser choice), else `xdg-open`. The URI is not a secret, so it may be an argument.
enum URIOpener {
    static func open(_ uri: String, connection: Connection, logger: Logger) async {
        do {
            _ = try await connection.call(
                destination: "org.freedesktop.portal.Desktop", path: "/org/freedesktop/portal/desktop",
                interface: "org.freedesktop.portal.OpenURI", member: "OpenURI",
                arguments: [.string(""), .string(uri), .dictionary([:])], timeout: .seconds(5))
            logger.info("opened the verification page through the desktop portal")
            return
        } catch {
            logger.debug("no OpenURI portal (\(error)); using xdg-open")
        }
        do {
            try Posix.spawnDetached(["xdg-open", uri])
            logger.info("opened the verification page with xdg-open")
        } catch {
            logger.warning("cannot open the verification page: \(error)")
        }
    }
}
