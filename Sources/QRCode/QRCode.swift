/// What can go wrong turning text into a QR code.
public enum QRCodeError: Error, Equatable, CustomStringConvertible {
    /// There is nothing to encode.
    case emptyText
    /// The text does not fit in the largest symbol (version 40) at the chosen correction level.
    case textTooLong(bytes: Int)

    public var description: String {
        switch self {
        case .emptyText:
            "cannot make a QR code of empty text"
        case .textTooLong(let bytes):
            "the text (\(bytes) bytes) is too long for a QR code; use a shorter URI or a lower correction level"
        }
    }
}

/// A QR code symbol: a square of dark and light modules, without the quiet zone.
///
/// A plain value (built by `QREncoder`, no C library), so it can be shared across threads.
public struct QRCode: Sendable, Equatable {
    /// Error correction level: how much of the symbol may be damaged and still read.
    public enum Correction: Sendable {
        case low, medium, quartile, high
    }

    /// Modules per side (21 for version 1, +4 per version).
    public let size: Int
    /// The symbol version (1...40) chosen for the text.
    public let version: Int
    /// Row-major, `true` for a dark module.
    private let modules: [Bool]

    /// Encodes the UTF-8 bytes of `text` in byte mode, choosing the smallest version that fits.
    /// Text beyond ASCII gets an ECI header declaring UTF-8, because readers otherwise guess the
    /// charset (zbar guesses Shift-JIS).
    public init(_ text: String, correction: Correction = .medium) throws(QRCodeError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .emptyText }
        let utf8ECI: UInt8 = 26
        let eci = bytes.contains(where: { $0 >= 0x80 }) ? utf8ECI : nil
        guard let symbol = QREncoder.encode(bytes, eci: eci, correction: correction) else {
            throw .textTooLong(bytes: bytes.count)
        }
        self.size = symbol.size
        self.version = symbol.version
        self.modules = symbol.modules
    }

    /// Whether the module at (`row`, `column`) is dark; outside the symbol (the quiet zone) is light.
    public subscript(row: Int, column: Int) -> Bool {
        guard (0..<size).contains(row), (0..<size).contains(column) else { return false }
        return modules[row * size + column]
    }

    /// The symbol as lines of Unicode half blocks, two module rows per text line, with a light
    /// quiet zone of `quietZone` modules around it.
    ///
    /// With `ansiColors` (the default) every line sets black on bright white explicitly, so the
    /// code reads the same on dark and light terminal themes; without, dark modules are drawn as
    /// blocks, which suits a light background only.
    public func terminalRendering(quietZone: Int = 2, ansiColors: Bool = true) -> String {
        let margin = max(0, quietZone)
        let range = -margin..<(size + margin)
        var out = ""
        for top in stride(from: range.lowerBound, to: range.upperBound, by: 2) {
            if ansiColors { out += "\u{1B}[30;107m" }
            for column in range {
                let upper = self[top, column]
                let lower = top + 1 < range.upperBound ? self[top + 1, column] : false
                let glyph: String = switch (upper, lower) {
                case (false, false): " "
                case (true, false): "\u{2580}"
                case (false, true): "\u{2584}"
                case (true, true): "\u{2588}"
                }
                out += glyph
            }
            if ansiColors { out += "\u{1B}[0m" }
            out += "\n"
        }
        return out
    }

    /// The symbol as an 8-bit RGBA raster (dark modules black, light ones white, fully opaque),
    /// each module `scale` pixels square, with a quiet zone of `quietZone` modules.
    ///
    /// The layout is the one the notification spec's `image-data` hint (`iiibiiay`) expects.
    public func image(scale: Int = 4, quietZone: Int = 4) -> RGBAImage {
        let scale = max(1, scale)
        let margin = max(0, quietZone)
        let side = (size + 2 * margin) * scale
        let rowstride = side * RGBAImage.channels
        var pixels = [UInt8](repeating: 0xFF, count: rowstride * side)
        for row in 0..<size {
            for column in 0..<size where self[row, column] {
                let x0 = (column + margin) * scale, y0 = (row + margin) * scale
                for y in y0..<(y0 + scale) {
                    for x in x0..<(x0 + scale) {
                        let offset = y * rowstride + x * RGBAImage.channels
                        pixels[offset] = 0
                        pixels[offset + 1] = 0
                        pixels[offset + 2] = 0
                    }
                }
            }
        }
        return RGBAImage(width: side, height: side, rowstride: rowstride, pixels: pixels)
    }
}

/// An 8-bit-per-sample RGBA raster, rows `rowstride` bytes apart.
public struct RGBAImage: Sendable, Equatable {
    public static let channels = 4
    public static let bitsPerSample = 8
    public let width: Int
    public let height: Int
    public let rowstride: Int
    public let hasAlpha = true
    public let pixels: [UInt8]

    /// The (r, g, b, a) of the pixel at (`x`, `y`).
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8) {
        let offset = y * rowstride + x * Self.channels
        return (pixels[offset], pixels[offset + 1], pixels[offset + 2], pixels[offset + 3])
    }

    /// The raster as a binary PGM (P5) file, for tools such as `zbarimg`.
    public func portableGraymap() -> [UInt8] {
        var out = Array("P5\n\(width) \(height)\n255\n".utf8)
        out.reserveCapacity(out.count + width * height)
        for y in 0..<height {
            for x in 0..<width { out.append(pixels[y * rowstride + x * Self.channels]) }
        }
        return out
    }
}
