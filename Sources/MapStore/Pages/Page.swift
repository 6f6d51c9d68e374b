import CShims
#if canImport(Glibc)
import Glibc
#endif

/// The kinds of page in a data file; the byte at ``PageLayout/kindOffset``.
@usableFromInline
enum PageKind: UInt8, Sendable {
    case branch = 2
    case leaf = 3
    case overflow = 4
    case freeList = 5
    /// A commit's page list, when its meta page cannot hold it (``CommitRecord``).
    case commitRecord = 6
}

/// Where things sit in a page header (docs/format.md).
///
/// ```
/// 0..<8    checksum   of the meaningful bytes after it (CRC-32C, or XXH64 in version-1 files)
/// 8..<16   txnID      the transaction that wrote the page
/// 16..<24  pageNumber the page's own number (catches misdirected writes)
/// 24       kind       PageKind
/// 25       flags      0
/// 26..<28  count      slots (branch, leaf), 64-bit words (free list)
/// 28..<30  upper      start of the cell area (branch, leaf)
/// 28..<32  runLength  pages in the run (overflow, commit record)
/// 32...             slot array, then free space, then cells growing down from the end
/// ```
@usableFromInline
enum PageLayout {
    @usableFromInline static let checksumOffset = 0
    @usableFromInline static let txnOffset = 8
    @usableFromInline static let numberOffset = 16
    @usableFromInline static let kindOffset = 24
    /// Zero on disk. In a write transaction's own copy of a tree page, ``uncheckedCells``
    /// marks a copy whose cells are not validated yet; sealing resets it before the write.
    @usableFromInline static let flagsOffset = 25
    @usableFromInline static let uncheckedCells: UInt8 = 1
    /// With ``uncheckedCells``: the copy's stored CRC-32C is kept right edit by edit (its
    /// source's, patched for each field changed since: ``Page/patchChecksum(at:changes:)``),
    /// so sealing need not hash it. Any other edit first clears the flags (the cell check).
    @usableFromInline static let patchedChecksum: UInt8 = 2
    /// With ``patchedChecksum``, bits 2... count the child pointers patched so far. After
    /// ``patchLimit`` of them, hashing the page once at seal is cheaper than patching on (a
    /// batch rewrites many children of one branch): the flag goes.
    @usableFromInline static let patchCountUnit: UInt8 = 4
    @usableFromInline static let patchLimit: UInt8 = 4
    /// In a write transaction's copy of a leaf: the cells its source had, bytes
    /// `sourceUpper..<size`, are unchanged, and edits only added cells below them and changed
    /// the header and slots. The source's stored CRC-32C stays in bytes 0..<4, the CRC of the
    /// source's first covered part (bytes `8..<slotsEnd`) goes in bytes 4..<8, and
    /// `sourceUpper` in bytes 30..<32 (all zero on disk); sealing then hashes only the header,
    /// slots and new cells (``Page/sealAppendedLeaf()``). An edit of an old cell drops it
    /// first (``Page/dropAppendedCells()``).
    @usableFromInline static let appendedCells: UInt8 = 0x80
    /// Where a leaf copy with ``appendedCells`` keeps its source's `upper` until sealed.
    @usableFromInline static let sourceUpperOffset = 30
    /// Where it keeps the CRC of its source's header and slots: the high half of the
    /// checksum field, zero on disk.
    @usableFromInline static let sourcePrefixOffset = 4
    @usableFromInline static let countOffset = 26
    @usableFromInline static let upperOffset = 28
    @usableFromInline static let runLengthOffset = 28
    /// Bytes of header before the slot array.
    @usableFromInline static let headerSize = 32
    /// Pages 0 and 1 are the meta pages.
    @usableFromInline static let firstDataPage: UInt64 = 2
}

