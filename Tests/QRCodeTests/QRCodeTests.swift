import Foundation
import QRCode
import Testing

@Suite struct QRCodeTests {
    static let uri = "http://127.0.0.1:8000/o/device/?user_code=WDJB-MJHT"

    /// A 7×7 finder pattern: dark ring, light ring, dark 3×3 centre.
    func hasFinderPattern(_ code: QRCode, row: Int, column: Int) -> Bool {
        for dy in 0..<7 {
            for dx in 0..<7 {
                let ring = max(abs(dy - 3), abs(dx - 3))
                let expectedDark = ring != 2
                if code[row + dy, column + dx] != expectedDark { return false }
            }
        }
        return true
    }

    @Test func dimensionsFollowTheVersion() throws {
        let code = try QRCode(Self.uri)
        #expect(code.size == 17 + 4 * code.version)
        #expect((1...40).contains(code.version))
        let short = try QRCode("A", correction: .low)
        #expect(short.version == 1)
        #expect(short.size == 21)
    }

    @Test func finderPatternsSitInThreeCorners() throws {
        let code = try QRCode(Self.uri)
        #expect(hasFinderPattern(code, row: 0, column: 0))
        #expect(hasFinderPattern(code, row: 0, column: code.size - 7))
        #expect(hasFinderPattern(code, row: code.size - 7, column: 0))
        #expect(!hasFinderPattern(code, row: code.size - 7, column: code.size - 7))
    }

    @Test func outsideTheSymbolIsLight() throws {
        let code = try QRCode(Self.uri)
        #expect(!code[-1, 0])
        #expect(!code[0, code.size])
        #expect(code[0, 0])
    }

    @Test func outputIsDeterministic() throws {
        #expect(try QRCode(Self.uri) == QRCode(Self.uri))
        #expect(try QRCode(Self.uri) != QRCode(Self.uri + "X"))
        #expect(try QRCode(Self.uri, correction: .high).version >= QRCode(Self.uri, correction: .low).version)
    }

    @Test func emptyAndOversizedTextAreTypedErrors() {
        #expect(throws: QRCodeError.emptyText) { try QRCode("") }
        let huge = String(repeating: "x", count: 4000)
        #expect(throws: QRCodeError.textTooLong(bytes: 4000)) { try QRCode(huge, correction: .high) }
    }

    @Test func terminalRenderingHasQuietZoneAndHalfBlocks() throws {
        let code = try QRCode(Self.uri)
        let plain = code.terminalRendering(quietZone: 2, ansiColors: false)
        let lines = plain.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let side = code.size + 4
        #expect(lines.count == (side + 1) / 2)
        #expect(lines.allSatisfy { $0.count == side })
        // The first text line holds the quiet zone's two rows: all light.
        #expect(lines.first.map { $0.allSatisfy { $0 == " " } } == true)
        // Second line: the finder's full top row over its hollow second row.
        #expect(lines[1].dropFirst(2).prefix(7) == "█▀▀▀▀▀█")
        // With an odd quiet zone the finder's top edge falls in the lower half of the first line.
        let odd = code.terminalRendering(quietZone: 1, ansiColors: false)
        #expect(odd.split(separator: "\n").first?.prefix(8) == " ▄▄▄▄▄▄▄")
        // Left and right columns are quiet zone on every line.
        #expect(lines.allSatisfy { $0.first == " " && $0.last == " " })

        let colored = code.terminalRendering()
        let coloredLines = colored.split(separator: "\n")
        #expect(coloredLines.allSatisfy { $0.hasPrefix("\u{1B}[30;107m") && $0.hasSuffix("\u{1B}[0m") })
    }

    @Test func imageIsRGBAWithScaleAndQuietZone() throws {
        let code = try QRCode(Self.uri)
        let image = code.image(scale: 3, quietZone: 4)
        let side = (code.size + 8) * 3
        #expect(image.width == side && image.height == side)
        #expect(image.rowstride == side * 4)
        #expect(image.pixels.count == image.rowstride * side)
        #expect(image.hasAlpha && RGBAImage.channels == 4 && RGBAImage.bitsPerSample == 8)
        let corner = image.pixel(x: 0, y: 0)
        #expect(corner == (255, 255, 255, 255))
        // The finder's top-left module starts right after the 4-module quiet zone.
        let firstDark = image.pixel(x: 12, y: 12)
        #expect(firstDark == (0, 0, 0, 255))
        #expect(image.pixel(x: 11, y: 12) == (255, 255, 255, 255))
    }

    /// Round trip through an independent decoder (zbar), when it is installed.
    @Test func zbarDecodesTheImage() throws {
        let text = Self.uri + "&é"
        #expect(try zbarRead(QRCode(text)) == text)
    }

    /// Every correction level from version 1 to large multi-block symbols (with version information
    /// from version 7 on and short/long block interleaving), read back by zbar.
    @Test(arguments: [QRCode.Correction.low, .medium, .quartile, .high])
    func zbarDecodesEveryLevelAndSize(correction: QRCode.Correction) throws {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#[]@!$&'()*+,;=%")
        var versions: Set<Int> = []
        for length in [1, 9, 17, 33, 60, 106, 150, 250, 400, 650, 900] {
            let text = String((0..<length).map { alphabet[($0 * 7 + length) % alphabet.count] })
            let code = try QRCode(text, correction: correction)
            versions.insert(code.version)
            guard let read = try zbarRead(code) else { return }
            #expect(read == text, "length \(length), version \(code.version)")
        }
        #expect(versions.contains { $0 >= 7 } && versions.contains(1))
    }

    /// What zbarimg reads from the symbol's image; nil when zbar is not installed (outside CI).
    func zbarRead(_ code: QRCode) throws -> String? {
        let zbar = "/usr/bin/zbarimg"
        guard FileManager.default.isExecutableFile(atPath: zbar) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("zbarimg is not installed (scripts/deps.sh installs zbar-tools)")
            }
            return nil
        }
        let image = code.image(scale: 4)
        let path = NSTemporaryDirectory() + "tessera-qr-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pgm"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(image.portableGraymap()).write(to: URL(fileURLWithPath: path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: zbar)
        process.arguments = ["--quiet", "--raw", path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
    }
}
