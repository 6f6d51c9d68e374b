/// The entries of a range, one `(key, value)` copy at a time, in key order or reverse.
///
/// ``next()`` throws where the scan meets damage, so a loop over a damaged range stops at
/// the damaged page with the error instead of ending as if the range were complete:
///
/// ```swift
/// var scan = txn.scan(.prefix("user:"))
/// while let (key, value) = try scan.next() { ... }
/// ```
///
/// Obtained from ``ReadTransaction/scan(_:reverse:)`` or ``Table/scan(_:reverse:)`` and valid
/// only inside that transaction's closure. Inside a write transaction the loop may change the
/// tree (delete what it reads, say): the scan notices and goes on just past the last key it
/// returned. For a small range, ``ReadTransaction/entries(in:reverse:limit:)`` collects it in
/// one call; for many entries, ``ReadTransaction/forEach(in:reverse:_:)-(_,_,(RawSpan,RawSpan)->Void)`` lends them without
/// copying.
///
/// A scan is not a `Sequence`: a sequence's iterator cannot throw, so a `for`-`in` loop
/// could only end early on damage, with nothing in the loop to tell.
public struct Scan {
    let transaction: ReadTransaction
    let tree: TreeID
    let range: KeyRange
    let reverse: Bool
    /// Pointed at the tree by the first ``next()`` and again after any change to the tree.
    var cursor: TreeCursor<TransactionPages>
    /// Whether `cursor` is on the entry last returned, as the tree was at `generation`.
    var isPositioned = false
    var generation: UInt64 = 0
    /// Past the end, or failed: ``next()`` returns nil, or throws `failure` again.
    var isOver = false
    var failure: MapStoreError?
    /// The last key returned: where a scan goes on after the tree changed under it.
    var lastKey: [UInt8]?

    init(transaction: ReadTransaction, tree: TreeID, range: KeyRange, reverse: Bool) {
        self.transaction = transaction
        self.tree = tree
        self.range = range
        self.reverse = reverse
        cursor = TreeCursor(source: transaction.pages, tree: TreeRoot(), pageCount: 0)
    }

    /// The next entry, copied, or nil past the end of the range.
    ///
    /// Throws ``MapStoreError/corrupted(page:reason:)`` naming the page when the scan meets
    /// damage, and ``MapStoreError/invalidArgument(reason:)`` once the transaction's closure
    /// has returned. After a throw the scan is over: every later call throws the same error,
    /// so a retry never reads as a normal end.
    public mutating func next() throws(MapStoreError) -> (key: [UInt8], value: [UInt8])? {
        // Plain flags rather than one enum holding the error: setting them per entry costs
        // no release of an old payload.
        if isOver {
            if let failure { throw failure }
            return nil
        }
        do throws(MapStoreError) {
            try transaction.checkActive()
            let here = isPositioned && generation == transaction.generation ? try cursor.advance(forward: !reverse) : try position()
            guard let entry = try entry(from: here) else {
                isOver = true
                return nil
            }
            return entry
        } catch {
            failure = error
            isOver = true
            throw error
        }
    }

    /// Points the cursor at the tree as the transaction sees it now: at the start of the
    /// range, or (after a change) just past the last key returned. Returns the entry there.
    private mutating func position() throws(MapStoreError) -> (page: Page, entry: LeafEntry)? {
        cursor.rebase(tree: try transaction.root(of: tree), pageCount: transaction.pages.pageCount)
        generation = transaction.generation
        isPositioned = true
        let moved: Bool
        if let lastKey {
            moved = reverse ? try cursor.seek(below: lastKey) : try cursor.seek(after: lastKey)
        } else {
            moved = try cursor.start(of: range, reverse: reverse)
        }
        return moved ? try cursor.here() : nil
    }

    /// The first data entry from `here` on (table descriptors skipped), copied, or nil when
    /// the range or the tree ends first.
    private mutating func entry(from here: (page: Page, entry: LeafEntry)?) throws(MapStoreError) -> (key: [UInt8], value: [UInt8])? {
        var here = here
        while let (page, entry) = here {
            if reverse ? range.isBelow(entry.key) : range.isAbove(entry.key) { return nil }
            if entry.isTable {
                here = try cursor.advance(forward: !reverse)
                continue
            }
            let key = Array(entry.key)
            // The cursor decoded the cell with `leafEntry`, which checked that an inline value lies in the page.
            let value = entry.isOverflow ? Array(try TreeReader(space: transaction.pages).value(of: entry, in: page))
                : Array(page.uncheckedSlice(entry.valueOffset, entry.valueLength))
            lastKey = key
            return (key, value)
        }
        return nil
    }
}

/// Not a sequence: only here so that a `for`-`in` loop or `Array(_:)` over a scan fails to
/// compile with a message that says what to write instead.
@available(*, unavailable, message: "a scan throws where it meets damage: loop with `while let (key, value) = try scan.next()`, collect with `try txn.entries(in:)`, or lend without copying with `try txn.forEach(in:)`")
extension Scan: Sequence {
    /// Unavailable: see ``Scan``.
    public func makeIterator() -> IndexingIterator<[(key: [UInt8], value: [UInt8])]> {
        preconditionFailure("Scan is not a Sequence")
    }
}

extension ReadTransaction {
    /// The entries of the main tree in `range`, in key order (or reverse), as copies: a
    /// ``Scan`` whose ``Scan/next()`` throws where it meets damage.
    ///
    /// ```swift
    /// var scan = txn.scan(.prefix("user:"))
    /// while let (key, value) = try scan.next() { ... }
    /// ```
    public final func scan(_ range: KeyRange = .all, reverse: Bool = false) -> Scan {
        Scan(transaction: self, tree: .main, range: range, reverse: reverse)
    }