/// A view of one page (or a run of pages) in memory: the only place MapStore reads and
/// writes page bytes through a raw pointer (with Cell.swift, which reads a split's copies
/// of cells, and KeyOrder.swift, which compares keys).
///
/// Every accessor is little-endian and checks its offset against the page's size. Callers
/// validate offsets and lengths read from disk before using them (and throw
/// ``MapStoreError/corrupted(page:reason:)``); the checks here are a last line that turns a
/// missed validation into a trap instead of an out-of-bounds read. The `unchecked`
/// accessors are for the tree's hot paths, whose callers have just made that check
/// themselves; the cell layout on top of them is in Cell.swift.
///
/// The pointer is private to this file: nothing else in MapStore sees the address behind a
/// page, only the bytes these accessors lend. (So the accessors are `@usableFromInline`, not
/// `@inlinable`: nothing outside the module inlines them, and inside it the optimizer sees
/// them all.)
@usableFromInline
struct Page {
    private let bytes: UnsafeMutableRawPointer
    /// Bytes in this view (one page, or a whole overflow run).
    @usableFromInline let size: Int

    /// A view of the `size` bytes at `bytes`, which stay valid while the view is used.
    @usableFromInline @inline(__always)
    init(_ bytes: UnsafeMutableRawPointer, size: Int) {
        self.bytes = bytes
        self.size = size
    }

