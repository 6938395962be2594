/// The QR code model 2 encoder (ISO/IEC 18004): byte mode, an optional ECI header, Reed–Solomon
/// error correction, module placement and mask choice by the standard's penalty rules.
///
/// Written in Swift rather than linking libqrencode because Debian ships libqrencode only as a
/// shared library, and `tessera` is linked as a fully static executable (README, Performance).
enum QREncoder {
    struct Symbol {
        var version: Int
        var size: Int
        var modules: [Bool]
    }

    /// The smallest symbol at `correction` that holds `bytes`, or nil when even version 40 is too
    /// small.
    static func encode(_ bytes: [UInt8], eci: UInt8?, correction: QRCode.Correction) -> Symbol? {
        let eciBits = eci == nil ? 0 : 4 + 8
        guard let version = (1...40).first(where: { version in
            let countBits = version <= 9 ? 8 : 16
            guard bytes.count < 1 << countBits else { return false }
            return eciBits + 4 + countBits + 8 * bytes.count <= 8 * dataCodewords(version, correction)
        }) else { return nil }

        var bits = BitBuffer()
        if let eci {
            bits.append(0b0111, count: 4)
            bits.append(Int(eci), count: 8)
        }
        bits.append(0b0100, count: 4)
        bits.append(bytes.count, count: version <= 9 ? 8 : 16)
        for byte in bytes { bits.append(Int(byte), count: 8) }
        let capacity = 8 * dataCodewords(version, correction)
        bits.append(0, count: min(4, capacity - bits.count))
        bits.append(0, count: (8 - bits.count % 8) % 8)
        var data = bits.bytes
        var pad: UInt8 = 0xEC
        while data.count * 8 < capacity {
            data.append(pad)
            pad ^= 0xEC ^ 0x11
        }

        var grid = Grid(version: version)
        grid.drawFunctionPatterns()
        grid.drawCodewords(interleaved(data, version: version, correction: correction))
        grid.applyBestMask(correction: correction)
        return Symbol(version: version, size: grid.size, modules: grid.modules)
    }

    // MARK: Capacity

