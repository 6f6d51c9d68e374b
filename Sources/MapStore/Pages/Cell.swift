/// Cell formats of branch and leaf pages (docs/format.md, "Branch and leaf pages"): the one
/// place that knows where a field sits inside a cell.
///
/// ```
/// leaf cell:   keyLength u16 | flags u8 | 0 u8 | valueLength u32 | key | value
///              (flags & overflow: the value lives in an overflow run and the cell holds its first page, u64)
/// branch cell: child u64 | keyLength u16 | key      (cell 0's key is empty: it stands for "below everything")
/// ```
/// Slots (u16 offsets of the cells, in key order) follow the page header; cells fill the page from its end.
@usableFromInline
enum Cell {
    @usableFromInline static let leafHeader = 8
    @usableFromInline static let branchHeader = 10
    @usableFromInline static let slotSize = 2
    /// The value is in an overflow run.
    @usableFromInline static let overflow: UInt8 = 1
    /// The value is a table descriptor (main tree only).
    @usableFromInline static let table: UInt8 = 2
    /// Bytes an overflow reference (the run's first page number) takes in a leaf cell.
    @usableFromInline static let overflowReferenceSize = 8

    // Field offsets inside a cell.
    @usableFromInline static let leafKeyLengthOffset = 0
    @usableFromInline static let leafFlagsOffset = 2
    @usableFromInline static let leafReservedOffset = 3
    @usableFromInline static let leafValueLengthOffset = 4
    @usableFromInline static let branchChildOffset = 0
    @usableFromInline static let branchKeyLengthOffset = 8

    /// Where slot `index` sits in its page: after the header, two bytes a slot.
    @inlinable @inline(__always)
    static func slotPosition(_ index: Int) -> Int { PageLayout.headerSize &+ slotSize &* index }

    /// The end of a slot array of `count` slots: where the free gap begins.
    @inlinable @inline(__always)
    static func slotsEnd(count: Int) -> Int { slotPosition(count) }

    // MARK: Cells outside a page

    // A split gathers cells as byte strings (copies of a page's cells, or a new cell built
    // aside) before it writes them into the two halves; these read such a string.

    /// The key of the leaf cell `cell` (the cell's own bytes), checked to lie in it.
    static func leafKey(of cell: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        precondition(cell.count >= leafHeader, "leaf cell shorter than its header")
        let keyLength = Int(UInt16(littleEndian: cell.loadUnaligned(fromByteOffset: leafKeyLengthOffset, as: UInt16.self)))
        precondition(leafHeader + keyLength <= cell.count, "leaf cell key runs past the cell")
        return UnsafeRawBufferPointer(rebasing: cell[leafHeader..<(leafHeader + keyLength)])
    }

    /// The child page number of the branch cell `cell` (the cell's own bytes).
    static func branchChild(of cell: UnsafeRawBufferPointer) -> UInt64 {
        precondition(cell.count >= branchHeader, "branch cell shorter than its header")
        return UInt64(littleEndian: cell.loadUnaligned(fromByteOffset: branchChildOffset, as: UInt64.self))
    }

    /// The key of the branch cell `cell` (the cell's own bytes), checked to lie in it.
    static func branchKey(of cell: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        precondition(cell.count >= branchHeader, "branch cell shorter than its header")
        let keyLength = Int(UInt16(littleEndian: cell.loadUnaligned(fromByteOffset: branchKeyLengthOffset, as: UInt16.self)))
        precondition(branchHeader + keyLength <= cell.count, "branch cell key runs past the cell")
        return UnsafeRawBufferPointer(rebasing: cell[branchHeader..<(branchHeader + keyLength)])
    }
}

/// How a kind of cell holds its key: the header before the key and where the key's length
/// sits in it. Lets one binary search serve leaf and branch pages (the value is a constant
/// where the search is inlined, so the loads fold to fixed offsets).
@usableFromInline
struct CellKeyFormat {
    /// Bytes of cell header before the key.
    @usableFromInline let header: Int
    /// Offset of the 16-bit key length inside the cell.
    @usableFromInline let keyLengthOffset: Int

    @inlinable init(header: Int, keyLengthOffset: Int) {
        self.header = header
        self.keyLengthOffset = keyLengthOffset
    }

    /// A leaf cell's key: after 8 header bytes, its length at 0.
    @inlinable static var leaf: CellKeyFormat { CellKeyFormat(header: Cell.leafHeader, keyLengthOffset: Cell.leafKeyLengthOffset) }
    /// A branch cell's key: after 10 header bytes, its length at 8.
    @inlinable static var branch: CellKeyFormat { CellKeyFormat(header: Cell.branchHeader, keyLengthOffset: Cell.branchKeyLengthOffset) }
}

/// The slots and cells of a branch or leaf page.
///
/// Two sets of accessors: the checked ones (every read and write is bounds-checked, and
/// traps past the page) for pages the tree has validated or is building; and the `unchecked`
/// ones for the tree's hot paths (a binary search, a cursor step, the check of every cell of
/// a page a writer copies), whose callers have just checked the offset against
/// ``Page/size`` themselves, with the check that also decides which error to throw.
extension Page {
    // MARK: Slots

