import OIDC
import Secrets

/// One answer, in the shapes oidc-agent's clients parse (`status` first; the C client decides
/// failure only by the presence of `error`). Tokens are `Secret`s until `json` writes them
/// into a buffer that is wiped after encryption.
public enum AgentReply: Sendable, Equatable, CustomStringConvertible {
    case accessToken(Secret, issuer: String, expiresAt: Int64)
    case idToken(Secret, issuer: String)
    /// `check`.
    case success
    /// `loaded_accounts`.
    case loadedAccounts([String])
    /// `account_info`: issuer → account names.
    case accountInfo([(issuer: String, accounts: [String])])
    /// `error` is printed by `oidc-token` as `Error: <error>`, `info` after it.
    case failure(error: String, info: String?)

    /// oidc-agent's answer to a request type it does not know.
    public static let unknownRequest = AgentReply.failure(error: "Bad Request: Unknown request type.", info: nil)

    public static func == (lhs: AgentReply, rhs: AgentReply) -> Bool {
        switch (lhs, rhs) {
        case let (.accessToken(a, i, e), .accessToken(b, j, f)): a == b && i == j && e == f
        case let (.idToken(a, i), .idToken(b, j)): a == b && i == j
        case (.success, .success): true
        case let (.loadedAccounts(a), .loadedAccounts(b)): a == b
        case let (.accountInfo(a), .accountInfo(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.issuer == $1.issuer && $0.accounts == $1.accounts }
        case let (.failure(a, i), .failure(b, j)): a == b && i == j
        default: false
        }
    }

    public var description: String {
        switch self {
        case .accessToken(_, let issuer, let expiresAt): "access token of \(issuer), expires at \(expiresAt)"
        case .idToken(_, let issuer): "ID token of \(issuer)"
        case .success: "success"
        case .loadedAccounts(let names): "\(names.count) account(s)"
        case .accountInfo(let issuers): "\(issuers.count) issuer(s)"
        case .failure(let error, _): "failure: \(error)"
        }
    }

    /// The reply's JSON, in a buffer wiped when released.
    public var json: SecretBytes {
        var writer = JSONWriter()
        switch self {
        case .accessToken(let token, let issuer, let expiresAt):
            writer.member("status", "success")
            writer.member("access_token", token.reveal())
            writer.member("issuer", issuer)
            writer.member("expires_at", raw: String(expiresAt))
        case .idToken(let token, let issuer):
            writer.member("status", "success")
            writer.member("id_token", token.reveal())
            writer.member("issuer", issuer)
        case .success:
            writer.member("status", "success")
        case .loadedAccounts(let names):
            writer.member("status", "success")
            writer.key("info")
            writer.array(names)
        case .accountInfo(let issuers):
            writer.member("status", "success")
            writer.key("info")
            writer.open()
            for entry in issuers {
                writer.key(entry.issuer)
                writer.open()
                writer.member("pubclient", raw: "false")
                writer.key("accounts")
                writer.open()
                for name in entry.accounts { writer.member(name, raw: "true") }
                writer.close()
                writer.close()
            }
            writer.close()
        case .failure(let error, let info):
            writer.member("status", "failure")
            writer.member("error", error)
            if let info { writer.member("info", info) }
        }
        return writer.finish()
    }
}

/// A minimal JSON object writer with a fixed member order, writing straight into bytes so a token
/// passes through one buffer that is wiped afterwards (no intermediate `String` of the reply).
struct JSONWriter {
    /// Reserved up front so a token is not left behind in buffers the array outgrew.
    private var bytes: [UInt8] = {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 * 1024)
        bytes.append(UInt8(ascii: "{"))
        return bytes
    }()
    /// Per open object: whether it has a member yet.
    private var hasMember: [Bool] = [false]

    mutating func key(_ name: String) {
        if hasMember[hasMember.count - 1] { bytes.append(UInt8(ascii: ",")) }
        hasMember[hasMember.count - 1] = true
        string(name)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func member(_ name: String, _ value: String) {
        key(name)
        string(value)
    }

    mutating func member(_ name: String, raw: String) {
        key(name)
        bytes += raw.utf8
    }

    mutating func array(_ values: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(value)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func open() {
        bytes.append(UInt8(ascii: "{"))
        hasMember.append(false)
    }

    mutating func close() {
        bytes.append(UInt8(ascii: "}"))
        hasMember.removeLast()
    }

    private mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                          hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The finished object in a wiped-on-release buffer; the working array is wiped here.
    mutating func finish() -> SecretBytes {
        while hasMember.count > 1 { close() }
        bytes.append(UInt8(ascii: "}"))
        let result = SecretBytes(copying: bytes)
        bytes.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
        return result
    }
}
