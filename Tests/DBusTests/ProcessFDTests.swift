import Foundation
import Posix
import Testing
import TestSupport
@testable import DBus

/// Open descriptors of this process that are pidfds or /dev/null: what these tests create (a count
/// of all descriptors moves with other suites' connections closing in the background).
private func pidfdsAndNulls() -> Int {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return entries.filter { ["anon_inode:[pidfd]", "/dev/null"].contains(Posix.readLink("/proc/self/fd/\($0)")) }.count
}

/// GetConnectionCredentials' `ProcessFD`: the one received Unix fd the library takes, on purpose,
/// and only that one.
@Suite struct ProcessFDTests {
    /// A reply as a bus that offers `ProcessFD` sends it (dbus-daemon 1.16, recent dbus-broker), plus a
    /// second fd under another key that must not be duplicated out.
    @Test func theProcessFDOfACredentialsReplyIsTakenAndNothingElse() throws {
        let before = pidfdsAndNulls()
        do {
            let pidfd = try ProcessHandle.open(getpid())
            let stray = open("/dev/null", O_RDONLY | O_CLOEXEC)
            defer { close(stray) }
            let reply = try Message.signal(path: "/org/freedesktop/DBus", interface: .bus, member: "Credentials")
            try reply.append([.dictionary(keySignature: "s", valueSignature: "v", [
                .init(key: .string("UnixUserID"), value: .variant(.uint32(getuid()))),
                .init(key: .string("ProcessFD"), value: .variant(.unixFD(pidfd.descriptor.rawValue))),
                .init(key: .string("OtherFD"), value: .variant(.unixFD(stray))),
                .init(key: .string("ProcessID"), value: .variant(.uint32(UInt32(getpid())))),
            ])])
            #expect(reply.carriesUnixFDs)

            // Everywhere else a body with fds is refused, this one included.
            guard case .failure = Connection.result(of: reply) else {
                Issue.record("a body with fds was decoded without taking them on purpose")
                return
            }
            let values = try Connection.result(of: reply, takingProcessFD: true).get()
            #expect(values.count == 2)
            let credentials = try Array(values.prefix(1)).decode([String: Variant].self)
            #expect(Set(credentials.keys) == ["UnixUserID", "ProcessID"])
            guard case .unixFD(let taken) = values.last else {
                Issue.record("no ProcessFD taken: \(values)")
                return
            }
            #expect(taken != pidfd.descriptor.rawValue)
            let handle = ProcessHandle(takingOwnership: taken)
            #expect(handle.processID == getpid())
        }
        // The taken duplicate closed with its handle, the message's own copies with the message.
        #expect(pidfdsAndNulls() == before)
    }

    /// What the running bus offers: Debian 12's dbus-daemon 1.14 has no `ProcessFD`; a newer one
    /// must give a pidfd of the caller itself.
    @Test func theBusOffersAProcessFDOfTheCallerOrNone() async throws {
        let bus = try PrivateBus()
        let service = try await Connection(address: bus.address)
        let client = try await Connection(address: bus.address)
        let before = pidfdsAndNulls()
        do {
            let (credentials, process) = try await service.credentialsAndProcess(of: client.uniqueName)
            #expect(try credentials.value("ProcessID", as: UInt32.self) == UInt32(getpid()))
            if let process { #expect(process.processID == getpid()) }
        }
        #expect(pidfdsAndNulls() == before)
        await client.close()
        await service.close()
    }
}
