/// The pages a write transaction owns: page number -> buffer, an open-addressing hash table.
///
/// A write transaction looks a page up here on every step down the tree, so this is a
/// plain table with linear probing and a multiplicative hash instead of a `Dictionary`
/// (whose SipHash costs more than the rest of the lookup). Page 0 is a meta page and never
/// owned, so key 0 marks an empty slot; removal shifts later entries back (no tombstones).
///
/// Everything sits in one `[UInt64]`, one allocation per table, made at the first insert
/// (an array allocation costs hundreds of instructions and every transaction makes a map).
/// Its second half lists the (page, buffer address) pairs densely, in the order they were
/// added, so a walk over the pages costs the pages there are, not the slots: a commit walks
/// its pages four times, and walking 16 slots each time cost about 100 instructions a walk.
/// Its first half is the hash: slot `i` is words `2i` (the page) and `2i + 1` (the word where
/// the page's pair starts), so a removal finds the pair it moves at once.
@usableFromInline
struct PageMap {
    @usableFromInline var table: [UInt64]
    @usableFromInline var count = 0
    /// Slots minus one (slots are a power of two); 0 while nothing is allocated.
    @usableFromInline var mask: Int

    /// Words of the table per slot: two in the hash, two in the dense list.
    static let wordsPerSlot = 4

    /// An empty map. With no capacity it allocates nothing until the first insert.
    init(capacity: Int = 0) {
        table = []
        mask = 0
        guard capacity > 0 else { return }
        var slots = 16
        while slots < capacity * 2 { slots <<= 1 }
        table = [UInt64](repeating: 0, count: PageMap.wordsPerSlot * slots)
        mask = slots - 1
    }

    @inlinable @inline(__always)
    func slot(for key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    @inlinable @inline(__always)
    func key(at slot: Int) -> UInt64 { table[2 &* slot] }

    /// The buffer of the pair whose first word is `entry`.
    @inlinable @inline(__always)
    func buffer(atEntry entry: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(table[entry &+ 1]))!
    }

    /// Where the pair of the page in hash slot `slot` starts.
    @inlinable @inline(__always)
    func entry(at slot: Int) -> Int { Int(truncatingIfNeeded: table[2 &* slot &+ 1]) }

    @inlinable @inline(__always)
    mutating func set(_ slot: Int, key: UInt64, entry: Int) {
        table[2 &* slot] = key
        table[2 &* slot &+ 1] = UInt64(truncatingIfNeeded: entry)
    }

    /// The first word of the dense list (after the hash's two words per slot).
    @inlinable @inline(__always)
    var denseStart: Int { 2 &* (mask &+ 1) }

    /// The buffer of page `key`, or nil.
    @inlinable
    subscript(key: UInt64) -> UnsafeMutableRawPointer? {
        guard count > 0, let index = findSlot(key) else { return nil }
        return buffer(atEntry: entry(at: index))
    }

    /// The hash slot of `key`, or nil when absent.
    @inlinable @inline(__always)
    func findSlot(_ key: UInt64) -> Int? {
        var index = slot(for: key)
        while true {
            let found = self.key(at: index)
            if found == key { return index }
            if found == 0 { return nil }
            index = (index &+ 1) & mask
        }
    }

    /// Adds or replaces page `key`.
    mutating func insert(_ key: UInt64, _ value: UnsafeMutableRawPointer) {
        precondition(key != 0, "page 0 cannot be owned by a transaction")
        if (count + 1) * 4 > (mask + 1) * 3 || table.isEmpty { grow() }
        let home = slot(for: key)
        let mask = self.mask
        let start = denseStart
        let count = self.count
        let bits = UInt64(UInt(bitPattern: value))
        // Through one buffer pointer: each subscripted store checked the array's uniqueness
        // and bounds, 25 instructions an insert.
        let added = table.withUnsafeMutableBufferPointer { words -> Bool in
            var index = home
            while words[2 &* index] != 0 && words[2 &* index] != key { index = (index &+ 1) & mask }
            if words[2 &* index] == key {
                words[Int(truncatingIfNeeded: words[2 &* index &+ 1]) &+ 1] = bits
                return false
            }
            let entry = start &+ 2 &* count
            words[entry] = key
            words[entry &+ 1] = bits
            words[2 &* index] = key
            words[2 &* index &+ 1] = UInt64(truncatingIfNeeded: entry)
            return true
        }
        if added { self.count = count + 1 }
    }

