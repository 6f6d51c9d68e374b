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
    var cursor: TreeCursor<TransactionPages>?
    var generation: UInt64 = 0

    init(transaction: ReadTransaction, tree: TreeID) {
        self.transaction = transaction
        self.tree = tree
    }

    private func fresh() throws(MapStoreError) -> TreeCursor<TransactionPages> {
        try transaction.checkActive()
        generation = transaction.generation
        return TreeCursor(source: transaction.pages, tree: try transaction.root(of: tree), pageCount: transaction.pages.pageCount)
    }

    private func move(_ body: (inout TreeCursor<TransactionPages>) throws(MapStoreError) -> Bool) throws(MapStoreError) -> Bool {
        var current = try fresh()
        var moved = try body(&current)
        // Table descriptors in the main tree are not data: step over them in the same direction.
        cursor = current
        while moved, try cursor!.current().entry.isTable { moved = try cursor!.next() }
        return moved
    }

    private func checkPosition() throws(MapStoreError) {
        try transaction.checkActive()
        guard cursor != nil, generation == transaction.generation else {
            throw MapStoreError.invalidArgument(reason: "cursor is not positioned (or the tree changed since): call first, last or seek")
        }
    }

    /// Moves to the first entry; false when the tree is empty.
    public func first() throws(MapStoreError) -> Bool { try move { (c) throws(MapStoreError) in try c.first() } }

    /// Moves to the last entry; false when the tree is empty.
    public func last() throws(MapStoreError) -> Bool {
        var current = try fresh()
        var moved = try current.last()
        cursor = current
        while moved, try cursor!.current().entry.isTable { moved = try cursor!.previous() }
        return moved
    }

    /// Moves to the first entry whose key is >= `key`; false when there is none.
    public func seek<K: Collection<UInt8>>(_ key: K) throws(MapStoreError) -> Bool {
        try withContiguousBytes(key) { (key) throws(MapStoreError) in
            try move { (c) throws(MapStoreError) in try c.seek(key) }
        }
    }

    /// Moves to the next entry; false past the last.
    public func next() throws(MapStoreError) -> Bool {
        try checkPosition()
        var moved = try cursor!.next()
        while moved, try cursor!.current().entry.isTable { moved = try cursor!.next() }
        return moved
    }

    /// Moves to the previous entry; false before the first.
    public func previous() throws(MapStoreError) -> Bool {
        try checkPosition()
        var moved = try cursor!.previous()
        while moved, try cursor!.current().entry.isTable { moved = try cursor!.previous() }
        return moved
    }

    /// The key under the cursor, copied.
    public var key: [UInt8] {
        get throws(MapStoreError) {
            try checkPosition()
            guard cursor!.isValid else { throw MapStoreError.invalidArgument(reason: "cursor is past the end") }
            return Array(try cursor!.current().entry.key)
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
        try checkPosition()
        guard cursor!.isValid else { throw MapStoreError.invalidArgument(reason: "cursor is past the end") }
        let (page, entry) = try cursor!.current()
        return try body(entry.key, try TreeReader(space: transaction.pages).value(of: entry, in: page))
    }
}