    /// Error correction codewords per block, indexed [level][version].
    private static let eccPerBlock: [[Int]] = [
        [-1, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
        [-1, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
        [-1, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
    ]
    /// Error correction blocks, indexed [level][version].
    private static let blockCount: [[Int]] = [
        [-1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
        [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
        [-1, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
        [-1, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
    ]

    private static func levelIndex(_ correction: QRCode.Correction) -> Int {
        switch correction {
        case .low: 0
        case .medium: 1
        case .quartile: 2
        case .high: 3
        }
    }

    /// Modules left for data and error correction once the function patterns are placed.
    static func rawDataModules(_ version: Int) -> Int {
        var modules = (16 * version + 128) * version + 64
        if version >= 2 {
            let alignments = version / 7 + 2
            modules -= (25 * alignments - 10) * alignments - 55
            if version >= 7 { modules -= 36 }
        }
        return modules
    }

    static func dataCodewords(_ version: Int, _ correction: QRCode.Correction) -> Int {
        let level = levelIndex(correction)
        return rawDataModules(version) / 8 - eccPerBlock[level][version] * blockCount[level][version]
    }

    // MARK: Error correction

    /// Splits the data into blocks, appends each block's Reed–Solomon codewords and interleaves
    /// them column by column, as the standard orders them in the symbol.
    private static func interleaved(_ data: [UInt8], version: Int, correction: QRCode.Correction) -> [UInt8] {
        let level = levelIndex(correction)
        let blocks = blockCount[level][version], eccLength = eccPerBlock[level][version]
        let raw = rawDataModules(version) / 8
        let shortBlocks = blocks - raw % blocks
        let shortLength = raw / blocks
        let divisor = ReedSolomon.divisor(degree: eccLength)
        var split: [[UInt8]] = []
        var start = 0
        for index in 0..<blocks {
            let dataLength = shortLength - eccLength + (index < shortBlocks ? 0 : 1)
            var block = Array(data[start..<(start + dataLength)])
            start += dataLength
            let ecc = ReedSolomon.remainder(block, divisor: divisor)
            // Short blocks get a placeholder so every block has the same length; it is skipped below.
            if index < shortBlocks { block.append(0) }
            split.append(block + ecc)
        }
        var out: [UInt8] = []
        out.reserveCapacity(raw)
        for column in 0..<split[0].count {
            for (index, block) in split.enumerated() where column != shortLength - eccLength || index >= shortBlocks {
                out.append(block[column])
            }
        }
        return out
    }

    private enum ReedSolomon {
        /// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1.
        static func multiply(_ x: UInt8, _ y: UInt8) -> UInt8 {
            var z = 0
            for bit in (0..<8).reversed() {
                z = (z << 1) ^ ((z >> 7) * 0x11D)
                z ^= Int((y >> bit) & 1) * Int(x)
            }
            return UInt8(z)
        }

        /// The generator polynomial's coefficients, highest power first, leading 1 omitted.
        static func divisor(degree: Int) -> [UInt8] {
            var result = [UInt8](repeating: 0, count: degree)
            result[degree - 1] = 1
            var root: UInt8 = 1
            for _ in 0..<degree {
                for j in 0..<degree {
                    result[j] = multiply(result[j], root)
                    if j + 1 < degree { result[j] ^= result[j + 1] }
                }
                root = multiply(root, 0x02)
            }
            return result
        }

        static func remainder(_ data: [UInt8], divisor: [UInt8]) -> [UInt8] {
            var result = [UInt8](repeating: 0, count: divisor.count)
            for byte in data {
                let factor = byte ^ result.removeFirst()
                result.append(0)
                for index in result.indices { result[index] ^= multiply(divisor[index], factor) }
            }
            return result
        }
    }

    // MARK: Placement

    private struct BitBuffer {
        var bits: [Bool] = []
        var count: Int { bits.count }
        mutating func append(_ value: Int, count: Int) {
            for shift in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> shift) & 1 == 1) }
        }
        var bytes: [UInt8] {
            stride(from: 0, to: bits.count, by: 8).map { start in
                bits[start..<(start + 8)].reduce(0) { $0 << 1 | ($1 ? 1 : 0) }
            }
        }
    }

    /// The module grid while it is built: `modules` (true = dark) and which modules belong to
    /// function patterns, which data and masks never touch. Indexed [row * size + column].
    private struct Grid {
        let version: Int
        let size: Int
        var modules: [Bool]
        var isFunction: [Bool]

        init(version: Int) {
            self.version = version
            size = 17 + 4 * version
            modules = Array(repeating: false, count: size * size)
            isFunction = modules
        }

        mutating func set(row: Int, column: Int, dark: Bool) {
            modules[row * size + column] = dark
            isFunction[row * size + column] = true
        }

        /// Row and column centres of the alignment patterns.
        var alignmentPositions: [Int] {
            guard version > 1 else { return [] }
            let count = version / 7 + 2
            let step = (version * 8 + count * 3 + 5) / (count * 4 - 4) * 2
            return [6] + (0..<(count - 1)).map { size - 7 - $0 * step }.reversed()
        }

        mutating func drawFunctionPatterns() {
            for index in 0..<size {
                set(row: 6, column: index, dark: index % 2 == 0)
                set(row: index, column: 6, dark: index % 2 == 0)
            }
            for (row, column) in [(3, 3), (3, size - 4), (size - 4, 3)] {
                for dy in -4...4 {
                    for dx in -4...4 {
                        let r = row + dy, c = column + dx
                        guard (0..<size).contains(r), (0..<size).contains(c) else { continue }
                        let distance = max(abs(dx), abs(dy))
                        set(row: r, column: c, dark: distance != 2 && distance != 4)
                    }
                }
            }
            let positions = alignmentPositions
            let last = positions.count - 1
            for (i, row) in positions.enumerated() {
                for (j, column) in positions.enumerated() {
                    // The three corners that overlap the finder patterns.
                    if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) { continue }
                    for dy in -2...2 {
                        for dx in -2...2 {
                            set(row: row + dy, column: column + dx, dark: max(abs(dx), abs(dy)) != 1)
                        }
                    }
                }
            }
            // Reserve the format areas now (mask 0 as a placeholder); the real bits come with the mask.
            drawFormatBits(level: 0, mask: 0)
            drawVersionBits()
        }

        /// The 15 format bits (level and mask, BCH-protected) in both copies, and the dark module.
        mutating func drawFormatBits(level formatLevel: Int, mask: Int) {
            let data = formatLevel << 3 | mask
            var remainder = data
            for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
            let bits = (data << 10 | remainder) ^ 0x5412
            func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
            for index in 0...5 { set(row: index, column: 8, dark: bit(index)) }
            set(row: 7, column: 8, dark: bit(6))
            set(row: 8, column: 8, dark: bit(7))
            set(row: 8, column: 7, dark: bit(8))
            for index in 9..<15 { set(row: 8, column: 14 - index, dark: bit(index)) }
            for index in 0..<8 { set(row: 8, column: size - 1 - index, dark: bit(index)) }
            for index in 8..<15 { set(row: size - 15 + index, column: 8, dark: bit(index)) }
            set(row: size - 8, column: 8, dark: true)
        }

        /// Versions 7 and up carry their number (BCH-protected) in two 6×3 blocks.
        mutating func drawVersionBits() {
            guard version >= 7 else { return }
            var remainder = version
            for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
            let bits = version << 12 | remainder
            for index in 0..<18 {
                let dark = (bits >> index) & 1 == 1
                let a = size - 11 + index % 3, b = index / 3
                set(row: b, column: a, dark: dark)
                set(row: a, column: b, dark: dark)
            }
        }

        /// Fills the non-function modules in the standard zigzag: two-column strips from the
        /// right, alternately upwards and downwards, skipping the vertical timing column.
        mutating func drawCodewords(_ codewords: [UInt8]) {
            var bitIndex = 0
            let totalBits = codewords.count * 8
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                let upward = (right + 1) & 2 == 0
                for step in 0..<size {
                    let row = upward ? size - 1 - step : step
                    for offset in 0..<2 {
                        let column = right - offset
                        let index = row * size + column
                        guard !isFunction[index], bitIndex < totalBits else { continue }
                        modules[index] = (codewords[bitIndex >> 3] >> (7 - (bitIndex & 7))) & 1 == 1
                        bitIndex += 1
                    }
                }
                right -= 2
            }
        }

        mutating func applyMask(_ mask: Int) {
            for row in 0..<size {
                for column in 0..<size where !isFunction[row * size + column] {
                    let (x, y) = (column, row)
                    let invert = switch mask {
                    case 0: (x + y) % 2 == 0
                    case 1: y % 2 == 0
                    case 2: x % 3 == 0
                    case 3: (x + y) % 3 == 0
                    case 4: (x / 3 + y / 2) % 2 == 0
                    case 5: x * y % 2 + x * y % 3 == 0
                    case 6: (x * y % 2 + x * y % 3) % 2 == 0
                    default: ((x + y) % 2 + x * y % 3) % 2 == 0
                    }
                    if invert { modules[row * size + column].toggle() }
                }
            }
        }

        /// Tries the eight masks and keeps the one with the lowest penalty.
        mutating func applyBestMask(correction: QRCode.Correction) {
            // The format field's level bits: L 01, M 00, Q 11, H 10.
            let formatLevel = switch correction {
            case .low: 1
            case .medium: 0
            case .quartile: 3
            case .high: 2
            }
            var best = 0, bestPenalty = Int.max
            for mask in 0..<8 {
                applyMask(mask)
                drawFormatBits(level: formatLevel, mask: mask)
                let score = penalty()
                if score < bestPenalty { best = mask; bestPenalty = score }
                applyMask(mask) // XOR again undoes it
            }
            applyMask(best)
            drawFormatBits(level: formatLevel, mask: best)
        }

        func dark(_ row: Int, _ column: Int) -> Bool { modules[row * size + column] }

        /// The standard's four penalty rules: long runs, 2×2 blocks, finder-like 1:1:3:1:1
        /// patterns with four light modules on one side, and dark/light imbalance.
        func penalty() -> Int {
            var total = 0
            let finderLike: [Bool] = [true, false, true, true, true, false, true]
            for line in 0..<size {
                for horizontal in [true, false] {
                    func at(_ index: Int) -> Bool { horizontal ? dark(line, index) : dark(index, line) }
                    var runColor = at(0), runLength = 1
                    for index in 1..<size {
                        if at(index) == runColor {
                            runLength += 1
                        } else {
                            if runLength >= 5 { total += 3 + runLength - 5 }
                            runColor = at(index)
                            runLength = 1
                        }
                    }
                    if runLength >= 5 { total += 3 + runLength - 5 }
                    for start in 0...(size - 7) where (0..<7).allSatisfy({ at(start + $0) == finderLike[$0] }) {
                        func light(_ range: Range<Int>) -> Bool {
                            range.allSatisfy { !(0..<size).contains($0) || !at($0) }
                        }
                        if light((start - 4)..<start) || light((start + 7)..<(start + 11)) { total += 40 }
                    }
                }
            }
            for row in 0..<(size - 1) {
                for column in 0..<(size - 1) {
                    let color = dark(row, column)
                    if color == dark(row, column + 1), color == dark(row + 1, column), color == dark(row + 1, column + 1) {
                        total += 3
                    }
                }
            }
            let darkCount = modules.lazy.filter { $0 }.count
            let all = size * size
            let k = (abs(darkCount * 20 - all * 10) + all - 1) / all - 1
            total += k * 10
            return total
        }
    }
}
