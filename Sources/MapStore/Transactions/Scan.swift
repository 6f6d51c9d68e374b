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
    // The tree cursor is stored, not optional, and only ever changed in place: copying it
    // (or wrapping it in an Optional and testing that) retained its page source and stack
    // and cost more than the seek itself.
    @exclusivity(unchecked) var cursor: TreeCursor<TransactionPages>
    /// Whether `cursor` was pointed at the tree as of `generation` by a positioning call.
    @exclusivity(unchecked) var isPositioned = false
    @exclusivity(unchecked) var generation: UInt64 = 0
    /// The entry under the cursor and its leaf, decoded once per move (nil past either end),
    /// so reading it (`withCurrent`, `key`, `value`) does not decode the cell again.
    @exclusivity(unchecked) var current: (page: Page, entry: LeafEntry)?

    init(transaction: ReadTransaction, tree: TreeID) {
        self.transaction = transaction
        self.tree = tree
        // Pointed at the real root by the first positioning call (`reset`).
        cursor = TreeCursor(source: transaction.pages, tree: TreeRoot(), pageCount: 0)
    }

    /// Points `cursor` at the tree as the transaction sees it now: left as it is (its stack
    /// reused, so a seek allocates nothing) when nothing changed since the last positioning.
    private func reset() throws(MapStoreError) {
        try transaction.checkActive()
        current = nil
        if isPositioned, generation == transaction.generation { return }
        let root = try transaction.root(of: tree)
        generation = transaction.generation
        cursor.rebase(tree: root, pageCount: transaction.pages.pageCount)
        isPositioned = true
    }

    /// After a positioning move (`moved`), steps over table descriptors in the main tree
    /// (they are not data) in the given direction, and keeps the entry it lands on.
    @inline(__always)
    private func land(_ moved: Bool, forward: Bool) throws(MapStoreError) -> Bool {
        try land(moved ? try cursor.here() : nil, forward: forward)
    }

    @inline(__always)
    private func land(_ here: (page: Page, entry: LeafEntry)?, forward: Bool) throws(MapStoreError) -> Bool {
        var here = here
        while let entry = here?.entry, entry.isTable { here = try cursor.advance(forward: forward) }
        current = here
        return here != nil
    }

    private func checkPosition() throws(MapStoreError) {
        try transaction.checkActive()
        guard isPositioned, generation == transaction.generation else {
            throw MapStoreError.invalidArgument(reason: "cursor is not positioned (or the tree changed since): call first, last or seek")
        }
    }

    /// Moves to the first entry; false when the tree is empty.
    public func first() throws(MapStoreError) -> Bool {
        try reset()
        return try land(try cursor.first(), forward: true)
    }

    /// Moves to the last entry; false when the tree is empty.
    public func last() throws(MapStoreError) -> Bool {
        try reset()
        return try land(try cursor.last(), forward: false)
    }

    /// Moves to the first entry whose key is >= `key`; false when there is none.
    @inlinable
    public func seek<K: Collection<UInt8>>(_ key: K) throws(MapStoreError) -> Bool {
        try withContiguousBytes(key) { (key) throws(MapStoreError) in try seek(bytes: key) }
    }

    @usableFromInline
    func seek(bytes key: UnsafeRawBufferPointer) throws(MapStoreError) -> Bool {
        try reset()
        return try land(try cursor.seek(key), forward: true)
    }

    /// Moves to the next entry; false past the last.
    public func next() throws(MapStoreError) -> Bool {
        try checkPosition()
        guard current != nil else { return false }
        return try land(try cursor.advance(forward: true), forward: true)
    }

    /// Moves to the previous entry; false before the first.
    public func previous() throws(MapStoreError) -> Bool {
        try checkPosition()
        guard current != nil else { return false }
        return try land(try cursor.advance(forward: false), forward: false)
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

    /// Lends the entry under the cursor and each one after it (before it, when `reverse`) to
    /// `body`, zero-copy, until `body` returns false or the entries end: the scan loop of a
    /// cursor, a tight walk through each leaf instead of a ``next()`` and a
    /// ``withCurrent(_:)`` per entry.
    ///
    /// Returns true when `body` stopped the walk: the cursor is then on the entry `body` was
    /// given last (``next()`` goes on after it). Returns false when the entries ran out (or
    /// the cursor was on none): the cursor is then past the end. `key` and `value` are valid
    /// only during the call; `body` must not change the database (that throws
    /// ``MapStoreError/invalidArgument(reason:)``), and an error it throws is rethrown with
    /// the cursor on the entry that threw.
    public func walk(reverse: Bool = false,
                     _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool) throws -> Bool {
        try checkPosition()
        guard current != nil else { return false }
        var failure: (any Error)?
        let stopped = try transaction.walk(&cursor, forward: !reverse, end: nil) { (key, value) -> Bool in
            do { return try body(key, value) } catch {
                failure = error
                return false
            }
        }
        current = stopped ? try cursor.here() : nil
        if let failure { throw failure }
        return stopped
    }

    /// Lends the key and value under the cursor, zero-copy, to `body`.
    @inlinable
    public func withCurrent<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
        // Inlined into the caller, so `body` is called directly, not through an unspecialized
        // generic (which paid for type metadata and an indirect result on every entry).
        let (key, value) = try currentBytes()
        return try body(key, value)
    }

    /// The key and value under the cursor; an overflow value is read from its run (checked).
    @usableFromInline
    func currentBytes() throws(MapStoreError) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let (page, entry) = try positioned()
        // `current` was decoded by `leafEntry`, which checked that the inline value lies in the page.
        if !entry.isOverflow { return (entry.key, page.uncheckedSlice(entry.valueOffset, entry.valueLength)) }
        return (entry.key, try TreeReader(space: transaction.pages).value(of: entry, in: page))
    }
}

