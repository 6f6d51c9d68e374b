/// Size limits that follow from the page size.
@usableFromInline
struct NodeLimits: Sendable {
    @usableFromInline let pageSize: Int

    @inlinable init(pageSize: Int) { self.pageSize = pageSize }

    /// The largest cell plus its slot: a quarter of the page's cell area, so any page holds
    /// at least four cells and a split always leaves both halves non-empty and fitting.
    @inlinable var maxCell: Int { (pageSize - PageLayout.headerSize) / 4 }
    /// The largest key: a leaf cell with an overflow reference must still fit in ``maxCell``.
    /// 998 bytes on 4 KiB pages (LMDB's default limit is 511).
    @inlinable var maxKeySize: Int { maxCell - Cell.slotSize - Cell.leafHeader - 8 }
    /// Whether a value is stored inside the leaf (else in an overflow run).
    @inlinable func isInline(keyLength: Int, valueLength: Int) -> Bool {
        Cell.slotSize + Cell.leafHeader + keyLength + valueLength <= maxCell
    }
    /// Pages in the overflow run of a value of `length` bytes.
    @inlinable func overflowPages(valueLength length: Int) -> Int {
        (PageLayout.headerSize + length + pageSize - 1) / pageSize
    }
}

/// A leaf entry as found in a page: where its key is and what its value is.
@usableFromInline
struct LeafEntry {
    @usableFromInline var key: UnsafeRawBufferPointer
    @usableFromInline var flags: UInt8
    @usableFromInline var valueLength: Int
    /// Offset of the inline value or of the overflow page number, within the page.
    @usableFromInline var valueOffset: Int
    /// Bytes of the cell (without its slot).
    @usableFromInline var cellSize: Int

    @inlinable init(key: UnsafeRawBufferPointer, flags: UInt8, valueLength: Int, valueOffset: Int, cellSize: Int) {
        self.key = key
        self.flags = flags
        self.valueLength = valueLength
        self.valueOffset = valueOffset
        self.cellSize = cellSize
    }

    @inlinable var isOverflow: Bool { flags & Cell.overflow != 0 }
    @inlinable var isTable: Bool { flags & Cell.table != 0 }
}

/// A branch or leaf page, opened with its header checked; every cell read is bounds-checked.
@usableFromInline
struct Node {
    @usableFromInline let page: Page
    @usableFromInline let number: UInt64
    @usableFromInline let count: Int
    @usableFromInline let isLeaf: Bool

    /// Opens page `number` as a tree node, checking the header fields a search relies on.
    /// (Inlined into each step down a tree; the messages are built out of line.)
    @inlinable @inline(__always)
    init(_ page: Page, number: UInt64) throws(MapStoreError) {
        // One check covers the four header fields read here (a page view is at least a page).
        precondition(page.size >= PageLayout.headerSize, "page read out of bounds")
        let kind = page.uncheckedU8(PageLayout.kindOffset)
        guard kind == PageKind.leaf.rawValue || kind == PageKind.branch.rawValue else {
            throw Node.wrongKind(number, kind)
        }
        let stored = page.uncheckedU64(PageLayout.numberOffset)
        guard stored == number else {
            throw Node.wrongNumber(number, stored)
        }
        let count = page.uncheckedU16(PageLayout.countOffset)
        let slotsEnd = Cell.slotsEnd(count: count)
        let upper = page.uncheckedU16(PageLayout.upperOffset)
        guard slotsEnd <= upper, upper <= page.size else {
            throw Node.slotsDoNotFit(number, count, upper)
        }
        self.page = page
        self.number = number
        self.count = count
        self.isLeaf = kind == PageKind.leaf.rawValue
    }

    // A damaged header's errors, built out of line so the inlined checks stay small.
    @usableFromInline @inline(never)
    static func wrongKind(_ number: UInt64, _ kind: UInt8) -> MapStoreError {
        MapStoreError.corrupted(page: number, reason: "expected a tree page, found kind \(kind)")
    }

    @usableFromInline @inline(never)
    static func wrongNumber(_ number: UInt64, _ stored: UInt64) -> MapStoreError {
        MapStoreError.corrupted(page: number, reason: "page header says it is page \(stored)")
    }

