/// A range of keys in byte order: from `lower` (inclusive) up to `upper` (exclusive).
public struct KeyRange: Sendable, Equatable {
    /// The first key in the range, or nil for "from the first key".
    public var lower: [UInt8]?
    /// The first key past the range, or nil for "to the last key".
    public var upper: [UInt8]?

    /// Keys from `lower` (inclusive) to `upper` (exclusive); nil means unbounded.
    public init(from lower: [UInt8]? = nil, to upper: [UInt8]? = nil) {
        self.lower = lower
        self.upper = upper
    }

    /// Every key.
    public static let all = KeyRange()

    /// Every key that starts with `prefix`.
    public static func prefix(_ prefix: [UInt8]) -> KeyRange {
        // The first key past the prefix: drop trailing 0xff bytes, then add one to the last.
        var end = prefix
        while let last = end.last, last == 0xFF { end.removeLast() }
        if end.isEmpty { return KeyRange(from: prefix, to: nil) }
        end[end.count - 1] += 1
        return KeyRange(from: prefix, to: end)
    }

    /// Every key that starts with the UTF-8 bytes of `prefix`.
    public static func prefix(_ prefix: String) -> KeyRange { .prefix(Array(prefix.utf8)) }

    /// Whether `key` lies in the range.
    func contains(_ key: UnsafeRawBufferPointer) -> Bool {
        if let lower, lower.withUnsafeBytes({ compareKeys(key, $0) < 0 }) { return false }
        if let upper, upper.withUnsafeBytes({ compareKeys(key, $0) >= 0 }) { return false }
        return true
    }

    func isBelow(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let lower else { return false }
        return lower.withUnsafeBytes { compareKeys(key, $0) < 0 }
    }

    func isAbove(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let upper else { return false }
        return upper.withUnsafeBytes { compareKeys(key, $0) >= 0 }
    }
}

/// The entries of a range as `(key, value)` copies, in key order or reverse.
///
/// Iterating inside a write transaction that changes the tree is allowed: the iterator
/// notices the change and continues after the last key it returned.
public struct ScanSequence: Sequence {
    let transaction: ReadTransaction
    let tree: TreeID
    let range: KeyRange
    let reverse: Bool

    /// An iterator over the range.
    public func makeIterator() -> Iterator {
        Iterator(transaction: transaction, tree: tree, range: range, reverse: reverse)
    }

    /// Steps through a ``ScanSequence``.
    public struct Iterator: IteratorProtocol {
        let transaction: ReadTransaction
        let tree: TreeID
        let range: KeyRange
        let reverse: Bool
        var cursor: TreeCursor<TransactionPages>?
        var generation: UInt64 = 0
        var lastKey: [UInt8]?
        var done = false

        init(transaction: ReadTransaction, tree: TreeID, range: KeyRange, reverse: Bool) {
            self.transaction = transaction
            self.tree = tree
            self.range = range
            self.reverse = reverse
        }

        /// The next entry, or nil at the end of the range (or on damage, which the
        /// transaction's closure then throws).
        public mutating func next() -> (key: [UInt8], value: [UInt8])? {
            guard !done else { return nil }
            do throws(MapStoreError) {
                if let entry = try step() { return entry }
            } catch {
                if transaction.deferredError == nil { transaction.deferredError = error }
            }
            done = true
            return nil
        }

        private mutating func position() throws(MapStoreError) -> Bool {
            try transaction.checkActive()
            var fresh = TreeCursor(source: transaction.pages, tree: try transaction.root(of: tree), pageCount: transaction.pages.pageCount)
            generation = transaction.generation
            defer { cursor = fresh }
            if let lastKey {
                // Re-seek after a change: continue just past the last key returned.
                let found = try withBytes(of: lastKey) { (key) throws(MapStoreError) in try fresh.seek(key) }
                if reverse {
                    return found ? try fresh.previous() : try fresh.last()
                }
                guard found else { return false }
                let (_, entry) = try fresh.current()
                let same = lastKey.withUnsafeBytes { compareKeys(entry.key, $0) == 0 }
                return same ? try fresh.next() : true
            }
            if reverse {
                if let upper = range.upper {
                    let found = try withBytes(of: upper) { (key) throws(MapStoreError) in try fresh.seek(key) }
                    return found ? try fresh.previous() : try fresh.last()
                }
                return try fresh.last()
            }
            if let lower = range.lower {
                return try withBytes(of: lower) { (key) throws(MapStoreError) in try fresh.seek(key) }
            }
            return try fresh.first()
        }

        private mutating func step() throws(MapStoreError) -> (key: [UInt8], value: [UInt8])? {
            var moved: Bool
            if cursor == nil || generation != transaction.generation {
                moved = try position()
            } else {
                moved = reverse ? try cursor!.previous() : try cursor!.next()
            }
            while moved {
                let (page, entry) = try cursor!.current()
                if reverse ? range.isBelow(entry.key) : range.isAbove(entry.key) { return nil }
                if entry.isTable {
                    moved = reverse ? try cursor!.previous() : try cursor!.next()
                    continue
                }
                let key = Array(entry.key)
                let value = Array(try TreeReader(space: transaction.pages).value(of: entry, in: page))
                lastKey = key
                return (key, value)
            }
            return nil
        }
    }
}

