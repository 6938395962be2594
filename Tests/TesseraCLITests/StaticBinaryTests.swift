import Foundation
import Testing
import TestSupport

/// Issue 15: the release `tessera` is a fully static executable that still finds the session bus
/// only through DBUS_SESSION_BUS_ADDRESS (libdbus's X11/autolaunch fallback never runs).
@Suite struct StaticBinaryTests {
    /// Set when the suite runs against the release build (`TESSERA_TEST_BINARIES`, see Binaries).
    static var testingReleaseBuild: Bool {
        !(ProcessInfo.processInfo.environment["TESSERA_TEST_BINARIES"] ?? "").isEmpty
    }

    /// No program interpreter and no dynamic section: the kernel maps it and jumps to it, with no
    /// dynamic loader and no shared library (what `ldd` reports as "not a dynamic executable").
    @Test(.enabled(if: testingReleaseBuild, "only the release build is linked statically"))
    func releaseBinaryHasNoDynamicLoader() throws {
        let path = try Binaries.path("tessera")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try #require(bytes.count > 64 && bytes[0..<4] == [0x7F, 0x45, 0x4C, 0x46] && bytes[4] == 2, "64-bit ELF")
        func integer(_ offset: Int, _ size: Int) -> Int {
            (0..<size).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        let (programHeaders, entrySize, count) = (integer(0x20, 8), integer(0x36, 2), integer(0x38, 2))
        let types = (0..<count).map { integer(programHeaders + $0 * entrySize, 4) }
        let interpreter = 3, dynamic = 2
        #expect(!types.contains(interpreter), "\(path) names a dynamic loader")
        #expect(!types.contains(dynamic), "\(path) has a dynamic section")
    }

    /// Its argv comes from glibc's call of its constructor (Sources/CStaticStubs/swift_argv.c), not
    /// from the Swift runtime's object that reads /proc/self/maps at every start; every other test
    /// of this suite run against the release build checks that the arguments still arrive whole.
    @Test(.enabled(if: testingReleaseBuild, "only the release build is linked statically"))
    func releaseBinaryDoesNotReadItsMapsAtStart() async throws {
        let trace = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-start-\(getpid()).trace").path
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let strace = Process()
        strace.executableURL = URL(fileURLWithPath: try Requirement.executable("strace"))
        strace.arguments = ["-f", "-e", "trace=openat,open", "-o", trace, try Binaries.path("tessera"), "--version"]
        strace.standardOutput = FileHandle.nullDevice
        try strace.run()
        strace.waitUntilExit()
        #expect(strace.terminationStatus == 0)
        let opened = try String(contentsOfFile: trace, encoding: .utf8)
        #expect(!opened.contains("/proc/self/maps"), "\(opened)")
    }

    /// Without a session bus address the CLI says so and exits 4, even with an X display at hand
    /// (where libdbus's autolaunch would otherwise start a bus of its own).
    @Test func noBusAddressFailsWithoutAutolaunch() async throws {
        let run = try await CLI.run(["token", "anything"],
                                    environment: ["DBUS_SESSION_BUS_ADDRESS": "", "DISPLAY": ":0"])
        #expect(run.status == 4, "\(run)")
        #expect(run.stderr.contains("DBUS_SESSION_BUS_ADDRESS"), "\(run)")
    }
}