    @usableFromInline @inline(never)
    static func slotsDoNotFit(_ number: UInt64, _ count: Int, _ upper: Int) -> MapStoreError {
        MapStoreError.corrupted(page: number, reason: "\(count) slots and cell area at \(upper) do not fit the page")
    }

    @inlinable var upper: Int { page.upper }
    @inlinable var slotsEnd: Int { Cell.slotsEnd(count: count) }

    @inlinable @inline(__always)
    func corrupted(_ reason: String) -> MapStoreError {
        MapStoreError.corrupted(page: number, reason: reason)
    }

    /// The offset of cell `index`, checked to lie in the cell area.
    @inlinable @inline(__always)
    func cellOffset(_ index: Int) throws(MapStoreError) -> Int {
        guard index >= 0, index < count else { throw corrupted("cell \(index) of \(count)") }
        return try slotOffset(index)
    }

    /// The offset of cell `index` for an index the caller keeps in `0..<count` (a binary
    /// search's midpoint), checked to lie in the cell area.
    @inlinable @inline(__always)
    func slotOffset(_ index: Int) throws(MapStoreError) -> Int {
        // The slot array lies inside the page: checked when the node was opened.
        let offset = page.uncheckedSlot(index)
        guard offset >= slotsEnd, offset < page.size else {
            throw corrupted("slot \(index) points at \(offset), outside the cell area")
        }
        return offset
    }

    /// The key of the cell at `offset` (in a leaf or branch cell's `format`), checked to lie
    /// inside the page: the one place every key read goes through.
    @inlinable @inline(__always)
    func key(ofCellAt offset: Int, _ format: CellKeyFormat, index: Int) throws(MapStoreError) -> UnsafeRawBufferPointer {
        // `offset` (a slot) and the key length are 16-bit: the sums cannot overflow.
        guard offset &+ format.header <= page.size else { throw corrupted("cell \(index) header runs past the page end") }
        let keyLength = page.uncheckedKeyLength(ofCellAt: offset, format)
        guard offset &+ format.header &+ keyLength <= page.size else { throw corrupted("cell \(index) key runs past the page end") }
        return page.uncheckedSlice(offset &+ format.header, keyLength)
    }

    // MARK: Leaf cells

    @inlinable @inline(__always)
    func leafEntry(_ index: Int) throws(MapStoreError) -> LeafEntry {
        guard index >= 0, index < count else { throw corrupted("cell \(index) of \(count)") }
        return try leafEntry(inRange: index)
    }

    /// Leaf cell `index`, `index` in `0..<count` (a cursor's or scan's position), decoded
    /// with the fewest checks that keep every byte it lends inside the page: the slot points
    /// past the slot array, the cell's header and its key and stored value end in the page.
    /// (Offsets and lengths are 16- and 32-bit fields, so the sums cannot overflow.)
    @inlinable @inline(__always)
    func leafEntry(inRange index: Int) throws(MapStoreError) -> LeafEntry {
        let offset = page.uncheckedSlot(index)
        let size = page.size
        guard offset >= slotsEnd, offset &+ Cell.leafHeader <= size else {
            throw corrupted("slot \(index) points at \(offset), outside the cell area or too near the page end")
        }
        let keyLength = page.uncheckedLeafKeyLength(at: offset)
        let flags = page.uncheckedLeafFlags(at: offset)
        let valueLength = page.uncheckedLeafValueLength(at: offset)
        let keyStart = offset &+ Cell.leafHeader
        let stored = flags & Cell.overflow != 0 ? Cell.overflowReferenceSize : valueLength
        let cellSize = Cell.leafHeader &+ keyLength &+ stored
        guard offset &+ cellSize <= size else {
            throw corrupted("cell \(index) (key \(keyLength) bytes, value \(stored) bytes) runs past the page end")
        }
        return LeafEntry(key: page.uncheckedSlice(keyStart, keyLength), flags: flags, valueLength: valueLength,
                         valueOffset: keyStart &+ keyLength, cellSize: cellSize)
    }

    @inlinable @inline(__always)
    func leafKey(_ index: Int) throws(MapStoreError) -> UnsafeRawBufferPointer {
        try key(ofCellAt: try cellOffset(index), .leaf, index: index)
    }

