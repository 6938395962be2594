import Foundation
import TestSupport
import Testing

/// Issue 15: tesserad runs on FoundationEssentials alone, loads libcurl only when it first
/// makes a request and libsecret only when it first uses the keyring. Full Foundation, FoundationNetworking
/// (URLSession), FoundationInternationalization and ICU were most of its resident memory and of
/// its start-up (dynamic loading); nothing in the service needs them. Checked in the running
/// process — after start and after a login, token and refresh, so a library loaded on first use
/// is caught too — not just in the ELF header.
@Suite(.serialized, .exclusiveSession) struct LeanServiceTests {
    /// Shared libraries that must never be mapped into tesserad.
    static let forbidden = ["libFoundation.so", "libFoundationNetworking.so", "libFoundationInternationalization.so",
                            "libFoundationXML.so", "lib_FoundationICU.so", "libicu"]

    @Test func tesseradNeverMapsFullFoundationOrICU() async throws {
        let world = try await AgentWorld()
        let pid = world.agent.process.pid
        let atStart = try Self.mappedLibraries(of: pid)
        // The C library is mapped into every process: proof the whole table was read.
        #expect(atStart.contains { $0.hasSuffix("/libc.so.6") }, "the check reads all of the maps: \(atStart.sorted())")
        #expect(Self.offending(atStart).isEmpty, "tesserad at start maps \(Self.offending(atStart))")
        // libcurl (and OpenSSL, GnuTLS, Kerberos, LDAP… with it) is loaded by the first request.
        #expect(!atStart.contains { $0.contains("/libcurl.so") }, "tesserad loaded libcurl before any request")
        // libsecret (and GLib, GObject, GIO with it) is loaded by the first keyring call.
        #expect(Self.keyringLibraries(atStart).isEmpty, "tesserad at start maps \(Self.keyringLibraries(atStart))")

        try await world.addAccount()
        try await world.login()
        _ = try await world.token()
        _ = try await world.token("{'force': <true>}")
        let afterUse = try Self.mappedLibraries(of: pid)
        #expect(Self.offending(afterUse).isEmpty, "tesserad after a login and a refresh maps \(Self.offending(afterUse))")
        #expect(afterUse.contains { $0.contains("/libcurl.so") }, "the login's requests went through libcurl")
        #expect(Self.keyringLibraries(afterUse).count == 4, "the login stored its refresh token through libsecret: \(Self.keyringLibraries(afterUse))")
    }

    /// libsecret and the GLib libraries it brings, as mapped.
    static func keyringLibraries(_ libraries: Set<String>) -> [String] {
        let names = ["libsecret-1.so", "libglib-2.0.so", "libgobject-2.0.so", "libgio-2.0.so"]
        return Set(libraries.compactMap { path -> String? in
            let file = path.split(separator: "/").last.map(String.init) ?? path
            return names.first { file.hasPrefix($0) }
        }).sorted()
    }

    static func offending(_ libraries: Set<String>) -> [String] {
        libraries.filter { path in
            let file = path.split(separator: "/").last.map(String.init) ?? path
            return forbidden.contains { file.hasPrefix($0) }
        }.sorted()
    }

    /// The files mapped into process `pid` (the last column of /proc/PID/maps). Read to the end
    /// by hand: the file reports size 0, and `String(contentsOfFile:)` stops after the first page.
    static func mappedLibraries(of pid: pid_t) throws -> Set<String> {
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/\(pid)/maps"))
        defer { try? handle.close() }
        let maps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        return Set(maps.split(separator: "\n").compactMap { line in
            guard let slash = line.firstIndex(of: "/") else { return nil }
            return String(line[slash...])
        })
    }
}
