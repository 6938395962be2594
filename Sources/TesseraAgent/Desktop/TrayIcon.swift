import DBus
import TesseraCore

/// An opaque RGB colour of the tray icon.
public struct TrayColour: Sendable, Hashable {
    public var red: UInt8, green: UInt8, blue: UInt8
    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) { self.red = red; self.green = green; self.blue = blue }
}

/// One size of the icon as StatusNotifierItem wants it: ARGB32, in network (big-endian) byte order.
public struct TrayPixmap: Sendable, Hashable {
    public let width: Int
    public let height: Int
    /// `width * height * 4` bytes, A R G B per pixel, row by row.
    public let argb: [UInt8]

    /// The `(iiay)` struct of an `a(iiay)` pixmap property.
    public var dbusValue: DBusValue {
        .structure([.int32(Int32(width)), .int32(Int32(height)), .array(of: "y", argb.map { .byte($0) })])
    }

    /// The colour at (x, y), nil where transparent.
    public func colour(x: Int, y: Int) -> TrayColour? {
        let offset = (y * width + x) * 4
        guard argb[offset] != 0 else { return nil }
        return TrayColour(argb[offset + 1], argb[offset + 2], argb[offset + 3])
    }
}

/// The tray icon, drawn in code so it needs no installed theme: four rounded tiles in a 2×2
/// mosaic (a tessera is a mosaic tile). When an account needs a login the lower right tile turns
/// orange, which reads as "something to do" on light and dark panels alike.
public enum TrayIcon {
    /// A teal unlikely to occur in panel themes, so tests can find the icon on a screenshot.
    public static let tileColour = TrayColour(0x13, 0xB5, 0x9F)
    public static let attentionColour = TrayColour(0xFF, 0x6A, 0x00)
    /// 22 px is what a 32 px panel draws; 32 px serves larger panels and HiDPI hosts.
    public static let sizes = [22, 32]

    /// `IconPixmap` (or `AttentionIconPixmap`): every size, smallest first.
    public static func pixmaps(attention: Bool) -> [TrayPixmap] {
        sizes.map { pixmap(size: $0, attention: attention) }
    }

    public static func dbusValue(_ pixmaps: [TrayPixmap]) -> DBusValue {
        .array(of: "(iiay)", pixmaps.map(\.dbusValue))
    }

    public static func pixmap(size: Int, attention: Bool) -> TrayPixmap {
        // Margins and gap scale with the size but never vanish, so the four tiles stay apart at 22 px.
        let margin = max(1, size / 16)
        let gap = max(2, size / 11)
        let tile = (size - 2 * margin - gap) / 2
        let radius = max(1, tile / 4)
        var argb = [UInt8](repeating: 0, count: size * size * 4)
        for row in 0..<2 {
            for column in 0..<2 {
                let colour = attention && row == 1 && column == 1 ? attentionColour : tileColour
                let left = margin + column * (tile + gap), top = margin + row * (tile + gap)
                for y in 0..<tile {
                    for x in 0..<tile where insideRoundedSquare(x: x, y: y, side: tile, radius: radius) {
                        let offset = ((top + y) * size + left + x) * 4
                        argb[offset] = 0xFF
                        argb[offset + 1] = colour.red
                        argb[offset + 2] = colour.green
                        argb[offset + 3] = colour.blue
                    }
                }
            }
        }
        return TrayPixmap(width: size, height: size, argb: argb)
    }

    /// Whether the pixel's centre lies inside a square of `side` with corners rounded by `radius`.
    private static func insideRoundedSquare(x: Int, y: Int, side: Int, radius: Int) -> Bool {
        // Work in doubled coordinates so pixel centres (x + 0.5) stay integers.
        let px = 2 * x + 1, py = 2 * y + 1, r = 2 * radius, s = 2 * side
        let cx = px < r ? r : (px > s - r ? s - r : px)
        let cy = py < r ? r : (py > s - r ? s - r : py)
        let dx = px - cx, dy = py - cy
        return dx * dx + dy * dy <= r * r
    }
}
