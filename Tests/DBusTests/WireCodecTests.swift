import CDBus
import Glibc
import Testing
@testable import DBus

/// `WireEncoder` and `WireDecoder` (the one-shot client's own marshalling) against libdbus, which
/// stays the reference: what we write must pass libdbus's validator and read back as we meant
/// it; what libdbus writes we must read as libdbus does; and no byte sequence may trap us or be
/// read as something libdbus would not read.
@Suite struct WireCodecTests {
    /// Our bytes through `dbus_message_demarshal` (full validation), as a libdbus message.
    private static func libdbusReading(_ bytes: [UInt8]) -> Message? {
        var error = CDBus.DBusError()
        dbus_error_init(&error)
        defer { dbus_error_free(&error) }
        let raw = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { dbus_message_demarshal($0.baseAddress, Int32($0.count), &error) }
        }
        return raw.map { Message(takingOwnership: $0) }
    }

    /// libdbus's bytes for a message it built.
    private static func libdbusBytes(_ message: Message, serial: UInt32) throws -> [UInt8] {
        dbus_message_set_serial(message.raw, serial)
        var buffer: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        guard dbus_message_marshal(message.raw, &buffer, &length) != 0, let buffer else { throw DBus.DBusError.outOfMemory }
        defer { dbus_free(buffer) }
        return Array(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
    }

    private static var bodies: [[DBusValue]] {
        var bodies: [[DBusValue]] = [[], everyType]
        for value in everyType { bodies.append([value]); bodies.append([.byte(1), .variant(value)]) }
        bodies.append(deeplyNested)
        // Alignment after odd offsets: a byte, then 8-aligned values inside arrays and dictionaries.
        bodies.append([.byte(7), .array(of: "x", [.int64(-1), .int64(2)]), .byte(8), .array(of: "(yt)", [])])
        bodies.append([.string("a"), .dictionary(keySignature: "y", valueSignature: "d", [
            .init(key: .byte(1), value: .double(0.5)), .init(key: .byte(2), value: .double(-0.0))])])
        return bodies
    }

    @Test func whatWeWriteLibdbusAcceptsAndReadsAsMeant() throws {
        let destinations: [BusName?] = [nil, "io.tessera.Agent1", ":1.7"]
        let interfaces: [InterfaceName?] = [nil, "io.tessera.Agent1"]
        for body in Self.bodies {
            for destination in destinations {
                for interface in interfaces {
                    let prefix = Array("\0AUTH EXTERNAL 30\r\nBEGIN\r\n".utf8)
                    let bytes = try WireEncoder.methodCall(serial: 9, destination: destination, path: "/io/tessera/Agent1",
                                                           interface: interface, member: "GetToken", arguments: body,
                                                           appendingTo: prefix)
                    #expect(Array(bytes.prefix(prefix.count)) == prefix)
                    let message = try #require(Self.libdbusReading(Array(bytes.dropFirst(prefix.count))), "\(body)")
                    #expect(message.kind == .methodCall)
                    #expect(message.serial == 9)
                    #expect(message.path == "/io/tessera/Agent1")
                    #expect(message.interface == interface)
                    #expect(message.member == "GetToken")
                    #expect(message.destination == destination)
                    #expect(message.signature == body.signature)
                    #expect(try message.arguments() == body)
                }
            }
        }
    }

    @Test func whatLibdbusWritesWeReadAsLibdbusDoes() throws {
        for body in Self.bodies {
            let call = try Message.methodCall(destination: "io.tessera.Agent1", path: "/a/b", interface: "a.B", member: "M")
            try call.append(body)
            let read = try WireDecoder.message(try Self.libdbusBytes(call, serial: 3))
            #expect(read.type == WireHeader.methodCall)
            #expect(read.serial == 3)
            #expect(read.signature == body.signature.rawValue)
            #expect(try read.arguments() == body)

            let reply = try Message.methodReturn(to: ReplyContext(serial: 3, sender: ":1.9", expectsReply: true))
            try reply.append(body)
            let readReply = try WireDecoder.message(try Self.libdbusBytes(reply, serial: 4))
            #expect(readReply.type == WireHeader.methodReturn)
            #expect(readReply.replySerial == 3)
            #expect(try readReply.arguments() == body)
        }
        let error = try Message.error(to: ReplyContext(serial: 5, sender: nil, expectsReply: true),
                                      name: "io.tessera.Agent1.Error.NoSuchAccount", message: "no account “x”")
        let readError = try WireDecoder.message(try Self.libdbusBytes(error, serial: 6))
        #expect(readError.type == WireHeader.error)
        #expect(readError.replySerial == 5)
        #expect(readError.errorName == "io.tessera.Agent1.Error.NoSuchAccount")
        #expect(try readError.arguments() == [.string("no account “x”")])
    }

    /// libdbus writes only its own byte order; a big-endian sender's message, by hand.
    @Test func bigEndianMessagesAreRead() throws {
        let bytes: [UInt8] = [
            UInt8(ascii: "B"), 2, 0, 1, 0, 0, 0, 11, 0, 0, 0, 7, 0, 0, 0, 16,    // return, body 11, serial 7
            5, 1, UInt8(ascii: "u"), 0, 0, 0, 0, 2,                                // REPLY_SERIAL 2
            8, 1, UInt8(ascii: "g"), 0, 2, UInt8(ascii: "u"), UInt8(ascii: "s"), 0,  // SIGNATURE "us"
            0, 0, 0, 42, 0, 0, 0, 2, UInt8(ascii: "h"), UInt8(ascii: "i"), 0,      // 42, "hi"
        ]
        let message = try WireDecoder.message(bytes)
        #expect(message.replySerial == 2)
        #expect(try message.arguments() == [.uint32(42), .string("hi")])
        let libdbus = try #require(Self.libdbusReading(bytes))
        #expect(try libdbus.arguments() == [.uint32(42), .string("hi")])
    }

    /// Every truncation and thousands of corrupted copies of real messages: each is refused with
    /// an error or read exactly as libdbus reads it, never trapped on.
    @Test func corruptedMessagesAreRefusedOrReadAsLibdbusReadsThem() throws {
        // WIRE_FUZZ_SEED replays (or widens) a run; the default keeps CI deterministic.
        let seed = getenv("WIRE_FUZZ_SEED").flatMap { UInt64(String(cString: $0)) } ?? 0x7E55E7A
        var generator = SplitMix(seed: seed)
        var refused = 0, read = 0
        for body in Self.bodies.prefix(12) + [everyType] {
            let reply = try Message.methodReturn(to: ReplyContext(serial: 3, sender: ":1.9", expectsReply: true))
            try reply.append(body)
            let original = try Self.libdbusBytes(reply, serial: 4)
            for length in 0..<original.count {
                let cut = Array(original.prefix(length))
                #expect(throws: DBus.DBusError.self) { try WireDecoder.message(cut) }
            }
            for _ in 0..<3000 {
                var bytes = original
                for _ in 0..<(1 + Int(generator.next() % 3)) {
                    let index = Int(generator.next() % UInt64(bytes.count))
                    bytes[index] = generator.next() % 4 == 0 ? 0 : UInt8(truncatingIfNeeded: generator.next())
                }
                let ours: [DBusValue]?
                do throws(DBus.DBusError) {
                    let message = try WireDecoder.message(bytes)
                    ours = try message.arguments()
                } catch { ours = nil }
                guard let ours else { refused += 1; continue }
                read += 1
                let libdbus = try #require(Self.libdbusReading(bytes), "we read bytes libdbus refuses: \(bytes)")
                #expect(try libdbus.arguments() == ours)
            }
        }
        #expect(refused > 1000 && read > 100, "refused \(refused), read \(read)")
    }

    @Test func valuesThatCannotGoThisWayAreRefusedBeforeWriting() {
        #expect(throws: DBus.DBusError.self) {
            try WireEncoder.methodCall(serial: 1, destination: nil, path: "/", interface: nil, member: "M",
                                       arguments: [.string("nul\0inside")])
        }
        #expect(throws: DBus.DBusError.self) {
            try WireEncoder.methodCall(serial: 1, destination: nil, path: "/", interface: nil, member: "M",
                                       arguments: [.array(of: "s", [.int32(1)])])
        }
        #expect(throws: DBus.DBusError.self) {
            try WireEncoder.methodCall(serial: 1, destination: nil, path: "/", interface: nil, member: "M",
                                       arguments: [.variant(.unixFD(0))])
        }
    }
}