/// A movable position in a tree, for walking entries one by one (like LMDB's `MDB_cursor`).
///
/// Valid only inside the transaction's closure; a change made through a write transaction
/// invalidates the position (call a positioning method again).
public final class Cursor {
    let transaction: ReadTransaction
    let tree: TreeID
    // Only the transaction's own thread uses a cursor, and no access to these overlaps
    // another: the dynamic exclusivity checks cost more than a whole cursor step.
    @exclusivity(unchecked) var cursor: TreeCursor<TransactionPages>?
    @exclusivity(unchecked) var generation: UInt64 = 0
    /// The entry under the cursor and its leaf, decoded once per move (nil past either end),
    /// so reading it (`withCurrent`, `key`, `value`) does not decode the cell again.
    @exclusivity(unchecked) var current: (page: Page, entry: LeafEntry)?

    init(transaction: ReadTransaction, tree: TreeID) {
        self.transaction = transaction
        self.tree = tree
    }

    /// Makes `cursor` a cursor on the tree as the transaction sees it now: the same one
    /// (its stack reused, so a seek allocates nothing) when nothing changed since it was made.
    private func reset() throws(MapStoreError) {
        try transaction.checkActive()
        current = nil
        if cursor != nil, generation == transaction.generation { return }
        generation = transaction.generation
        cursor = TreeCursor(source: transaction.pages, tree: try transaction.root(of: tree), pageCount: transaction.pages.pageCount)
    }

    /// After a positioning move (`moved`), steps over table descriptors in the main tree
    /// (they are not data) in the given direction, and keeps the entry it lands on.
    private func land(_ moved: Bool, forward: Bool) throws(MapStoreError) -> Bool {
        try land(moved ? try cursor!.here() : nil, forward: forward)
    }

    @inline(__always)
    private func land(_ here: (page: Page, entry: LeafEntry)?, forward: Bool) throws(MapStoreError) -> Bool {
        var here = here
        while let entry = here?.entry, entry.isTable { here = try cursor!.advance(forward: forward) }
        current = here
        return here != nil
    }

    private func checkPosition() throws(MapStoreError) {
        try transaction.checkActive()
        guard cursor != nil, generation == transaction.generation else {
            throw MapStoreError.invalidArgument(reason: "cursor is not positioned (or the tree changed since): call first, last or seek")
        }
    }

    /// Moves to the first entry; false when the tree is empty.
    public func first() throws(MapStoreError) -> Bool {
        try reset()
        return try land(try cursor!.first(), forward: true)
    }

    /// Moves to the last entry; false when the tree is empty.
    public func last() throws(MapStoreError) -> Bool {
        try reset()
        return try land(try cursor!.last(), forward: false)
    }

    /// Moves to the first entry whose key is >= `key`; false when there is none.
    @inlinable
    public func seek<K: Collection<UInt8>>(_ key: K) throws(MapStoreError) -> Bool {
        try withContiguousBytes(key) { (key) throws(MapStoreError) in try seek(bytes: key) }
    }

    @usableFromInline
    func seek(bytes key: UnsafeRawBufferPointer) throws(MapStoreError) -> Bool {
        try reset()
        return try land(try cursor!.seek(key), forward: true)
    }

    /// Moves to the next entry; false past the last.
    public func next() throws(MapStoreError) -> Bool {
        try checkPosition()
        guard current != nil else { return false }
        return try land(try cursor!.advance(forward: true), forward: true)
    }

    /// Moves to the previous entry; false before the first.
    public func previous() throws(MapStoreError) -> Bool {
        try checkPosition()
        guard current != nil else { return false }
        return try land(try cursor!.advance(forward: false), forward: false)
    }

    /// The entry under the cursor, or an error when it is not on one.
    @inline(__always)
    private func positioned() throws(MapStoreError) -> (page: Page, entry: LeafEntry) {
        try checkPosition()
        guard let current else { throw MapStoreError.invalidArgument(reason: "cursor is past the end") }
        return current
    }

    /// The key under the cursor, copied.
    public var key: [UInt8] {
        get throws(MapStoreError) {
            Array(try positioned().entry.key)
        }
    }

    /// The value under the cursor, copied.
    public var value: [UInt8] {
        get throws(MapStoreError) {
            try withCurrent { _, value in Array(value) }
        }
    }

    /// Lends the key and value under the cursor, zero-copy, to `body`.
    public func withCurrent<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
        let (page, entry) = try positioned()
        if !entry.isOverflow { return try body(entry.key, page.slice(entry.valueOffset, entry.valueLength)) }
        return try body(entry.key, try TreeReader(space: transaction.pages).value(of: entry, in: page))
    }
}