    /// Removes page `key` and returns its buffer, or nil when absent.
    mutating func remove(_ key: UInt64) -> UnsafeMutableRawPointer? {
        guard count > 0, let index = findSlot(key) else { return nil }
        let entry = entry(at: index)
        let value = buffer(atEntry: entry)
        // The dense list's last pair fills the removed one's place, and its slot says so.
        let last = denseStart + 2 * (count - 1)
        if entry != last {
            let moved = table[last]
            table[entry] = moved
            table[entry + 1] = table[last + 1]
            set(findSlot(moved)!, key: moved, entry: entry)
        }
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
                set(hole, key: self.key(at: next), entry: self.entry(at: next))
                hole = next
            }
            next = (next + 1) & mask
        }
        set(hole, key: 0, entry: 0)
        return value
    }

    private mutating func grow() {
        let old = table
        let oldDense = denseStart
        let oldCount = count
        let slots = max(16, (mask + 1) * 2)
        table = [UInt64](repeating: 0, count: PageMap.wordsPerSlot * slots)
        mask = slots - 1
        count = 0
        // In the dense list's order, which the new list keeps.
        for entry in 0..<oldCount {
            let word = oldDense + 2 * entry
            insert(old[word], UnsafeMutableRawPointer(bitPattern: UInt(old[word + 1]))!)
        }
    }

    /// A map over a table kept from an earlier transaction (its hash all zero, a power of
    /// two of slots, as ``detachTable()`` returns it): no allocation.
    init(recycling table: [UInt64]) {
        let slots = table.count / PageMap.wordsPerSlot
        precondition(slots >= 16 && slots & (slots - 1) == 0 && table.count == PageMap.wordsPerSlot * slots, "not a PageMap table")
        self.table = table
        mask = slots - 1
    }

    /// Empties the map and hands its table out for reuse; the map is left with none.
    mutating func detachTable() -> [UInt64] {
        removeAll()
        let detached = table
        table = []
        mask = 0
        return detached
    }

    /// Calls `body` with every (page, buffer) pair, in the order they were added (less
    /// removals, each of which moves the last pair into its place), without building an array.
    @inline(__always)
    func forEach(_ body: (_ page: UInt64, _ buffer: UnsafeMutableRawPointer) -> Void) {
        guard count > 0 else { return }
        // Through a buffer pointer: the array's bounds checks were a third of each walk.
        let start = denseStart
        let end = start &+ 2 &* count
        table.withUnsafeBufferPointer { words in
            var index = start
            while index < end {
                body(words[index], UnsafeMutableRawPointer(bitPattern: UInt(words[index &+ 1]))!)
                index &+= 2
            }
        }
    }

    /// Calls `body` with every buffer and empties the map (which keeps its table): a commit's
    /// release of its pages walks its pages once, then clears the hash.
    mutating func drain(_ body: (_ buffer: UnsafeMutableRawPointer) -> Void) {
        guard count > 0 else { return }
        let start = denseStart
        let end = start &+ 2 &* count
        table.withUnsafeMutableBufferPointer { words in
            var index = start
            while index < end {
                body(UnsafeMutableRawPointer(bitPattern: UInt(words[index &+ 1]))!)
                index &+= 2
            }
            words.baseAddress!.update(repeating: 0, count: start)
        }
        count = 0
    }

    /// Empties the map, keeping its table for the next use (the dense list's stale pairs lie
    /// past `count`, unread).
    mutating func removeAll() {
        guard count > 0 else { return }
        let start = denseStart
        table.withUnsafeMutableBufferPointer { $0.baseAddress!.update(repeating: 0, count: start) }
        count = 0
    }

    /// Every (page, buffer) pair, in the order of ``forEach(_:)``.
    var entries: [(page: UInt64, buffer: UnsafeMutableRawPointer)] {
        var result: [(page: UInt64, buffer: UnsafeMutableRawPointer)] = []
        result.reserveCapacity(count)
        forEach { result.append(($0, $1)) }
        return result
    }

    var isEmpty: Bool { count == 0 }

    /// Whether the map has a table (it allocates none until its first insert).
    var hasTable: Bool { !table.isEmpty }

    /// Words in the table (``wordsPerSlot`` per slot).
    var tableWords: Int { table.count }
}
