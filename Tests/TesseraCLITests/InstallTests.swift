import Foundation
import Testing
import TestSupport

/// `make install` into a prefix, then a session bus that reads that prefix's services directory
/// (as it reads `$XDG_DATA_HOME/dbus-1/services` in a real session): `tessera token` starts the
/// service through D-Bus activation, with no environment variable set by hand.
@Suite(.serialized, .exclusiveSession) struct InstallTests {
    @Test func installedServiceIsActivatedByTheFirstCall() async throws {
        try Requirement.session()
        let root = try makeTemporaryDirectory("install")
        let prefix = "\(root)/prefix"
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        let installed = try await Command.run("\(packageRoot)/scripts/install.sh", [prefix],
                                              environment: ["TESSERA_BIN_DIR": Binaries.directory,
                                                            "TESSERA_NO_MANPAGES": "1"])
        #expect(installed.succeeded, "\(installed.stderr)")
        let service = try String(contentsOfFile: "\(prefix)/share/dbus-1/services/io.tessera.Agent1.service",
                                 encoding: .utf8)
        #expect(service.contains("Exec=\(prefix)/bin/tesserad"))
        for file in ["bin/tessera", "bin/tesserad", "share/dbus-1/interfaces/io.tessera.Agent1.xml",
                     "share/systemd/user/tesserad.service", "share/applications/tessera.desktop",
                     "share/bash-completion/completions/tessera", "share/zsh/site-functions/_tessera",
                     "share/fish/vendor_completions.d/tessera.fish"] {
            #expect(FileManager.default.fileExists(atPath: "\(prefix)/\(file)"), "\(file)")
        }
        let unit = try String(contentsOfFile: "\(prefix)/share/systemd/user/tesserad.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=\(prefix)/bin/tesserad"))

        // A bus of its own whose only services directory is the installed one.
        let config = "\(root)/session.conf"
        try """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>unix:dir=\(root)</listen>
              <servicedir>\(prefix)/share/dbus-1/services</servicedir>
              <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
            </busconfig>
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let bus = try BackgroundProcess("dbus-daemon", ["--config-file=\(config)", "--nofork", "--print-address=1"],
                                        logPath: "\(root)/bus.log")
        var address = ""
        for _ in 0..<200 where address.isEmpty {
            address = bus.log().split(separator: "\n").first.map(String.init) ?? ""
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(!address.isEmpty, "dbus-daemon did not start: \(bus.log())")

        // Nothing runs yet; the call starts tesserad, which answers that the account does not exist.
        let run = try await CLI.run(["token", "no-such-account"], environment: ["DBUS_SESSION_BUS_ADDRESS": address])
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.contains("tessera account list"), "\(run)")
        let owner = try await Command.run("gdbus", [
            "call", "--address", address, "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
            "--method", "org.freedesktop.DBus.GetConnectionUnixProcessID", "io.tessera.Agent1"])
        #expect(owner.succeeded, "the activated tesserad owns the name: \(owner.stderr)")
        // "(uint32 12345,)": the last number is the process id.
        if let pid = owner.stdout.split(whereSeparator: { !$0.isNumber }).last.flatMap({ Int32($0) }) {
            kill(pid, SIGTERM)
        }
        bus.stop()

        let removed = try await Command.run("\(packageRoot)/scripts/install.sh", ["--uninstall", prefix])
        #expect(removed.succeeded, "\(removed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(prefix)/bin/tessera"))
        #expect(!FileManager.default.fileExists(atPath: "\(prefix)/share/dbus-1/services/io.tessera.Agent1.service"))
    }
}
