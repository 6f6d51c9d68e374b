/// Changes to a writable tree page whose cells have all been validated.
///
/// The tree only edits pages that a write transaction has copied (and checked) first, so
/// the offsets and lengths here come from our own writes, not from the disk.
@usableFromInline
struct NodeEditor {
    @usableFromInline let page: Page

    @inlinable init(_ page: Page) { self.page = page }

    @inlinable var count: Int { page.count }
    @inlinable var upper: Int { page.upper }
    @inlinable var isLeaf: Bool { page.kind == PageKind.leaf.rawValue }
    @inlinable var slotsEnd: Int { Cell.slotsEnd(count: count) }
    /// Contiguous free bytes between the slot array and the cell area.
    @inlinable var contiguousFree: Int { upper - slotsEnd }
    /// Bytes a page can hold in slots and cells.
    @inlinable var capacity: Int { page.size - PageLayout.headerSize }

    /// The offset of cell `index` (its slot's value).
    @inlinable func offset(_ index: Int) -> Int { page.slot(index) }

    /// Bytes of the cell at `offset` (without its slot).
    @inlinable
    func cellSize(at offset: Int) -> Int {
        isLeaf ? page.leafCellSize(at: offset) : page.branchCellSize(at: offset)
    }

    @inlinable func cellSize(_ index: Int) -> Int { cellSize(at: offset(index)) }

    /// Bytes in use by slots and cells (holes left by removals excluded).
    func usedBytes() -> Int {
        var total = 0
        for index in 0..<count { total += cellSize(index) + Cell.slotSize }
        return total
    }

    /// Whether slots and cells use at least `bytes`; stops counting once they do (a page
    /// well above the merge threshold is not walked to its end).
    func usesAtLeast(_ bytes: Int) -> Bool {
        var total = 0
        for index in 0..<count {
            total += cellSize(index) + Cell.slotSize
            if total >= bytes { return true }
        }
        return total >= bytes
    }

    /// Makes the page an empty node of `kind`.
    @inlinable
    func reset(kind: PageKind) {
        let number = page.pageNumber
        let txn = page.txnID
        page.initialize(kind: kind, number: number, txnID: txn)
        page.setU16(PageLayout.upperOffset, page.size)
    }

    /// Opens a slot at `index` for a cell of `size` bytes and returns the cell's offset.
    /// The caller has checked `contiguousFree >= size + 2`.
    @inlinable
    func insertSlot(at index: Int, size: Int) -> Int {
        let n = count
        precondition(index <= n && contiguousFree >= size + Cell.slotSize, "node insert without room")
        let newUpper = upper - size
        let slot = Cell.slotPosition(index)
        page.move(from: slot, to: slot + Cell.slotSize, count: Cell.slotSize * (n - index))
        page.setSlot(index, newUpper)
        page.setU16(PageLayout.countOffset, n + 1)
        page.setU16(PageLayout.upperOffset, newUpper)
        return newUpper
    }

    /// Appends a copy of a cell (bytes from another page) as the last cell.
    @inlinable
    func append(cell: UnsafeRawBufferPointer) {
        let at = insertSlot(at: count, size: cell.count)
        page.write(cell, at: at)
    }

    /// Removes cell `index`'s slot; its bytes become a hole until the page is compacted, or
    /// are zeroed at once when `erasing` (``Options/secureDelete``).
    @inlinable
    func removeSlot(at index: Int, erasing: Bool) {
        // Zeroing a cell, or emptying the page (new cells then land where old ones were),
        // changes the old cells.
        if erasing || count == 1 { page.dropAppendedCells() }
        if erasing {
            let at = offset(index)
            page.zero(at, cellSize(at: at))
        }
        let n = count
        let slot = Cell.slotPosition(index)
        page.move(from: slot + Cell.slotSize, to: slot, count: Cell.slotSize * (n - index - 1))
        page.setU16(PageLayout.countOffset, n - 1)
        if n - 1 == 0 { page.setU16(PageLayout.upperOffset, page.size) }
    }

    /// The bytes of cell `index`.
    @inlinable
    func cell(_ index: Int) -> UnsafeRawBufferPointer {
        let at = offset(index)
        return page.slice(at, cellSize(at: at))
    }

    /// Rewrites the page without holes, using `scratch` (a page-sized buffer).
    func compact(scratch: Page) {
        scratch.copy(from: page)
        let source = NodeEditor(scratch)
        reset(kind: isLeaf ? .leaf : .branch)
        for index in 0..<source.count { append(cell: source.cell(index)) }
    }

    // MARK: Leaf cells

    /// Writes a leaf cell at `offset`; `stored` is the inline value, or the 8-byte overflow page number.
    @inlinable
    func writeLeafCell(at offset: Int, key: UnsafeRawBufferPointer, flags: UInt8, valueLength: Int, stored: UnsafeRawBufferPointer) {
        page.writeLeafCell(at: offset, key: key, flags: flags, valueLength: valueLength, stored: stored)
    }

    // MARK: Branch cells

    /// The child page number of branch cell `index`.
    @inlinable func child(_ index: Int) -> UInt64 { page.branchChild(at: offset(index)) }
    /// Points branch cell `index` at page `child`. In a copy whose checksum is patched edit by
    /// edit (``PageLayout/patchedChecksum``) the stored checksum follows; when it cannot, or
    /// after ``PageLayout/patchLimit`` pointers, the flag goes and sealing hashes the page.
    @inlinable func setChild(_ index: Int, _ child: UInt64) {
        let offset = offset(index)
        let flags = page.u8(PageLayout.flagsOffset)
        if flags & PageLayout.patchedChecksum != 0 {
            let field = offset &+ Cell.branchChildOffset
            let change = page.u64(field) ^ child
            let patched = flags / PageLayout.patchCountUnit < PageLayout.patchLimit
                && withUnsafePointer(to: change) { page.patchChecksum(at: field, changes: UnsafeBufferPointer(start: $0, count: 1)) }
            page.setU8(PageLayout.flagsOffset, patched ? flags &+ PageLayout.patchCountUnit : flags & ~PageLayout.patchedChecksum)
        }
        page.setBranchChild(at: offset, child)
    }

    /// The key of branch cell `index`.
    @inlinable
    func branchKey(_ index: Int) -> UnsafeRawBufferPointer { page.branchKey(at: offset(index)) }

    /// Inserts a branch cell at `index`; the caller has checked there is room.
    @inlinable
    func insertBranchCell(at index: Int, key: UnsafeRawBufferPointer, child: UInt64) {
        let at = insertSlot(at: index, size: Cell.branchHeader + key.count)
        page.writeBranchCell(at: at, child: child, key: key)
    }
}