    /// The index of `key`, or where it would be inserted.
    @inlinable
    func searchLeaf(_ key: UnsafeRawBufferPointer) throws(MapStoreError) -> (index: Int, found: Bool) {
        var low = 0
        var high = count
        guard low < high else { return (0, false) }
        let probe = try SearchProbe(self, .leaf, key: key)
        probe.prefetchFirstSteps(low, high)
        while low < high {
            let mid = (low &+ high) >> 1
            let c = try probe.compare(mid)
            if c == 0 { return (mid, true) }
            if c < 0 { low = mid &+ 1 } else { high = mid }
        }
        return (low, false)
    }

    // MARK: Branch cells

    @inlinable @inline(__always)
    func branchChild(_ index: Int) throws(MapStoreError) -> UInt64 {
        let offset = try cellOffset(index)
        guard offset + Cell.branchHeader <= page.size else { throw corrupted("cell \(index) header runs past the page end") }
        return page.branchChild(at: offset)
    }

    @inlinable @inline(__always)
    func branchKey(_ index: Int) throws(MapStoreError) -> UnsafeRawBufferPointer {
        try key(ofCellAt: try cellOffset(index), .branch, index: index)
    }

    /// The child of branch cell `index`, `index` in `0..<count` (what ``searchBranch(_:)``
    /// returns), checked to lie in the page.
    @inlinable @inline(__always)
    func branchChild(inRange index: Int) throws(MapStoreError) -> UInt64 {
        let offset = try slotOffset(index)
        guard offset &+ Cell.branchHeader <= page.size else { throw corrupted("cell \(index) header runs past the page end") }
        return page.uncheckedBranchChild(at: offset)
    }

    /// The child index whose subtree holds `key`: the last cell whose key is <= `key`
    /// (cell 0 stands for everything below cell 1).
    @inlinable
    func searchBranch(_ key: UnsafeRawBufferPointer) throws(MapStoreError) -> Int {
        guard count > 0 else { throw corrupted("branch page with no children") }
        var low = 1
        var high = count
        guard low < high else { return 0 }
        let probe = try SearchProbe(self, .branch, key: key)
        probe.prefetchFirstSteps(low, high)
        while low < high {
            let mid = (low &+ high) >> 1
            if try probe.compare(mid) <= 0 { low = mid &+ 1 } else { high = mid }
        }
        return low &- 1
    }

    /// Bytes of cell `index` (without its slot), checked.
    @inlinable
    func cellSize(_ index: Int) throws(MapStoreError) -> Int {
        if isLeaf { return try leafEntry(index).cellSize }
        let key = try branchKey(index)
        return Cell.branchHeader + key.count
    }

    /// Checks every cell of the page; after this, mutation code can trust the page.
    ///
    /// A tight loop, as it runs on every page a write transaction edits: leaf and branch
    /// pages each get their own loop, a cell's start is checked with one unsigned comparison
    /// and its end with one more, and the reason for a bad cell is worked out afterwards by
    /// ``describeFirstBadCell()``. The checks are the same as there.
    func validateAll() throws(MapStoreError) {
        let size = page.size
        let cellsStart = slotsEnd
        let n = count
        guard n > 0 else { return }
        let header = isLeaf ? Cell.leafHeader : Cell.branchHeader
        // Node's init checked `cellsStart <= upper <= size`, so the slots lie in the page; a
        // cell header must start in `cellsStart ... size - header` (no room: every cell is bad).
        guard size &- header >= cellsStart else { return try describeFirstBadCell() }
        let span = UInt(bitPattern: size &- header &- cellsStart)
        var index = 0
        if isLeaf {
            while index < n {
                let offset = page.uncheckedSlot(index)
                guard UInt(bitPattern: offset &- cellsStart) <= span else { break }
                let keyLength = page.uncheckedLeafKeyLength(at: offset)
                let overflow = page.uncheckedLeafFlags(at: offset) & Cell.overflow != 0
                let valueLength = page.uncheckedLeafValueLength(at: offset)
                // Summed in this order (offset, header, key, then the stored value) the check
                // compiles to the fewest instructions a cell (measured with callgrind; other
                // orders cost one or two more).
                guard offset &+ Cell.leafHeader &+ keyLength &+ (overflow ? Cell.overflowReferenceSize : valueLength) <= size else { break }
                index &+= 1
            }
        } else {
            while index < n {
                let offset = page.uncheckedSlot(index)
                guard UInt(bitPattern: offset &- cellsStart) <= span else { break }
                guard offset &+ Cell.branchHeader &+ page.uncheckedBranchKeyLength(at: offset) <= size else { break }
                index &+= 1
            }
        }
        if index < n { try describeFirstBadCell() }
    }

