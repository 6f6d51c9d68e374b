/// The pages a write transaction owns: page number -> buffer, an open-addressing hash table.
///
/// A write transaction looks a page up here on every step down the tree, so this is a
/// plain table with linear probing and a multiplicative hash instead of a `Dictionary`
/// (whose SipHash costs more than the rest of the lookup). Page 0 is a meta page and never
/// owned, so key 0 marks an empty slot; removal shifts later entries back (no tombstones).
///
/// Keys and buffer addresses sit side by side in one `[UInt64]` (slot `i` is words `2i`
/// and `2i + 1`): one allocation per table instead of two, made at the first insert, since
/// an array allocation costs hundreds of instructions and every transaction makes a map.
@usableFromInline
struct PageMap {
    @usableFromInline var table: [UInt64]
    @usableFromInline var count = 0
    /// Slots minus one (slots are a power of two); 0 while nothing is allocated.
    @usableFromInline var mask: Int

    /// An empty map. With no capacity it allocates nothing until the first insert.
    init(capacity: Int = 0) {
        table = []
        mask = 0
        guard capacity > 0 else { return }
        var slots = 16
        while slots < capacity * 2 { slots <<= 1 }
        table = [UInt64](repeating: 0, count: 2 * slots)
        mask = slots - 1
    }

    @inlinable @inline(__always)
    func slot(for key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    @inlinable @inline(__always)
    func key(at slot: Int) -> UInt64 { table[2 &* slot] }

    @inlinable @inline(__always)
    func buffer(at slot: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(table[2 &* slot &+ 1]))!
    }

    @inlinable @inline(__always)
    mutating func set(_ slot: Int, key: UInt64, bits: UInt64) {
        table[2 &* slot] = key
        table[2 &* slot &+ 1] = bits
    }

    /// The buffer of page `key`, or nil.
    @inlinable
    subscript(key: UInt64) -> UnsafeMutableRawPointer? {
        guard count > 0 else { return nil }
        var index = slot(for: key)
        while true {
            let found = self.key(at: index)
            if found == key { return buffer(at: index) }
            if found == 0 { return nil }
            index = (index &+ 1) & mask
        }
    }

    /// Adds or replaces page `key`.
    mutating func insert(_ key: UInt64, _ value: UnsafeMutableRawPointer) {
        precondition(key != 0, "page 0 cannot be owned by a transaction")
        if (count + 1) * 4 > (mask + 1) * 3 || table.isEmpty { grow() }
        var index = slot(for: key)
        while self.key(at: index) != 0 && self.key(at: index) != key { index = (index + 1) & mask }
        if self.key(at: index) == 0 { count += 1 }
        set(index, key: key, bits: UInt64(UInt(bitPattern: value)))
    }

    /// Removes page `key` and returns its buffer, or nil when absent.
    mutating func remove(_ key: UInt64) -> UnsafeMutableRawPointer? {
        guard count > 0 else { return nil }
        var index = slot(for: key)
        while self.key(at: index) != key {
            if self.key(at: index) == 0 { return nil }
            index = (index + 1) & mask
        }
        let value = buffer(at: index)
        count -= 1
        // Backward-shift deletion: move up every later entry of the probe run that may.
        var hole = index
        var next = (index + 1) & mask
        while self.key(at: next) != 0 {
            let home = slot(for: self.key(at: next))
            // The entry at `next` may fill the hole if its home is not in (hole, next].
            let distanceToHole = (next - home) & mask
            let distanceToNext = (next - hole) & mask
            if distanceToHole >= distanceToNext {
                set(hole, key: self.key(at: next), bits: table[2 * next + 1])
                hole = next
            }
            next = (next + 1) & mask
        }
        set(hole, key: 0, bits: 0)
        return value
    }

    private mutating func grow() {
        let old = table
        let slots = max(16, (mask + 1) * 2)
        table = [UInt64](repeating: 0, count: 2 * slots)
        mask = slots - 1
        count = 0
        var index = 0
        while index < old.count {
            if old[index] != 0 { insert(old[index], UnsafeMutableRawPointer(bitPattern: UInt(old[index + 1]))!) }
            index += 2
        }
    }

    /// A map over a table kept from an earlier transaction (all zero, a power of two of
    /// slots, as ``detachTable()`` returns it): no allocation.
    init(recycling table: [UInt64]) {
        precondition(table.count >= 32 && (table.count / 2) & (table.count / 2 - 1) == 0, "not a PageMap table")
        self.table = table
        mask = table.count / 2 - 1
    }

    /// Empties the map and hands its table out for reuse; the map is left with none.
    mutating func detachTable() -> [UInt64] {
        removeAll()
        let detached = table
        table = []
        mask = 0
        return detached
    }

    /// Calls `body` with every (page, buffer) pair, in no particular order, without
    /// building an array.
    @inline(__always)
    func forEach(_ body: (_ page: UInt64, _ buffer: UnsafeMutableRawPointer) -> Void) {
        guard count > 0 else { return }
        // Through a buffer pointer: every commit walks the whole table a few times, and the
        // array's bounds checks were a third of each walk.
        table.withUnsafeBufferPointer { words in
            var index = 0
            while index < words.count {
                let key = words[index]
                if key != 0 { body(key, UnsafeMutableRawPointer(bitPattern: UInt(words[index &+ 1]))!) }
                index &+= 2
            }
        }
    }

    /// Calls `body` with every buffer and empties the map in the same walk of the table
    /// (which it keeps): a commit's release of its pages walks the table once, not twice.
    mutating func drain(_ body: (_ buffer: UnsafeMutableRawPointer) -> Void) {
        guard count > 0 else { return }
        table.withUnsafeMutableBufferPointer { words in
            var index = 0
            while index < words.count {
                if words[index] != 0 {
                    body(UnsafeMutableRawPointer(bitPattern: UInt(words[index &+ 1]))!)
                    words[index] = 0
                    words[index &+ 1] = 0
                }
                index &+= 2
            }
        }
        count = 0
    }

    /// Empties the map, keeping its table for the next use.
    mutating func removeAll() {
        guard count > 0 else { return }
        for index in 0..<table.count { table[index] = 0 }
        count = 0
    }

    /// Every (page, buffer) pair, in no particular order.
    var entries: [(page: UInt64, buffer: UnsafeMutableRawPointer)] {
        var result: [(page: UInt64, buffer: UnsafeMutableRawPointer)] = []
        result.reserveCapacity(count)
        forEach { result.append(($0, $1)) }
        return result
    }

    var isEmpty: Bool { count == 0 }

    /// Whether the map has a table (it allocates none until its first insert).
    var hasTable: Bool { !table.isEmpty }

    /// Words in the table (two per slot).
    var tableWords: Int { table.count }
}
