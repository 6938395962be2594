// The few string operations the service needs that only full Foundation has (the standard
// library's `replacing(_:with:)`, `firstRange(of:)` and `split` cover the rest).

extension StringProtocol {
    /// The text without leading and trailing whitespace, newlines included (what Foundation's
    /// `trimmingCharacters(in: .whitespacesAndNewlines)` did).
    public func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
              let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}

extension Unicode.Scalar {
    /// Control and format characters (general categories Cc and Cf: what Foundation's
    /// `CharacterSet.controlCharacters` holds), which never belong in a message.
    public var isControlOrFormat: Bool {
        switch properties.generalCategory {
        case .control, .format: true
        default: false
        }
    }

    /// ASCII letters and digits.
    public var isASCIIAlphanumeric: Bool {
        switch value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        default: false
        }
    }
}

enum Hex {
    /// Two uppercase hex digits.
    static func byte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