/// A small deterministic generator, so a failing corruption can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A peer socket whose other end is not a D-Bus server, or a broken one: the one-shot client
/// gets an error or falls back (nil), and never traps or hangs past its timeout.
@Suite struct HostilePeerTests {
    /// Listens at a fresh path, answers one client with `answer` (after reading its request), then
    /// closes; returns the path.
    private static func serve(_ answer: [UInt8]) throws -> String {
        let path = "/tmp/tessera-hostile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in for (i, b) in path.utf8.enumerated() { bytes[i] = b } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(listener, 1) == 0)
        let thread = Thread(answer: answer, listener: listener, path: path)
        thread.start()
        return path
    }

    private final class Thread: @unchecked Sendable {
        let answer: [UInt8], listener: Int32, path: String
        init(answer: [UInt8], listener: Int32, path: String) { (self.answer, self.listener, self.path) = (answer, listener, path) }
        func start() {
            var handle = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            pthread_create(&handle, nil, { context in
                let me = Unmanaged<Thread>.fromOpaque(context!).takeRetainedValue()
                let client = accept(me.listener, nil, nil)
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = recv(client, &buffer, buffer.count, 0)
                me.answer.withUnsafeBytes { _ = send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(client)
                close(me.listener)
                unlink(me.path)
                return nil
            }, context)
            pthread_detach(handle)
        }
    }