    /// Throws the reason the first bad cell fails ``validateAll()`` (out of line: only a
    /// damaged page gets here).
    @inline(never)
    private func describeFirstBadCell() throws(MapStoreError) {
        let size = page.size
        let cellsStart = slotsEnd
        for index in 0..<count {
            let offset = page.slot(index)
            guard offset >= cellsStart else { throw corrupted("slot \(index) points at \(offset), outside the cell area") }
            let end: Int
            if isLeaf {
                guard offset + Cell.leafHeader <= size else { throw corrupted("cell \(index) header runs past the page end") }
                end = offset + page.leafCellSize(at: offset)
            } else {
                guard offset + Cell.branchHeader <= size else { throw corrupted("cell \(index) header runs past the page end") }
                end = offset + page.branchCellSize(at: offset)
            }
            guard end <= size else { throw corrupted("cell \(index) runs past the page end") }
        }
        throw corrupted("a cell fails the check")  // unreachable: the two checks are the same
    }
}

/// One binary search's view of a node: the page, the bounds a cell header must start in,
/// and the search key, loaded once. A probe reads slot `index` (in `0..<count`), checks with
/// one unsigned comparison that the cell's header lies between the slot array and the page
/// end, checks that the key ends in the page, and compares it with the search key.
@usableFromInline
struct SearchProbe {
    @usableFromInline let node: Node
    @usableFromInline let page: Page
    @usableFromInline let size: Int
    @usableFromInline let lowest: Int
    /// Cell offsets in `lowest ... lowest + span` leave room for the cell header.
    @usableFromInline let span: UInt
    @usableFromInline let format: CellKeyFormat
    @usableFromInline let key: SearchKey

    @inlinable @inline(__always)
    init(_ node: Node, _ format: CellKeyFormat, key: UnsafeRawBufferPointer) throws(MapStoreError) {
        self.node = node
        page = node.page
        size = node.page.size
        lowest = node.slotsEnd
        // A node with cells has room for one header after its slots; without that no probe
        // could pass, and the unsigned span below would wrap.
        guard size &- format.header >= lowest else { throw node.corrupted("no room for a cell after \(node.count) slots") }
        span = UInt(bitPattern: size &- format.header &- lowest)
        self.format = format
        self.key = SearchKey(key)
    }

    /// Starts loading the cells the first three steps of a binary search over `low..<high`
    /// may probe (seven cells), so that a page not in the cache costs about one wait for
    /// them instead of one per step. (Four steps, fifteen cells, measured slower.) Only
    /// hints: the slots read lie in the slot array, and the cells are not read, so their
    /// offsets need no check.
    @inlinable @inline(__always)
    func prefetchFirstSteps(_ low: Int, _ high: Int) {
        guard high &- low >= 16 else { return }
        // The search's step: mid = (low + high) / 2, then low = mid + 1 or high = mid.
        let mid = (low &+ high) >> 1
        let left = (low &+ mid) >> 1, right = (mid &+ 1 &+ high) >> 1
        for index in [mid, left, right, (low &+ left) >> 1, (left &+ 1 &+ mid) >> 1,
                      (mid &+ 1 &+ right) >> 1, (right &+ 1 &+ high) >> 1] {
            page.prefetch(page.uncheckedSlot(index))
        }
    }

    /// The order of cell `index`'s key against the search key (negative: the cell's is lower).
    @inlinable @inline(__always)
    func compare(_ index: Int) throws(MapStoreError) -> Int {
        // The slot lies in the slot array (index < count), checked when the node was opened.
        let offset = page.uncheckedSlot(index)
        guard UInt(bitPattern: offset &- lowest) <= span else { throw node.corrupted("slot \(index) points at \(offset), outside the cell area") }
        let keyLength = page.uncheckedKeyLength(ofCellAt: offset, format)
        let start = offset &+ format.header
        guard start &+ keyLength <= size else { throw node.corrupted("cell \(index) key runs past the page end") }
        return page.uncheckedCompare(start, keyLength, with: key)
    }
}