    /// The entries of the main tree in `range`, in key order (or reverse), copied into an
    /// array: at most `limit` of them, the first ones in the scan's order (with `reverse`,
    /// the last keys of the range); `limit` must not be negative. For small ranges and
    /// tests: a damaged page throws, and nothing is returned.
    public final func entries(in range: KeyRange = .all, reverse: Bool = false,
                              limit: Int = .max) throws(MapStoreError) -> [(key: [UInt8], value: [UInt8])] {
        var scan = scan(range, reverse: reverse)
        return try scan.collect(limit: limit)
    }
}

extension Table {
    /// The entries of the table in `range`, in key order (or reverse), as copies; see
    /// ``ReadTransaction/scan(_:reverse:)``.
    public func scan(_ range: KeyRange = .all, reverse: Bool = false) -> Scan {
        Scan(transaction: transaction, tree: id, range: range, reverse: reverse)
    }

    /// The entries of the table in `range`, copied into an array, at most `limit` of them;
    /// see ``ReadTransaction/entries(in:reverse:limit:)``.
    public func entries(in range: KeyRange = .all, reverse: Bool = false,
                        limit: Int = .max) throws(MapStoreError) -> [(key: [UInt8], value: [UInt8])] {
        var scan = scan(range, reverse: reverse)
        return try scan.collect(limit: limit)
    }
}

extension Scan {
    /// The next `limit` entries (or all that are left), copied into an array.
    mutating func collect(limit: Int) throws(MapStoreError) -> [(key: [UInt8], value: [UInt8])] {
        precondition(limit >= 0, "a negative limit (\(limit))")
        var entries: [(key: [UInt8], value: [UInt8])] = []
        while entries.count < limit, let entry = try next() { entries.append(entry) }
        return entries
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
    ///
    /// `key` and `value` are `RawSpan`s: the compiler keeps them inside `body`. (The
    /// `UnsafeRawBufferPointer` form is chosen for a closure that uses the buffer's API.)
    public final func forEach(in range: KeyRange = .all, reverse: Bool = false,
                              _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Void) throws {
        try forEach(in: range, reverse: reverse, tree: .main) { key, value in try body(key.bytes, value.bytes) }
    }

    /// Lends every entry of the main tree in `range` to `body` as buffers into the map, valid
    /// only during the call; see ``forEach(in:reverse:_:)-(_,_,(RawSpan,RawSpan)->Void)``.
    @_disfavoredOverload
    public final func forEach(in range: KeyRange = .all, reverse: Bool = false,
                              _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) throws {
        try forEach(in: range, reverse: reverse, tree: .main, body)
    }

    final func forEach(in range: KeyRange, reverse: Bool, tree: TreeID,
                       _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) throws {
        try checkActive()
        var cursor = TreeCursor(source: pages, tree: try root(of: tree), pageCount: pages.pageCount)
        guard try cursor.start(of: range, reverse: reverse) else { return }
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
    /// Lends every entry of the table in `range` to `body` as `RawSpan`s, in key order (or
    /// reverse), zero-copy; see ``ReadTransaction/forEach(in:reverse:_:)-(_,_,(RawSpan,RawSpan)->Void)``.
    public func forEach(in range: KeyRange = .all, reverse: Bool = false,
                        _ body: (_ key: RawSpan, _ value: RawSpan) throws -> Void) throws {
        try transaction.forEach(in: range, reverse: reverse, tree: id) { key, value in try body(key.bytes, value.bytes) }
    }

    /// Lends every entry of the table in `range` to `body` as buffers into the map, valid only
    /// during the call; see ``ReadTransaction/forEach(in:reverse:_:)-(_,_,(RawSpan,RawSpan)->Void)``.
    @_disfavoredOverload
    public func forEach(in range: KeyRange = .all, reverse: Bool = false,
                        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) throws {
        try transaction.forEach(in: range, reverse: reverse, tree: id, body)
    }
}

extension TreeCursor {
    /// Moves to where a scan of `range` starts: the first entry `>=` its lower bound, or with
    /// `reverse` the last one below its upper bound; false when there is none that way. The
    /// scan itself stops at the range's other end.
    mutating func start(of range: KeyRange, reverse: Bool) throws(MapStoreError) -> Bool {
        if reverse {
            guard let upper = range.upper else { return try last() }
            return try seek(below: upper)
        }
        guard let lower = range.lower else { return try first() }
        return try withBytes(of: lower) { (key) throws(MapStoreError) in try seek(key) }
    }

    /// Moves to the last entry whose key is `<` `key`; false when there is none.
    mutating func seek(below key: [UInt8]) throws(MapStoreError) -> Bool {
        let found = try withBytes(of: key) { (key) throws(MapStoreError) in try seek(key) }
        return found ? try previous() : try last()
    }

    /// Moves to the first entry whose key is `>` `key`; false when there is none.
    mutating func seek(after key: [UInt8]) throws(MapStoreError) -> Bool {
        guard try withBytes(of: key, { (key) throws(MapStoreError) in try seek(key) }) else { return false }
        let (_, entry) = try current()
        let same = key.withUnsafeBytes { compareKeys(entry.key, $0) == 0 }
        return same ? try next() : true
    }
}

/// Lends the bytes of `array`, or nil, to `body`, keeping `body`'s typed error.
@inline(__always)
private func withBytes<R>(orNil array: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
    guard let array else { return try body(nil) }
    return try withBytes(of: array) { (bytes) throws(MapStoreError) in try body(bytes) }
}