    private static func call(_ path: String) throws(DBus.DBusError) -> WireMessage? {
        let request = PipelinedRequest(destination: nil, path: "/io/tessera/Agent1", interface: nil, member: "GetToken",
                                       signature: "s", registering: false) { $0.string("wlcg") }
        return try OneShotCall.peerExchange(at: path, request, timeout: .seconds(5))
    }

    @Test func garbageAndBrokenAnswersAreErrorsOrAFallBack() throws {
        let ok = Array("OK 0123456789abcdef0123456789abcdef\r\n".utf8)
        // Refused, or gone before or right after authenticating: nothing to read, so fall back.
        #expect(try Self.call(try Self.serve(Array("REJECTED EXTERNAL\r\n".utf8))) == nil)
        #expect(try Self.call(try Self.serve([])) == nil)
        #expect(try Self.call(try Self.serve(ok)) == nil)
        // After OK: bytes that are no message, a length past the limit, or a whole message that
        // breaks the rules are errors; a message cut short by a hang-up is the bus fall-back.
        let errors: [[UInt8]] = [
            ok + Array(repeating: 0x41, count: 64),
            ok + [UInt8(ascii: "l"), 2, 0, 1, 0xFF, 0xFF, 0xFF, 0x7F, 1, 0, 0, 0, 0, 0, 0, 0],  // a 2 GiB body
            ok + [UInt8(ascii: "l"), 2, 0, 1, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  // no reply serial
        ]
        for answer in errors {
            let path = try Self.serve(answer)
            do throws(DBus.DBusError) {
                let reply = try Self.call(path)
                Issue.record("\(answer.count) bytes were read as \(String(describing: reply))")
            } catch {
                guard case .invalidValue(let why) = error else { Issue.record("\(error)"); continue }
                #expect(why.contains("malformed") || why.contains("exceeds"), "\(why)")
            }
        }
        let cutShort = ok + [UInt8(ascii: "l"), 2, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 5, 1, UInt8(ascii: "u"), 0, 2, 0, 0]
        #expect(try Self.call(try Self.serve(cutShort)) == nil)
    }
}
