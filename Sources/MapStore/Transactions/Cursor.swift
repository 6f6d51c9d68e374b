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
    /// `withCurrent` per entry.
    ///
    /// Returns true when `body` stopped the walk: the cursor is then on the entry `body` was
    /// given last (``next()`` goes on after it). Returns false when the entries ran out (or
    /// the cursor was on none): the cursor is then past the end. `key` and `value` are valid
    /// only during the call (as `RawSpan`s, the compiler keeps them there); `body` must not
    /// change the database (that throws ``MapStoreError/invalidArgument(reason:)``), and an
    /// error it throws is rethrown with the cursor on the entry that threw.
    public func walk(reverse: Bool = false, _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Bool) throws -> Bool {
        try walk(reverse: reverse) { (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) in try body(key.bytes, value.bytes) }
    }

    /// Lends the entries from the cursor on to `body` as buffers into the map, valid only during
    /// the call; see ``walk(reverse:_:)-(_,(RawSpan,RawSpan)->Bool)``.
    @_disfavoredOverload
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

    /// Lends the key and value under the cursor, zero-copy, to `body` as `RawSpan`s, which the
    /// compiler keeps inside it.
    @inlinable
    public func withCurrent<R>(_ body: (RawSpan, RawSpan) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
        let (key, value) = try currentBytes()
        return try body(key.bytes, value.bytes)
    }

    /// Lends the key and value under the cursor, zero-copy, to `body`, valid only during the call.
    @inlinable @_disfavoredOverload
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
