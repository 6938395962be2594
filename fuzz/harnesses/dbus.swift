// The D-Bus value decoder: whole messages (raw wire bytes, or a method call header built here
// around a fuzzed body and signature) go through libdbus's own validation, then
// `Message.arguments()`, every decoder of the contract (the service's option dictionaries and
// the CLI's reply bodies), the agent's validators, and a re-marshalling round trip.
import CDBus
@testable import DBus
import Foundation
import TesseraAPI
@testable import TesseraCore

/// Signatures the service and the CLI actually read; the fuzzer picks one or writes its own.
let signatures = ["sa{sv}", "s", "ss", "", "a{sv}", "iias", "aias", "is", "ai", "uu", "sv", "ssv",
                  "sxa{sv}", "oa{sv}", "a(sa{sv})", "(sa{sv})", "v", "av", "a{ss}", "asas", "h", "sh"]

/// A little-endian method call to the agent with `signature` and `body` (D-Bus spec, "Message Format").
func methodCall(signature: [UInt8], body: [UInt8]) -> [UInt8] {
    var message: [UInt8] = [UInt8(ascii: "l"), 1, 0, 1]
    func u32(_ value: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(value).littleEndian, Array.init) }
    func pad(_ bytes: inout [UInt8], to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
    var fields: [UInt8] = []
    func stringField(_ code: UInt8, _ type: Character, _ text: String) {
        pad(&fields, to: 8)
        fields += [code, 1, UInt8(ascii: type.unicodeScalars.first!), 0]
        fields += u32(text.utf8.count) + Array(text.utf8) + [0]
    }
    stringField(1, "o", "/io/tessera/Agent1")
    stringField(2, "s", "io.tessera.Agent1")
    stringField(3, "s", "GetToken")
    if !signature.isEmpty {
        pad(&fields, to: 8)
        fields += [8, 1, UInt8(ascii: "g"), 0, UInt8(signature.count)] + signature + [0]
    }
    message += u32(body.count) + u32(1) + u32(fields.count) + fields
    pad(&message, to: 8)
    return message + body
}

func exercise(_ values: [DBusValue]) {
    _ = values.signature
    for value in values {
        _ = value.description
        _ = value.unwrappedVariant
        _ = try? value.validate()
    }
    // What the agent's method handlers decode.
    if let (text, options) = try? values.decode(String.self, [String: Variant].self) {
        _ = try? Validate.accountName(text)
        _ = try? Validate.serverURL(text, field: "issuer")
        _ = try? GetTokenOptions(dbusOptions: options)
        _ = try? DeviceFlowOptions(dbusOptions: options)
        _ = try? RevokeOptions(dbusOptions: options)
        _ = try? RemoveAccountOptions(dbusOptions: options)
        _ = try? PasswordLoginOptions(dbusOptions: options)
        _ = try? BrowserLoginOptions(dbusOptions: options)
        _ = try? CreateMytokenRequest(dbusOptions: options)
        _ = try? MytokenTokenOptions(dbusOptions: options)
        _ = try? MytokenServerOptions(dbusOptions: options, allowRecursive: true)
        if let message = try? AccountSettingsMessage(dbusOptions: options) { _ = message }
    }
    // The tray menu's and the notification server's arguments.
    _ = try? values.decode(Int32.self, Int32.self, [String].self)
    _ = try? values.decode([Int32].self, [String].self)
    _ = try? values.decode(Int32.self, String.self)
    _ = try? values.decode([Int32].self)
    _ = try? values.decode(UInt32.self, String.self)
    _ = try? values.decode(UInt32.self, UInt32.self)
    _ = try? values.decode([String].self)
    // What the CLI decodes from the service's answers.
    _ = try? TokenReply(body: values)
    _ = try? DeviceFlowReply(body: values)
    _ = try? BrowserLoginReply(body: values)
    _ = try? MytokenReply(body: values)
    _ = try? AccountInfo.list(body: values)
}

func carriesFD(_ value: DBusValue) -> Bool {
    switch value {
    case .unixFD: true
    case .array(_, let values), .structure(let values): values.contains(where: carriesFD)
    case .dictionary(_, _, let entries): entries.contains { carriesFD($0.key) || carriesFD($0.value) }
    case .variant(let inner): carriesFD(inner)
    default: false
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDBus(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzBytes(data, size)
    let choice = input.byte()
    var wire: [UInt8]
    if choice == UInt8(ascii: "l") || choice == UInt8(ascii: "B") {
        wire = [choice] + input.restBytes  // a whole message as it would arrive
    } else if choice >= 0xF0 {
        let length = Int(input.byte() % 32)
        var signature: [UInt8] = []
        for _ in 0..<length { signature.append(input.byte()) }
        wire = methodCall(signature: signature, body: input.restBytes)
    } else {
        wire = methodCall(signature: Array(signatures[Int(choice) % signatures.count].utf8), body: input.restBytes)
    }
    var error = CDBus.DBusError()
    dbus_error_init(&error)
    defer { dbus_error_free(&error) }
    guard let raw = wire.withUnsafeMutableBytes({ buffer in
        buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
            dbus_message_demarshal($0, Int32(buffer.count), &error)
        }
    }) else { return 0 }  // libdbus refused it: the service never sees it.
    let message = Message(takingOwnership: raw)
    guard let values = try? message.arguments() else { return 0 }
    // The decoder must agree with libdbus about the body's type.
    precondition(values.signature == message.signature,
                 "decoded \(values.signature) from a body of signature \(message.signature)")
    exercise(values)
    // A body we received must marshal again to the same values (fds aside: they were never sent).
    if !values.contains(where: carriesFD) {
        if let copy = try? Message.methodCall(destination: nil, path: "/a", interface: nil, member: "M") {
            do {
                try copy.append(values)
                let again = try copy.arguments()
                precondition(again.description == values.description && again.signature == values.signature,
                             "re-marshalled body differs")
            } catch {
                preconditionFailure("a received body does not marshal again: \(error)")
            }
        }
    }
    return 0
}