// MARK: Borrowed-bytes scans

extension ReadTransaction {
    /// Lends every entry of the main tree in `range` to `body`, in key order (or reverse),
    /// zero-copy: `key` and `value` point into the map and are valid only during the call.
    ///
    /// The fastest way to read many entries: it checks the transaction once, walks each leaf
    /// in a tight loop and copies nothing. `body` must not change the database (a put or
    /// delete in it makes `forEach` throw ``MapStoreError/invalidArgument(reason:)`` once
    /// `body` returns); an error `body` throws ends the walk and is rethrown.
    public final func forEach(in range: KeyRange = .all, reverse: Bool = false,
                              _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) throws {
        try forEach(in: range, reverse: reverse, tree: .main, body)
    }

    final func forEach(in range: KeyRange, reverse: Bool, tree: TreeID,
                       _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) throws {
        try checkActive()
        var cursor = TreeCursor(source: pages, tree: try root(of: tree), pageCount: pages.pageCount)
        let positioned: Bool
        if reverse {
            if let upper = range.upper {
                let found = try withBytes(of: upper) { (key) throws(MapStoreError) in try cursor.seek(key) }
                positioned = found ? try cursor.previous() : try cursor.last()
            } else {
                positioned = try cursor.last()
            }
        } else if let lower = range.lower {
            positioned = try withBytes(of: lower) { (key) throws(MapStoreError) in try cursor.seek(key) }
        } else {
            positioned = try cursor.first()
        }
        guard positioned else { return }
        var failure: (any Error)?
        // The bound the walk runs towards: keys >= `upper` end a forward walk, keys < `lower` a reverse one.
        try withBytes(orNil: reverse ? range.lower : range.upper) { (end) throws(MapStoreError) in
            _ = try walk(&cursor, forward: !reverse, end: end) { (key, value) -> Bool in
                do { try body(key, value) } catch {
                    failure = error
                    return false
                }
                return true
            }
        }
        if let failure { throw failure }
    }

    /// The scan loop under ``forEach(in:reverse:_:)`` and ``Cursor/walk(reverse:_:)``: lends
    /// each data entry from the cursor's position on (table descriptors skipped) to `body`
    /// until `body` returns false, a key passes `end`, or the tree ends. Returns true when
    /// `body` stopped it (the cursor is on that entry). A change to the transaction's trees
    /// made inside `body` throws: the pages the walk stands on may be gone.
    @inline(__always)
    final func walk(_ cursor: inout TreeCursor<TransactionPages>, forward: Bool, end: UnsafeRawBufferPointer?,
                    _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) throws(MapStoreError) -> Bool {
        let generation = self.generation
        var stopped = false
        _ = try cursor.walk(forward: forward) { (page, entry) throws(MapStoreError) -> Bool in
            if let end {
                let order = compareKeys(entry.key, end)
                if forward ? order >= 0 : order < 0 { return false }
            }
            if entry.isTable { return true }
            // `leafEntry(inRange:)` checked that the inline value lies in the page.
            let value = entry.isOverflow ? try TreeReader(space: pages).value(of: entry, in: page)
                : page.uncheckedSlice(entry.valueOffset, entry.valueLength)
            let goOn = body(entry.key, value)
            guard self.generation == generation else {
                throw MapStoreError.invalidArgument(reason: "the tree changed inside a forEach or walk body")
            }
            if !goOn { stopped = true }
            return goOn
        }
        return stopped
    }
}

extension Table {
    /// Lends every entry of the table in `range` to `body`, in key order (or reverse),
    /// zero-copy; see ``ReadTransaction/forEach(in:reverse:_:)``.
    public func forEach(in range: KeyRange = .all, reverse: Bool = false,
                        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) throws {
        try transaction.forEach(in: range, reverse: reverse, tree: id, body)
    }
}

/// Lends the bytes of `array`, or nil, to `body`, keeping `body`'s typed error.
@inline(__always)
private func withBytes<R>(orNil array: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
    guard let array else { return try body(nil) }
    return try withBytes(of: array) { (bytes) throws(MapStoreError) in try body(bytes) }
}
