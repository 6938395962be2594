import CDBus
import Testing
@testable import DBus

/// `BusAddress` reads addresses itself (for `tessera token`'s start-up); libdbus's parser is the
/// reference it must agree with, on well-formed and malformed addresses alike.
@Suite struct BusAddressTests {
    /// What the earlier code computed with `dbus_parse_address`: the first entry's `path`, or NUL
    /// and its `abstract`, when the whole address parses and that entry's method is `unix`.
    private static func libdbusAnswer(_ address: String) -> [UInt8]? {
        var error = CDBus.DBusError()
        dbus_error_init(&error)
        defer { dbus_error_free(&error) }
        var entries: UnsafeMutablePointer<OpaquePointer?>?
        var count: Int32 = 0
        guard dbus_parse_address(address, &entries, &count, &error) != 0, let entries else { return nil }
        defer { dbus_address_entries_free(entries) }
        guard count > 0, let first = entries[0], String(cString: dbus_address_entry_get_method(first)) == "unix"
        else { return nil }
        if let value = dbus_address_entry_get_value(first, "path") { return Array(String(cString: value).utf8) }
        if let value = dbus_address_entry_get_value(first, "abstract") { return [0] + Array(String(cString: value).utf8) }
        return nil
    }

    static let corpus = [
        "unix:path=/run/user/1000/bus", "unix:abstract=/tmp/dbus-XYZ,guid=0123abcd", "unix:path=/a;tcp:host=x,port=1",
        "tcp:host=localhost,port=4;unix:path=/b", "unix:guid=1,path=/c", "unix:path=/d,path=/e", "unix:abstract=a,path=/p",
        "unix:path=/with%20space", "unix:path=/%2f%2F%41", "unix:path=/bad%zz", "unix:path=/short%2", "unix:path=/nul%00rest",
        "unix:path=/semi%3bcolon", "unix:path=", "unix:=x", "unix:path", "unix:", "unix", "", ";", ";unix:path=/x",
        "unix:path=/x;", "unix:path=/x;;", "unix:path=/x,", ":path=/x", "unix:path=/spa ce", "unix:path=/é",
        "unix:runtime=yes", "unix:tmpdir=/tmp", "UNIX:path=/x", "unix:path=/x;bogus", "unix:path=a=b", "unix:p@th=/x",
        "unix:path=\\\\x*y.z-_", "unix:abstract=", "unix:path=/x,abstract=y", "autolaunch:", "unix:path=%2Frun",
    ]

    @Test func agreesWithLibdbusOnACorpus() {
        for address in Self.corpus {
            #expect(BusAddress.unixSocketBytes(of: address) == Self.libdbusAnswer(address), "\(address)")
        }
    }

    @Test func agreesWithLibdbusOnGeneratedAddresses() {
        // Mostly well-formed entries with a few wrong pieces in them.
        let methods = ["unix", "unix", "tcp", "", "unix;"]
        let keys = ["path", "abstract", "guid", "", "pa=th"]
        let values = ["/tmp/x", "%2F", "%3b", "%zz", "a", "é", " ", "%00", "", "\\", "*", "%4", ",", ";", ":"]
        var generator = SplitMix(seed: 0xADD7E55)
        func pick(_ list: [String]) -> String { list[Int(generator.next() % UInt64(list.count))] }
        var parsed = 0
        for _ in 0..<20_000 {
            var address = ""
            for entry in 0..<(1 + Int(generator.next() % 2)) {
                if entry > 0 { address += ";" }
                address += pick(methods) + ":"
                for pair in 0..<Int(generator.next() % 3) {
                    if pair > 0 { address += "," }
                    address += pick(keys) + "="
                    for _ in 0..<Int(generator.next() % 3) { address += pick(values) }
                }
            }
            let ours = BusAddress.unixSocketBytes(of: address)
            #expect(ours == Self.libdbusAnswer(address), "\(address)")
            if ours != nil { parsed += 1 }
        }
        #expect(parsed > 100, "only \(parsed) generated addresses named a socket")
    }
}
