#if canImport(Glibc)
import Glibc
#endif

/// Growable bytes in `malloc`ed memory, owned by one object: the one-shot client's request,
/// received bytes and messages (`WireEncoder`, `WireDecoder`, `OneShotCall`).
///
/// Why not `[UInt8]`: in a process that makes one call and exits, creating the first array of
/// bytes makes the Swift runtime build `_ContiguousArrayStorage<UInt8>`'s metadata from its
/// mangled name (demangler, caches, their pages): ~0.04 ms of a 1 ms `tessera token`. A
/// non-generic class needs no such lookup. Reads past `count` trap, as an array's would.
package final class ByteBuffer {
    private(set) var base: UnsafeMutablePointer<UInt8>
    package private(set) var count = 0
    private var capacity: Int

    package init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    package convenience init(_ bytes: [UInt8]) {
        self.init(capacity: bytes.count)
        bytes.withUnsafeBytes { append($0) }
    }

    deinit { base.deallocate() }

    package subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count, "ByteBuffer index out of range")
        return base[index]
    }

    /// A copy as an array (tests, and callers that keep bytes).
    package var array: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// The bytes in `range` (which must lie within `count`), without copying.
    func span(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "ByteBuffer range out of bounds")
        return UnsafeBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    package func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    package func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, let source = bytes.baseAddress else { return }
        reserve(bytes.count)
        (base + count).update(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        count += bytes.count
    }

    package func append(utf8 text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    package func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// A new buffer holding a copy of `range`.
    func copy(_ range: Range<Int>) -> ByteBuffer {
        let copy = ByteBuffer(capacity: range.count)
        copy.append(UnsafeRawBufferPointer(span(range)))
        return copy
    }

    func set(_ byte: UInt8, at index: Int) {
        precondition(index >= 0 && index < count, "ByteBuffer index out of range")
        base[index] = byte
    }

    /// Drops the first `n` bytes.
    func removeFirst(_ n: Int) {
        precondition(n >= 0 && n <= count)
        memmove(base, base + n, count - n)
        count -= n
    }

    /// Lets `fill` write up to `maximum` bytes after the end; it returns how many it wrote (or a
    /// negative value for none).
    func appendUnsafe(maximum: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        reserve(maximum)
        let written = fill(UnsafeMutableRawBufferPointer(start: base + count, count: maximum))
        if written > 0 { count += min(written, maximum) }
        return written
    }

    private func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        var grown = capacity * 2
        while grown < count + extra { grown *= 2 }
        let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        larger.update(from: base, count: count)
        base.deallocate()
        base = larger
        capacity = grown
    }
}
