import Testing
@testable import DBus

/// Marshalling through a real libdbus message (no bus needed): append with DBusMessageIter, read back.
private func roundTrip(_ values: [DBusValue]) throws -> [DBusValue] {
    let message = try Message.methodCall(destination: nil, path: "/t", interface: "t.T", member: "M")
    try message.append(values)
    #expect(message.signature == values.signature)
    return try message.arguments()
}

/// One value of every type, including containers and nesting.
let everyType: [DBusValue] = [
    .byte(0xFF), .bool(true), .bool(false), .int16(-32768), .uint16(65535), .int32(Int32.min), .uint32(UInt32.max),
    .int64(Int64.min), .uint64(UInt64.max), .double(-1.5e300), .string(""), .string("grüße ✓ 🔑"),
    .objectPath("/io/tessera/Agent1"), .signature("a{sv}"),
    .array(of: "s", []), .array(of: "i", [.int32(1), .int32(2)]),
    .dictionary(keySignature: "s", valueSignature: "v", []),
    .dictionary(["a": .int32(1), "b": .string("x"), "c": .array(of: "s", [.string("y")])]),
    .dictionary(keySignature: "u", valueSignature: "ay", [.init(key: .uint32(7), value: .array(of: "y", [.byte(1)]))]),
    .structure([.string("s"), .int64(1), .variant(.bool(true))]),
    .variant(.variant(.objectPath("/"))),
    .array(of: "(sa{sv})", [.structure([.string("acct"), .dictionary(["issuer": .string("https://x")])])]),
]

/// Arrays and structs nested 31 deep and variants 60 deep: as deep as libdbus takes them.
let deeplyNested: [DBusValue] = {
    var arrays = DBusValue.int32(42)
    for _ in 0..<31 { arrays = .array(elementSignature: arrays.signature, [arrays]) }
    var structs = DBusValue.string("deep")
    for _ in 0..<31 { structs = .structure([structs]) }
    var variants = DBusValue.uint16(1)
    for _ in 0..<60 { variants = .variant(variants) }
    return [arrays, structs, variants]
}()

@Suite struct ValueTests {
    @Test func everyTypeRoundTripsThroughAMessage() throws {
        #expect(try roundTrip(everyType) == everyType)
    }

    @Test func signaturesAreComputed() {
        #expect(DBusValue.dictionary(["a": .int32(1)]).signature == "a{sv}")
        #expect(DBusValue.structure([.int32(1), .array(of: "s", [])]).signature == "(ias)")
        #expect(everyType.signature.completeTypes.count == everyType.count)
        #expect([String: Variant].dbusSignature == "a{sv}")
        #expect([[String]].dbusSignature == "aas")
        #expect([UInt32: [ObjectPath]].dbusSignature == "a{uao}")
    }

    @Test func deepNestingRoundTrips() throws {
        #expect(try roundTrip(deeplyNested) == deeplyNested)
    }

    @Test func tooDeepNestingIsAnErrorNotAnAbort() throws {
        var arrays = DBusValue.int32(42)
        for _ in 0..<33 { arrays = .array(elementSignature: Signature(unchecked: "a" + arrays.signatureString), [arrays]) }
        #expect(throws: DBusError.self) { try roundTrip([arrays]) }
    }

    @Test func swiftConversionsRoundTrip() throws {
        let options: [String: Variant] = ["scopes": Variant(["openid", "profile"]), "min-valid": Variant(UInt32(60)),
                                          "force": Variant(true)]
        let values: [DBusValue] = ["account".dbusValue, options.dbusValue, Int64(-5).dbusValue, 2.5.dbusValue,
                                   [UInt8(1), 2].dbusValue, (["k": "v"] as [String: String]).dbusValue,
                                   ObjectPath("/x").dbusValue, Int.max.dbusValue, Int16(3).dbusValue, UInt64(9).dbusValue]
        let back = try roundTrip(values)
        let (account, decoded, x, d, bytes, strings, path, int, n, t) = try back.decode(
            String.self, [String: Variant].self, Int64.self, Double.self, [UInt8].self, [String: String].self,
            ObjectPath.self, Int.self, Int16.self, UInt64.self)
        #expect(account == "account")
        #expect(try decoded.value("scopes", as: [String].self) == ["openid", "profile"])
        #expect(try decoded.value("min-valid", as: UInt32.self) == 60)
        #expect(try decoded.value("force", as: Bool.self) == true)
        #expect(try decoded.value("absent", as: Bool.self) == nil)
        #expect(x == -5 && d == 2.5 && bytes == [1, 2] && strings == ["k": "v"] && path == "/x")
        #expect(int == Int.max && n == 3 && t == 9)
    }

    @Test func variantHoldingTheWrongTypeIsAClearError() throws {
        let options = try roundTrip([DBusValue.dictionary(["min-valid": .string("sixty")])])[0]
        let decoded = try [String: Variant](dbusValue: options)
        #expect {
            try decoded.value("min-valid", as: UInt32.self)
        } throws: { error in
            "\(error)" == "option 'min-valid': expected D-Bus type 'u', got 's'"
        }
        #expect(throws: DBusError.self) { try decoded["min-valid"]!.get(Bool.self) }
    }

    @Test func decodeChecksCountAndTypes() {
        let values: [DBusValue] = [.string("a"), .int32(1)]
        #expect(throws: DBusError.self) { try values.decode(String.self) }
        #expect(throws: DBusError.self) { try values.decode(String.self, UInt32.self) }
        #expect(throws: DBusError.self) { try [String](dbusValue: .array(of: "i", [])) }
    }

    @Test func malformedValuesThrowBeforeReachingLibdbus() {
        let malformed: [DBusValue] = [
            .string("nul\u{0}inside"),
            .array(of: "s", [.int32(1)]),
            .array(elementSignature: Signature(unchecked: "ss"), []),
            .dictionary(keySignature: "v", valueSignature: "s", []),
            .dictionary(keySignature: "s", valueSignature: "s", [.init(key: .string("k"), value: .int32(1))]),
            .structure([]),
        ]
        for value in malformed {
            #expect(throws: DBusError.self, "\(value)") { try roundTrip([value]) }
        }
    }

    @Test func oversizedStringIsRejected() throws {
        let big = String(decoding: [UInt8](repeating: 120, count: DBusLimits.maximumMessageLength), as: UTF8.self)
        #expect(throws: DBusError.self) { try roundTrip([.string(big)]) }
        let arrays = DBusValue.array(of: "s", Array(repeating: .string(String(decoding: [UInt8](repeating: 121, count: 1 << 20), as: UTF8.self)), count: 70))
        #expect(throws: DBusError.self) { try roundTrip([arrays]) }
    }
}
