// The order of keys: memcmp order, the shorter key first on a common prefix. Raw-pointer
// code, so it lives in Pages/ with the page accessors; the tree compares a search key with
// a cell's key through ``Page/uncheckedCompare(_:_:with:)``.

/// memcmp order, the shorter key first on a common prefix.
///
/// Compares eight bytes at a time as big-endian words, then a tail of at most one 4-, one
/// 2- and one 1-byte step: keys are short, a call to libc's memcmp costs more than the
/// comparison itself, and a byte-at-a-time tail was most of the cost of a branch search
/// (separators are prefixes of keys, so their lengths are rarely a multiple of eight).
@inlinable @inline(__always)
func compareKeys(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let common = min(a.count, b.count)
    guard common > 0 else { return a.count &- b.count }
    return compareKeys(a.baseAddress!, a.count, b.baseAddress!, b.count)
}

/// ``compareKeys(_:_:)`` on two keys given by start and length (both starts valid when
/// either length is non-zero): the form a binary search uses with its search key's start
/// loaded once.
///
/// When the common length is at least eight, a tail shorter than eight bytes is compared
/// as the last eight bytes of the common part (overlapping bytes already found equal):
/// one step instead of a 4-, 2- and 1-byte cascade.
@inlinable @inline(__always)
func compareKeys(_ p: UnsafeRawPointer, _ aCount: Int, _ q: UnsafeRawPointer, _ bCount: Int) -> Int {
    let common = min(aCount, bCount)
    if common >= 8 {
        var offset = 0
        while true {
            let x = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            let y = UInt64(bigEndian: q.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            if x != y { return x < y ? -1 : 1 }
            offset &+= 8
            if offset &+ 8 > common { break }
        }
        if offset < common {
            let last = common &- 8
            let x = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: last, as: UInt64.self))
            let y = UInt64(bigEndian: q.loadUnaligned(fromByteOffset: last, as: UInt64.self))
            if x != y { return x < y ? -1 : 1 }
        }
        return aCount &- bCount
    }
    var offset = 0
    if offset &+ 4 <= common {
        let x = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let y = UInt32(bigEndian: q.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        if x != y { return x < y ? -1 : 1 }
        offset &+= 4
    }
    if offset &+ 2 <= common {
        let x = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        let y = UInt16(bigEndian: q.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        if x != y { return x < y ? -1 : 1 }
        offset &+= 2
    }
    if offset < common {
        let x = p.load(fromByteOffset: offset, as: UInt8.self), y = q.load(fromByteOffset: offset, as: UInt8.self)
        if x != y { return x < y ? -1 : 1 }
    }
    return aCount &- bCount
}

/// A search key as a binary search holds it: its start and length, loaded once, for
/// ``Page/uncheckedCompare(_:_:with:)`` on every step.
@usableFromInline
struct SearchKey {
    @usableFromInline let start: UnsafeRawPointer
    @usableFromInline let count: Int

    /// The key `key`. An empty key has no start: any address does, as no byte of it is read.
    @inlinable @inline(__always)
    init(_ key: UnsafeRawBufferPointer) {
        start = key.baseAddress ?? UnsafeRawPointer(bitPattern: 1).unsafelyUnwrapped
        count = key.count
    }
}