    @usableFromInline @inline(__always)
    func u8(_ offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < size, "page read out of bounds")
        return bytes.load(fromByteOffset: offset, as: UInt8.self)
    }

    @usableFromInline @inline(__always)
    func u16(_ offset: Int) -> Int {
        precondition(offset >= 0 && offset + 2 <= size, "page read out of bounds")
        return Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @usableFromInline @inline(__always)
    func u32(_ offset: Int) -> UInt32 {
        precondition(offset >= 0 && offset + 4 <= size, "page read out of bounds")
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @usableFromInline @inline(__always)
    func u64(_ offset: Int) -> UInt64 {
        precondition(offset >= 0 && offset + 8 <= size, "page read out of bounds")
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @usableFromInline @inline(__always)
    func setU8(_ offset: Int, _ value: UInt8) {
        precondition(offset >= 0 && offset < size, "page write out of bounds")
        bytes.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

    @usableFromInline @inline(__always)
    func setU16(_ offset: Int, _ value: Int) {
        precondition(offset >= 0 && offset + 2 <= size && value >= 0 && value <= 0xFFFF, "page write out of bounds")
        bytes.storeBytes(of: UInt16(value).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @usableFromInline @inline(__always)
    func setU32(_ offset: Int, _ value: UInt32) {
        precondition(offset >= 0 && offset + 4 <= size, "page write out of bounds")
        bytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    @usableFromInline @inline(__always)
    func setU64(_ offset: Int, _ value: UInt64) {
        precondition(offset >= 0 && offset + 8 <= size, "page write out of bounds")
        bytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }

    /// A 16-bit field at an offset the caller has just checked against ``size``.
    @usableFromInline @inline(__always)
    func uncheckedU16(_ offset: Int) -> Int {
        Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// An 8-bit field at an offset the caller has just checked against ``size``.
    @usableFromInline @inline(__always)
    func uncheckedU8(_ offset: Int) -> UInt8 {
        bytes.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// A 32-bit field at an offset the caller has just checked against ``size``.
    @usableFromInline @inline(__always)
    func uncheckedU32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// A 64-bit field at an offset the caller has just checked against ``size``.
    @usableFromInline @inline(__always)
    func uncheckedU64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// `count` bytes at an offset the caller has just checked against ``size``.
    @usableFromInline @inline(__always)
    func uncheckedSlice(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes + offset, count: count)
    }

    /// The order of the `count` bytes at `offset` (a key in a cell) against `key`, in
    /// ``compareKeys(_:_:)``'s order (negative: the page's bytes sort first), for a range
    /// the caller has just checked against ``size``: the comparison of a binary search step.
    @usableFromInline @inline(__always)
    func uncheckedCompare(_ offset: Int, _ count: Int, with key: SearchKey) -> Int {
        compareKeys(UnsafeRawPointer(bytes) + offset, count, key.start, key.count)
    }

    /// Starts loading the cache line at `offset` (a cell a search will soon read). Only a
    /// hint: nothing is read, so `offset` need not lie in the page (a prefetch of any
    /// address cannot fault).
    @usableFromInline @inline(__always)
    func prefetch(_ offset: Int) {
        cshim_prefetch(UnsafeRawPointer(bytes) + offset)
    }

    /// `count` bytes from `offset`, for comparing or copying keys and values.
    @usableFromInline @inline(__always)
    func slice(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && count >= 0 && offset + count <= size, "page read out of bounds")
        return UnsafeRawBufferPointer(start: bytes + offset, count: count)
    }

    /// Copies `source` to `offset`.
    @usableFromInline @inline(__always)
    func write(_ source: UnsafeRawBufferPointer, at offset: Int) {
        precondition(offset >= 0 && offset + source.count <= size, "page write out of bounds")
        if let start = source.baseAddress, source.count > 0 {
            (bytes + offset).copyMemory(from: start, byteCount: source.count)
        }
    }

    /// Moves `count` bytes from `from` to `to` within the page (ranges may overlap).
    @usableFromInline @inline(__always)
    func move(from: Int, to: Int, count: Int) {
        precondition(from >= 0 && to >= 0 && from + count <= size && to + count <= size, "page move out of bounds")
        if count > 0 { (bytes + to).copyMemory(from: bytes + from, byteCount: count) }
    }

    /// Zeroes `count` bytes from `offset`.
    @usableFromInline
    func zero(_ offset: Int, _ count: Int) {
        precondition(offset >= 0 && offset + count <= size, "page write out of bounds")
        (bytes + offset).initializeMemory(as: UInt8.self, repeating: 0, count: count)
    }

    /// Whether `count` bytes from `offset` are the same here and in `other`.
    func sameBytes(as other: Page, from offset: Int, count: Int) -> Bool {
        precondition(offset >= 0 && count >= 0 && offset + count <= size && offset + count <= other.size, "page read out of bounds")
        return count == 0 || memcmp(bytes + offset, other.bytes + offset, count) == 0
    }

    /// The XXH64 hash of `count` bytes from `offset` (a meta page's checksum).
    func xxh64(_ offset: Int, _ count: Int) -> UInt64 {
        precondition(offset >= 0 && count >= 0 && offset + count <= size, "page read out of bounds")
        return Checksum.xxh64(bytes + offset, count: count)
    }

    /// The CRC-32C of `count` bytes from `offset` (a meta page's list).
    func crc32c(_ offset: Int, _ count: Int) -> UInt32 {
        precondition(offset >= 0 && count >= 0 && offset + count <= size, "page read out of bounds")
        return Checksum.crc32c(bytes + offset, count: count)
    }

    /// Whether `count` bytes from `offset` are all zero.
    func isZero(from offset: Int, count: Int) -> Bool {
        slice(offset, count).allSatisfy { $0 == 0 }
    }

    /// Copies the whole of `other` (of the same size) over this page.
    @usableFromInline
    func copy(from other: Page) {
        precondition(other.size == size, "page sizes differ")
        bytes.copyMemory(from: other.bytes, byteCount: size)
    }

    // MARK: Header fields

    @usableFromInline var kind: UInt8 { u8(PageLayout.kindOffset) }
    @usableFromInline var count: Int { u16(PageLayout.countOffset) }
    @usableFromInline var upper: Int { u16(PageLayout.upperOffset) }
    @usableFromInline var pageNumber: UInt64 { u64(PageLayout.numberOffset) }
    @usableFromInline var txnID: UInt64 { u64(PageLayout.txnOffset) }
    @usableFromInline var storedChecksum: UInt64 { u64(PageLayout.checksumOffset) }

    /// The checksum of the page's meaningful bytes after the checksum field, in the file's
    /// scheme. The page number inside them ties the checksum to the page's place.
    ///
    /// A tree page's free gap (between the slot array and the cells) and the unused tail of a
    /// free-list page hold nothing a reader uses, so they are left out: the checksum covers
    /// `8..<slotsEnd` then `upper..<size`, or `8..<end of the words`. A header whose bounds
    /// do not hold covers the whole page, so damage there still shows as a mismatch.
    /// CRC-32C runs over the parts as one byte string; XXH64 hashes the second part seeded
    /// with the first part's hash. A CRC-32C fills the low 32 bits; the high 32 are zero.
    @usableFromInline
    func computeChecksum(_ scheme: PageChecksum) -> UInt64 {
        let header = PageLayout.headerSize
        // Covered: 8..<firstEnd, then secondStart..<size when the page has two parts.
        var firstEnd = size
        var secondStart = size
        var twoParts = false
        switch kind {
        case PageKind.branch.rawValue, PageKind.leaf.rawValue:
            let slotsEnd = header + 2 * count
            let upper = self.upper
            if slotsEnd <= upper, upper <= size, size - 8 > 0 {
                firstEnd = slotsEnd
                secondStart = upper
                twoParts = true
            }
        case PageKind.freeList.rawValue:
            let end = header + 8 * count
            if end <= size { firstEnd = end }
        default:
            break
        }
        switch scheme {
        case .crc32c:
            var crc = Checksum.crc32c(bytes + 8, count: firstEnd - 8)
            if twoParts { crc = Checksum.crc32c(bytes + secondStart, count: size - secondStart, continuing: crc) }
            return UInt64(crc)
        case .xxh64:
            let first = Checksum.xxh64(bytes + 8, count: firstEnd - 8)
            return twoParts ? Checksum.xxh64(bytes + secondStart, count: size - secondStart, seed: first) : first
        }
    }

    /// Throws ``MapStoreError/corrupted(page:reason:)`` when the stored checksum is not the
    /// one the page's bytes give.
    @usableFromInline
    func verifyChecksum(_ scheme: PageChecksum, number: UInt64) throws(MapStoreError) {
        let stored = storedChecksum
        let actual = computeChecksum(scheme)
        guard stored == actual else {
            throw MapStoreError.corrupted(page: number, reason: "checksum mismatch (stored \(hex(stored)), computed \(hex(actual)))")
        }
    }

    /// Stores the page's checksum (``computeChecksum(_:)``): the last change before a write.
    @usableFromInline
    func seal(_ scheme: PageChecksum) {
        setU64(PageLayout.checksumOffset, computeChecksum(scheme))
    }

    /// Readies a write transaction's fresh copy of a leaf (still its source's bytes) for
    /// ``sealAppendedLeaf()``: notes its first part's CRC and its `upper` (``PageLayout/appendedCells``).
    @usableFromInline
    func noteSourceCells() {
        let slotsEnd = Cell.slotsEnd(count: count)
        setU32(PageLayout.sourcePrefixOffset, Checksum.crc32c(bytes + 8, count: slotsEnd - 8))
        setU16(PageLayout.sourceUpperOffset, upper)
        setU8(PageLayout.flagsOffset, u8(PageLayout.flagsOffset) | PageLayout.appendedCells)
    }

    /// Forgets a leaf copy's ``PageLayout/appendedCells`` state before an edit of its old cells.
    @inlinable
    func dropAppendedCells() {
        let flags = u8(PageLayout.flagsOffset)
        guard flags & PageLayout.appendedCells != 0 else { return }
        setU8(PageLayout.flagsOffset, flags & ~PageLayout.appendedCells)
        setU32(PageLayout.sourcePrefixOffset, 0)
        setU16(PageLayout.sourceUpperOffset, 0)
    }

    /// Seals a leaf copy in the ``PageLayout/appendedCells`` state (its flags already cleared
    /// by the caller) without hashing its old cells: with `P` the source's first part, `C` its
    /// cells and `c = |C|`, crc(P + C) = shift(crc(P), c) ^ crc(C), so for the copy's first part
    /// `P'` and new cells `N`, crc(P' + N + C) = shift(crc(P' + N) ^ crc(P), c) ^ crc(P + C).
    /// False (nothing sealed) when the cells now reach above the source's (the page was
    /// emptied and refilled); the caller then hashes it.
    @usableFromInline
    func sealAppendedLeaf() -> Bool {
        let sourceUpper = u16(PageLayout.sourceUpperOffset)
        let upper = self.upper
        let slotsEnd = Cell.slotsEnd(count: count)
        let stored = u32(PageLayout.checksumOffset), sourcePrefix = u32(PageLayout.sourcePrefixOffset)
        setU16(PageLayout.sourceUpperOffset, 0)
        guard upper <= sourceUpper, sourceUpper <= size, slotsEnd <= upper else { return false }
        var head = Checksum.crc32c(bytes + 8, count: slotsEnd - 8)
        head = Checksum.crc32c(bytes + upper, count: sourceUpper - upper, continuing: head)
        setU64(PageLayout.checksumOffset, UInt64(Checksum.crc32cShifted(head ^ sourcePrefix, by: size - sourceUpper) ^ stored))
        return true
    }

    /// How many covered bytes (``computeChecksum(_:)``) of this tree page follow the
    /// `8 * words` bytes at `offset`; nil when those bytes are not wholly inside one covered
    /// part, or the header's bounds do not hold (the page is then hashed whole).
    @inlinable
    func coveredBytes(after offset: Int, words: Int) -> Int? {
        let slotsEnd = Cell.slotsEnd(count: count)
        let upper = self.upper
        let end = offset + 8 * words
        guard slotsEnd <= upper, upper <= size, offset >= 8 else { return nil }
        if end <= slotsEnd { return (slotsEnd - end) + (size - upper) }
        if offset >= upper, end <= size { return size - end }
        return nil
    }

    /// Patches the stored CRC-32C of this tree page for a change of the `changes.count`
    /// words at `offset` (each entry: the word's old value XOR its new one), made or about to
    /// be made: the stored value stays the checksum of the page's bytes without hashing them.
    /// False (nothing changed) when the words are not inside one covered part.
    ///
    /// The stored value must have been right before: for a copy, it is its source's, so a
    /// source whose bytes did not match its checksum gives a copy that does not match either
    /// (damage is carried, never sealed over as a full hash of the copy would).
    @inlinable
    func patchChecksum(at offset: Int, changes: UnsafeBufferPointer<UInt64>) -> Bool {
        guard let following = coveredBytes(after: offset, words: changes.count) else { return false }
        let crc = Checksum.crc32cPatched(UInt32(truncatingIfNeeded: storedChecksum), changes: changes.baseAddress!, words: changes.count, following: following)
        setU64(PageLayout.checksumOffset, UInt64(crc))
        return true
    }

    /// Zeroes the bytes the checksum leaves out of a writer's own copy of a page: a tree page's
    /// free gap (between the slot array and the cells) and a free-list page's bytes after its
    /// words (``Options/secureDelete``, before sealing). The space of removed cells is zeroed
    /// when they are removed, and an overflow run's tail when the run is written.
    @usableFromInline
    func eraseUnused() {
        let header = PageLayout.headerSize
        switch kind {
        case PageKind.branch.rawValue, PageKind.leaf.rawValue:
            let slotsEnd = header + 2 * count
            let upper = self.upper
            if slotsEnd <= upper, upper <= size { zero(slotsEnd, upper - slotsEnd) }
        case PageKind.freeList.rawValue:
            let end = header + 8 * count
            if end <= size { zero(end, size - end) }
        default:
            break
        }
    }

    /// Writes the header fields common to every data page.
    @usableFromInline
    func initialize(kind: PageKind, number: UInt64, txnID: UInt64) {
        zero(0, PageLayout.headerSize)
        setU64(PageLayout.txnOffset, txnID)
        setU64(PageLayout.numberOffset, number)
        setU8(PageLayout.kindOffset, kind.rawValue)
    }

    /// Copies the parts of tree page `other` (of the same size) that hold anything: the header
    /// and slot array (`0..<slotsEnd`) and the cells (`upper..<size`). The free gap between
    /// them holds nothing a reader uses (the checksum leaves it out) and is not copied: on a
    /// page two-thirds full that is a third of a page copy saved on every page a write
    /// transaction copies. The caller has checked `slotsEnd <= upper <= size` (``Node``).
    @usableFromInline
    func copyUsed(from other: Page, slotsEnd: Int, upper: Int) {
        precondition(other.size == size && slotsEnd <= upper && upper <= size, "page copy out of bounds")
        bytes.copyMemory(from: other.bytes, byteCount: slotsEnd)
        (bytes + upper).copyMemory(from: other.bytes + upper, byteCount: size - upper)
    }
}