    /// The cell offset slot `index` holds, for a slot the caller knows lies in the page (the
    /// slot array was checked against the page when the node was opened).
    @inlinable @inline(__always)
    func uncheckedSlot(_ index: Int) -> Int { uncheckedU16(Cell.slotPosition(index)) }

    /// The cell offset slot `index` holds.
    @inlinable @inline(__always)
    func slot(_ index: Int) -> Int { u16(Cell.slotPosition(index)) }

    /// Points slot `index` at the cell at `offset`.
    @inlinable @inline(__always)
    func setSlot(_ index: Int, _ offset: Int) { setU16(Cell.slotPosition(index), offset) }

    // MARK: Keys

    /// The length of the key of the cell at `offset` in `format`, for a cell whose header
    /// the caller has checked to end in the page.
    @inlinable @inline(__always)
    func uncheckedKeyLength(ofCellAt offset: Int, _ format: CellKeyFormat) -> Int {
        uncheckedU16(offset &+ format.keyLengthOffset)
    }

    // MARK: Leaf cells

    /// The key length of the leaf cell at `offset`, whose header the caller has checked to
    /// end in the page.
    @inlinable @inline(__always)
    func uncheckedLeafKeyLength(at offset: Int) -> Int { uncheckedU16(offset &+ Cell.leafKeyLengthOffset) }

    /// The flags (``Cell/overflow``, ``Cell/table``) of the leaf cell at `offset`, whose
    /// header the caller has checked to end in the page.
    @inlinable @inline(__always)
    func uncheckedLeafFlags(at offset: Int) -> UInt8 { uncheckedU8(offset &+ Cell.leafFlagsOffset) }

    /// The value length of the leaf cell at `offset` (the whole value's, also when it is in
    /// an overflow run), whose header the caller has checked to end in the page.
    @inlinable @inline(__always)
    func uncheckedLeafValueLength(at offset: Int) -> Int { Int(uncheckedU32(offset &+ Cell.leafValueLengthOffset)) }

    /// Bytes of the leaf cell at `offset` (without its slot), read from its header
    /// (bounds-checked; the cell's end is not).
    @inlinable
    func leafCellSize(at offset: Int) -> Int {
        let keyLength = u16(offset + Cell.leafKeyLengthOffset)
        let overflow = u8(offset + Cell.leafFlagsOffset) & Cell.overflow != 0
        return Cell.leafHeader + keyLength + (overflow ? Cell.overflowReferenceSize : Int(u32(offset + Cell.leafValueLengthOffset)))
    }

    /// Writes a leaf cell at `offset`; `stored` is the inline value, or the 8-byte overflow
    /// page number when `flags` has ``Cell/overflow``.
    @inlinable
    func writeLeafCell(at offset: Int, key: UnsafeRawBufferPointer, flags: UInt8, valueLength: Int, stored: UnsafeRawBufferPointer) {
        setU16(offset + Cell.leafKeyLengthOffset, key.count)
        setU8(offset + Cell.leafFlagsOffset, flags)
        setU8(offset + Cell.leafReservedOffset, 0)
        setU32(offset + Cell.leafValueLengthOffset, UInt32(valueLength))
        write(key, at: offset + Cell.leafHeader)
        write(stored, at: offset + Cell.leafHeader + key.count)
    }

    // MARK: Branch cells

    /// The child page number of the branch cell at `offset`, whose header the caller has
    /// checked to end in the page.
    @inlinable @inline(__always)
    func uncheckedBranchChild(at offset: Int) -> UInt64 { uncheckedU64(offset &+ Cell.branchChildOffset) }

    /// The key length of the branch cell at `offset`, whose header the caller has checked
    /// to end in the page.
    @inlinable @inline(__always)
    func uncheckedBranchKeyLength(at offset: Int) -> Int { uncheckedU16(offset &+ Cell.branchKeyLengthOffset) }

    /// The child page number of the branch cell at `offset`.
    @inlinable @inline(__always)
    func branchChild(at offset: Int) -> UInt64 { u64(offset &+ Cell.branchChildOffset) }

    /// Points the branch cell at `offset` at page `child`.
    @inlinable @inline(__always)
    func setBranchChild(at offset: Int, _ child: UInt64) { setU64(offset &+ Cell.branchChildOffset, child) }

    /// The key of the branch cell at `offset` (bounds-checked).
    @inlinable
    func branchKey(at offset: Int) -> UnsafeRawBufferPointer {
        slice(offset + Cell.branchHeader, u16(offset + Cell.branchKeyLengthOffset))
    }

    /// Bytes of the branch cell at `offset` (without its slot), read from its header
    /// (bounds-checked; the cell's end is not).
    @inlinable
    func branchCellSize(at offset: Int) -> Int { Cell.branchHeader + u16(offset + Cell.branchKeyLengthOffset) }

    /// Writes a branch cell at `offset`: the child page number and the key.
    @inlinable
    func writeBranchCell(at offset: Int, child: UInt64, key: UnsafeRawBufferPointer) {
        setU64(offset + Cell.branchChildOffset, child)
        setU16(offset + Cell.branchKeyLengthOffset, key.count)
        write(key, at: offset + Cell.branchHeader)
    }
}
