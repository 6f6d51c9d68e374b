/// The pages a write transaction owns: page number -> buffer, an open-addressing hash table.
///
/// A write transaction looks a page up here on every step down the tree, so this is a
/// plain table with linear probing and a multiplicative hash instead of a `Dictionary`
/// (whose SipHash costs more than the rest of the lookup). Page 0 is a meta page and never
/// owned, so key 0 marks an empty slot; removal shifts later entries back (no tombstones).
@usableFromInline
struct PageMap {
    @usableFromInline var keys: [UInt64]
    @usableFromInline var values: [UnsafeMutableRawPointer?]
    @usableFromInline var count = 0
    @usableFromInline var mask: Int

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: 0, count: size)
        values = [UnsafeMutableRawPointer?](repeating: nil, count: size)
        mask = size - 1
    }

    @inlinable @inline(__always)
    func slot(for key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// The buffer of page `key`, or nil.
    @inlinable
    subscript(key: UInt64) -> UnsafeMutableRawPointer? {
        var index = slot(for: key)
        while true {
            let found = keys[index]
            if found == key { return values[index] }
            if found == 0 { return nil }
            index = (index &+ 1) & mask
        }
    }

    /// Adds or replaces page `key`.
    mutating func insert(_ key: UInt64, _ value: UnsafeMutableRawPointer) {
        precondition(key != 0, "page 0 cannot be owned by a transaction")
        if (count + 1) * 4 > keys.count * 3 { grow() }
        var index = slot(for: key)
        while keys[index] != 0 && keys[index] != key { index = (index + 1) & mask }
        if keys[index] == 0 { count += 1 }
        keys[index] = key
        values[index] = value
    }

    /// Removes page `key` and returns its buffer, or nil when absent.
    mutating func remove(_ key: UInt64) -> UnsafeMutableRawPointer? {
        var index = slot(for: key)
        while keys[index] != key {
            if keys[index] == 0 { return nil }
            index = (index + 1) & mask
        }
        let value = values[index]
        count -= 1
        // Backward-shift deletion: move up every later entry of the probe run that may.
        var hole = index
        var next = (index + 1) & mask
        while keys[next] != 0 {
            let home = slot(for: keys[next])
            // The entry at `next` may fill the hole if its home is not in (hole, next].
            let distanceToHole = (next - home) & mask
            let distanceToNext = (next - hole) & mask
            if distanceToHole >= distanceToNext {
                keys[hole] = keys[next]
                values[hole] = values[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        keys[hole] = 0
        values[hole] = nil
        return value
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
        values = [UnsafeMutableRawPointer?](repeating: nil, count: oldKeys.count * 2)
        mask = keys.count - 1
        count = 0
        for index in 0..<oldKeys.count where oldKeys[index] != 0 { insert(oldKeys[index], oldValues[index]!) }
    }

    /// Every (page, buffer) pair, in no particular order.
    var entries: [(page: UInt64, buffer: UnsafeMutableRawPointer)] {
        var result: [(page: UInt64, buffer: UnsafeMutableRawPointer)] = []
        result.reserveCapacity(count)
        for index in 0..<keys.count where keys[index] != 0 { result.append((keys[index], values[index]!)) }
        return result
    }

    var isEmpty: Bool { count == 0 }
}
