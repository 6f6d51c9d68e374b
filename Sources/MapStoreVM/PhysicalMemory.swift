/// What a data frame holds, from the kernel's point of view.
public enum FrameKind: UInt8, Sendable {
    /// Not allocated.
    case free
    /// The shared zero page (PFN 0 only).
    case zero
    /// An anonymous page (demand-zero, a COW copy, or swapped back in).
    case anonymous
    /// A page-cache page of a file.
    case file
    /// A KSM page: identical anonymous pages merged into one read-only frame.
    case ksm
}

/// The bookkeeping of one data frame (Linux's `struct page`, reduced).
public struct FrameInfo: Sendable {
    /// What the frame holds.
    public var kind: FrameKind = .free
    /// For a page-cache frame: the file it caches; -1 otherwise.
    public var fileID: Int32 = -1
    /// For a page-cache frame: the page index in the file.
    public var pageIndex: UInt64 = 0
    /// Software dirty flag (PG_dirty): the frame differs from its backing store.
    public var dirty = false
    /// Software referenced flag for frames without mappings (PG_referenced).
    public var referenced = false
    /// Allocation order, for FIFO.
    public var allocatedAt: UInt64 = 0
    /// The swap slot this frame is the swap cache of (0: none).
    public var swapSlot: UInt64 = 0
    /// Head of the reverse-mapping list (-1: unmapped).
    public var rmapHead: Int32 = -1
    /// Number of PTEs that map this frame.
    public var mapCount: Int32 = 0
}

/// One reverse mapping: process `pid` maps the frame at virtual page `vpn`.
public struct ReverseMapping: Equatable, Sendable {
    /// The process index.
    public var pid: Int32
    /// The virtual page number.
    public var vpn: UInt64
}

/// Simulated physical memory: data frames (PFN 1 upward, PFN 0 the zero page) and a
/// separate pool of page-table frames (from the highest PFN downward), one address space.
/// With huge pages, the top 512 frames hold the huge zero page (``hugeZeroPFN``) and the
/// page tables grow down from below it; 2 MiB pages (huge folios) are 512 data frames
/// allocated together, the lowest free 512-aligned run (``allocateHugeRun(kind:stamp:)``).
///
/// Page-table frames hold `entriesPerTable` 64-bit PTE words; data frames hold bytes,
/// kept as a pattern (zero, or a file's bytes) until the first write gives them a slab.
///
/// One thread drives a memory and the kernel over it (neither is `Sendable`), so their
/// stored state skips the runtime's exclusivity checks (`@exclusivity(unchecked)`): with
/// the checks, a replayed fault spent about a fifth of its instructions in them.
public final class PhysicalMemory {
    /// Bytes per page.
    public let pageSize: Int
    /// PTE words per page-table frame.
    public let entriesPerTable: Int
    /// The highest PFN the physical address width allows.
    public let topPFN: UInt64
    /// The highest PFN of the page-table pool: ``topPFN``, or just below the huge zero page.
    public let tableTopPFN: UInt64
    /// The first of the huge zero page's 512 frames (the highest 2 MiB-aligned run), or nil
    /// without huge pages. It reads as zeros and is never written: it is mapped read-only.
    public let hugeZeroPFN: UInt64?
    /// Frames in a huge page (0 without huge pages).
    public let hugeFrames: Int
    /// The first PFN of every huge folio: 512 frames allocated as one 2 MiB page and kept
    /// together (even when no longer mapped by one entry) until the kernel splits it.
    @exclusivity(unchecked) public private(set) var hugeFolios: Set<UInt64> = []

    /// Frame bookkeeping, indexed by data PFN.
    @exclusivity(unchecked) public private(set) var frames: ContiguousArray<FrameInfo>
    /// What each frame holds, packed in one word so the access path reads 8 bytes per frame:
    /// 0 = zeros, `slabFlag | index` = bytes in a slab, `patternFlag | page` = page `page` of a
    /// file, untouched (byte = (page * pageSize + offset) mod 251).
    @exclusivity(unchecked) var content: ContiguousArray<UInt64> = [0]
    /// Last access of each frame, for LRU (kept apart from ``frames`` so the hot path is dense).
    @exclusivity(unchecked) var lastUse: ContiguousArray<UInt64> = [0]
    static let slabFlag: UInt64 = 1 << 63
    static let patternFlag: UInt64 = 1 << 62
    @exclusivity(unchecked) var slabs: ContiguousArray<UnsafeMutablePointer<UInt8>> = []
    @exclusivity(unchecked) var freeSlabs: [Int32] = []
    /// Free data PFNs below ``nextPFN``. Entries may be stale (a run allocated by
    /// ``allocateHugeRun(kind:stamp:)`` leaves its PFNs here): a popped PFN is used only if free.
    @exclusivity(unchecked) var freePFNs = MinHeap()
    @exclusivity(unchecked) var nextPFN: UInt64 = 1
    /// Free frames below ``nextPFN`` in each block of one page table's reach (512 frames), so that
    /// the lowest free aligned run is found by one pass over blocks, not over frames.
    @exclusivity(unchecked) var freeInBlock: ContiguousArray<UInt16> = []
    /// log2 of a block's frames: one page table's reach, the huge page size.
    let blockShift: UInt64
    /// Data frames in use (PFN 0 not counted).
    @exclusivity(unchecked) public private(set) var dataFramesInUse = 0

    @exclusivity(unchecked) @usableFromInline var tableWords: ContiguousArray<UInt64> = []
    @exclusivity(unchecked) var freeTables: [UInt64] = []
    /// Page-table frames in use.
    @exclusivity(unchecked) public private(set) var tableFramesInUse = 0
    @exclusivity(unchecked) var tablesAllocated: UInt64 = 0

    @exclusivity(unchecked) var rmap: ContiguousArray<(entry: ReverseMapping, next: Int32)> = []
    @exclusivity(unchecked) var freeRmap: Int32 = -1

    /// Empty memory for pages of `pageSize` bytes and tables of `entriesPerTable` entries;
    /// with `hugePages`, huge pages of `entriesPerTable` frames and a huge zero page.
    public init(pageSize: Int, entriesPerTable: Int, physicalFrames: UInt64, hugePages: Bool = false) {
        self.pageSize = pageSize
        self.entriesPerTable = entriesPerTable
        self.topPFN = physicalFrames - 1
        hugeFrames = hugePages ? entriesPerTable : 0
        blockShift = UInt64(entriesPerTable.trailingZeroBitCount)
        hugeZeroPFN = hugePages ? physicalFrames - UInt64(entriesPerTable) : nil
        tableTopPFN = hugeZeroPFN.map { $0 - 1 } ?? physicalFrames - 1
        var zero = FrameInfo()
        zero.kind = .zero
        frames = [zero]
    }

    deinit {
        for slab in slabs { slab.deallocate() }
    }

    // MARK: Page-table frames

    /// The lowest PFN a page-table frame occupies (tables grow down from the top).
    public var lowestTablePFN: UInt64 { tableTopPFN + 1 - tablesAllocated }

    /// Allocates a zeroed page-table frame, or nil when it would collide with data frames.
    public func allocateTable() -> UInt64? {
        if let pfn = freeTables.popLast() {
            tableFramesInUse += 1
            return pfn
        }
        let pfn = tableTopPFN - tablesAllocated
        guard pfn >= nextPFN else { return nil }
        tablesAllocated += 1
        tableWords.append(contentsOf: repeatElement(0, count: entriesPerTable))
        tableFramesInUse += 1
        return pfn
    }

    /// Returns a page-table frame to the pool (its entries must all be empty).
    public func freeTable(_ pfn: UInt64) {
        tableFramesInUse -= 1
        freeTables.append(pfn)
    }

    /// Whether `pfn` is an allocated page-table frame.
    public func isTableFrame(_ pfn: UInt64) -> Bool {
        pfn <= tableTopPFN && pfn >= lowestTablePFN && !freeTables.contains(pfn)
    }

    /// Reads PTE `index` of page-table frame `table`: one memory read of the walk.
    @inlinable
    public func readPTE(table: UInt64, index: Int) -> PageTableEntry {
        PageTableEntry(raw: tableWords[Int(tableTopPFN - table) &* entriesPerTable &+ index])
    }

    /// Writes PTE `index` of page-table frame `table`.
    @inlinable
    public func writePTE(table: UInt64, index: Int, _ entry: PageTableEntry) {
        tableWords[Int(tableTopPFN - table) &* entriesPerTable &+ index] = entry.raw
    }

    // MARK: Data frames

    /// The PFN a new data frame would get if one were free: the lowest free one.
    public func nextFreePFN() -> UInt64? {
        dropStaleFreePFNs()
        if let low = freePFNs.min { return low }
        return nextPFN < lowestTablePFN ? nextPFN : nil
    }

    /// Pops heap entries whose frame a huge run has taken since it was freed.
    private func dropStaleFreePFNs() {
        while let low = freePFNs.min, frames[Int(low)].kind != .free { _ = freePFNs.popMin() }
    }

    /// Allocates the lowest free data frame with the given contents, or nil if none is free.
    public func allocateFrame(kind: FrameKind, stamp: UInt64) -> UInt64? {
        let pfn: UInt64
        dropStaleFreePFNs()
        if let low = freePFNs.popMin() {
            pfn = low
            freeInBlock[Int(pfn >> blockShift)] -= 1
        } else {
            guard nextPFN < lowestTablePFN else { return nil }
            pfn = nextPFN
            appendFrames(upTo: nextPFN + 1)
        }
        take(pfn, kind: kind, stamp: stamp)
        return pfn
    }

    /// Makes frames [``nextPFN``, `end`) exist, free (none is in the heap yet).
    private func appendFrames(upTo end: UInt64) {
        guard end > nextPFN else { return }
        let count = Int(end - nextPFN)
        frames.append(contentsOf: repeatElement(FrameInfo(), count: count))
        content.append(contentsOf: repeatElement(0, count: count))
        lastUse.append(contentsOf: repeatElement(0, count: count))
        let blocks = Int((end + (1 << blockShift) - 1) >> blockShift)
        if freeInBlock.count < blocks { freeInBlock.append(contentsOf: repeatElement(0, count: blocks - freeInBlock.count)) }
        nextPFN = end
    }

    /// Gives free frame `pfn` to a new owner: zeroed contents, the kind, the time.
    private func take(_ pfn: UInt64, kind: FrameKind, stamp: UInt64) {
        var info = FrameInfo()
        info.kind = kind
        info.allocatedAt = stamp
        frames[Int(pfn)] = info
        content[Int(pfn)] = 0
        lastUse[Int(pfn)] = stamp
        dataFramesInUse += 1
    }

    /// Allocates a huge page: the lowest run of ``hugeFrames`` free data frames that starts on
    /// a multiple of ``hugeFrames`` (so PFN 512...1023 first: PFN 0 is the zero page), all of
    /// `kind`, recorded as one huge folio; nil without huge pages or when no such run is free
    /// below the page tables. One pass over 512-frame blocks, not over frames.
    public func allocateHugeRun(kind: FrameKind, stamp: UInt64) -> UInt64? {
        guard hugeFrames > 0 else { return nil }
        let size = UInt64(hugeFrames)
        var start: UInt64?
        for block in 1..<max(1, freeInBlock.count) {
            let base = UInt64(block) * size
            guard base < nextPFN else { break }
            if UInt64(freeInBlock[block]) == min(size, nextPFN - base) { start = base; break }
        }
        let first = start ?? (nextPFN + size - 1) / size * size
        guard first + size <= lowestTablePFN else { return nil }
        if first + size > nextPFN {
            // The frames between the old end and the run become ordinary free frames.
            let oldEnd = nextPFN
            appendFrames(upTo: first + size)
            for pfn in oldEnd..<first {
                freePFNs.insert(pfn)
                freeInBlock[Int(pfn >> blockShift)] += 1
            }
        }
        freeInBlock[Int(first >> blockShift)] = 0
        for pfn in first..<(first + size) { take(pfn, kind: kind, stamp: stamp) }
        hugeFolios.insert(first)
        return first
    }

    /// The first PFN of the huge folio holding `pfn`, or nil.
    @inlinable
    public func hugeFolio(containing pfn: UInt64) -> UInt64? {
        guard hugeFrames > 0, !hugeFolios.isEmpty else { return nil }
        let head = pfn & ~UInt64(hugeFrames - 1)
        return hugeFolios.contains(head) ? head : nil
    }

    /// Whether `pfn` is one of the huge zero page's frames.
    @inlinable
    public func isHugeZero(_ pfn: UInt64) -> Bool {
        hugeZeroPFN.map { pfn >= $0 && pfn <= topPFN } ?? false
    }

    /// Forgets that the folio at `head` is one huge page: its frames become ordinary pages
    /// (the kernel's split_huge_page). Frees nothing.
    public func dissolveHugeFolio(_ head: UInt64) {
        hugeFolios.remove(head)
    }

    /// Frees a data frame; it must have no mappings left.
    public func freeFrame(_ pfn: UInt64) {
        precondition(pfn != 0, "the zero page is never freed")
        precondition(frames[Int(pfn)].mapCount == 0, "freeing a mapped frame")
        let word = content[Int(pfn)]
        if word & Self.slabFlag != 0 { freeSlabs.append(Int32(truncatingIfNeeded: word)) }
        content[Int(pfn)] = 0
        frames[Int(pfn)] = FrameInfo()
        freePFNs.insert(pfn)
        freeInBlock[Int(pfn >> blockShift)] += 1
        dataFramesInUse -= 1
    }

    /// Every data PFN currently allocated, in increasing order.
    public var allocatedPFNs: [UInt64] {
        (1..<UInt64(frames.count)).filter { frames[Int($0)].kind != .free }
    }

    /// Mutable access to a frame's bookkeeping.
    public subscript(pfn: UInt64) -> FrameInfo {
        get { frames[Int(pfn)] }
        set { frames[Int(pfn)] = newValue }
    }

    /// Records an access to `pfn` at time `stamp` (LRU).
    public func touch(_ pfn: UInt64, stamp: UInt64) {
        lastUse[Int(pfn)] = stamp
    }

    /// When `pfn` was last accessed.
    public func lastUse(of pfn: UInt64) -> UInt64 { lastUse[Int(pfn)] }

    /// Makes `pfn` hold page `page` of a file, untouched.
    public func setFilePattern(_ pfn: UInt64, page: UInt64) {
        releaseSlab(pfn)
        content[Int(pfn)] = Self.patternFlag | page
    }

    private func releaseSlab(_ pfn: UInt64) {
        let word = content[Int(pfn)]
        if word & Self.slabFlag != 0 { freeSlabs.append(Int32(truncatingIfNeeded: word)) }
        content[Int(pfn)] = 0
    }

    // MARK: Contents

    /// The byte of a pattern word: a file page's byte is its offset in the file mod 251.
    static func patternByte(_ word: UInt64, offset: Int, pageSize: Int) -> UInt8 {
        guard word & patternFlag != 0 else { return 0 }
        let page = word & ~patternFlag
        return UInt8(truncatingIfNeeded: (page &* UInt64(pageSize) &+ UInt64(offset)) % 251)
    }

    /// Reads byte `offset` of frame `pfn`.
    public func readByte(_ pfn: UInt64, offset: Int) -> UInt8 {
        let word = content[Int(pfn)]
        if word & Self.slabFlag != 0 { return slabs[Int(Int32(truncatingIfNeeded: word))][offset] }
        return Self.patternByte(word, offset: offset, pageSize: pageSize)
    }

    /// Writes byte `offset` of frame `pfn`, giving the frame its own bytes on the first write.
    public func writeByte(_ pfn: UInt64, offset: Int, _ value: UInt8) {
        let word = content[Int(pfn)]
        let slab = word & Self.slabFlag != 0 ? Int32(truncatingIfNeeded: word) : materialize(pfn)
        slabs[Int(slab)][offset] = value
    }

    /// Gives `pfn` a slab filled with its current pattern; returns the slab index.
    func materialize(_ pfn: UInt64) -> Int32 {
        let word = content[Int(pfn)]
        let slab = newSlab()
        let bytes = slabs[Int(slab)]
        for offset in 0..<pageSize {
            bytes[offset] = Self.patternByte(word, offset: offset, pageSize: pageSize)
        }
        content[Int(pfn)] = Self.slabFlag | UInt64(UInt32(slab))
        return slab
    }

    func newSlab() -> Int32 {
        if let slab = freeSlabs.popLast() { return slab }
        slabs.append(UnsafeMutablePointer<UInt8>.allocate(capacity: pageSize))
        return Int32(slabs.count - 1)
    }

    /// The whole page of `pfn` as bytes (for KSM, write-back and tests).
    public func contents(_ pfn: UInt64) -> [UInt8] {
        (0..<pageSize).map { readByte(pfn, offset: $0) }
    }

    /// Contents of a frame detached from it: zeros, a file pattern, or a slab. Swap and
    /// copy-on-write move these between frames.
    public struct Contents: Sendable {
        var word: UInt64
    }

    /// Takes the contents out of `pfn` (its slab, if any, moves with them); `pfn` reads as zeros.
    public func takeContents(_ pfn: UInt64) -> Contents {
        let word = content[Int(pfn)]
        content[Int(pfn)] = 0
        return Contents(word: word)
    }

    /// Puts detached contents into `pfn`, releasing what it held.
    public func putContents(_ contents: Contents, into pfn: UInt64) {
        releaseSlab(pfn)
        content[Int(pfn)] = contents.word
    }

    /// A copy of `pfn`'s contents that does not share its slab.
    public func copyContents(_ pfn: UInt64) -> Contents {
        duplicate(Contents(word: content[Int(pfn)]))
    }

    /// Copies detached contents (does not consume them).
    public func duplicate(_ contents: Contents) -> Contents {
        guard contents.word & Self.slabFlag != 0 else { return contents }
        let slab = newSlab()
        slabs[Int(slab)].update(from: slabs[Int(Int32(truncatingIfNeeded: contents.word))], count: pageSize)
        return Contents(word: Self.slabFlag | UInt64(UInt32(slab)))
    }

    /// Releases detached contents.
    public func release(_ contents: Contents) {
        if contents.word & Self.slabFlag != 0 { freeSlabs.append(Int32(truncatingIfNeeded: contents.word)) }
    }

    /// Contents made of the given bytes.
    public func contents(from bytes: [UInt8]) -> Contents {
        let slab = newSlab()
        bytes.withUnsafeBufferPointer { slabs[Int(slab)].update(from: $0.baseAddress!, count: pageSize) }
        return Contents(word: Self.slabFlag | UInt64(UInt32(slab)))
    }

    // MARK: Reverse mappings

    /// Records that process `pid` maps `pfn` at `vpn`.
    public func addMapping(_ pfn: UInt64, pid: Int32, vpn: UInt64) {
        guard pfn != 0 else { return }
        let entry = ReverseMapping(pid: pid, vpn: vpn)
        let head = frames[Int(pfn)].rmapHead
        let index: Int32
        if freeRmap >= 0 {
            index = freeRmap
            freeRmap = rmap[Int(index)].next
            rmap[Int(index)] = (entry, head)
        } else {
            index = Int32(rmap.count)
            rmap.append((entry, head))
        }
        frames[Int(pfn)].rmapHead = index
        frames[Int(pfn)].mapCount += 1
    }

    /// Forgets that process `pid` maps `pfn` at `vpn`.
    public func removeMapping(_ pfn: UInt64, pid: Int32, vpn: UInt64) {
        guard pfn != 0 else { return }
        var previous: Int32 = -1
        var index = frames[Int(pfn)].rmapHead
        while index >= 0 {
            let node = rmap[Int(index)]
            if node.entry.pid == pid && node.entry.vpn == vpn {
                if previous < 0 { frames[Int(pfn)].rmapHead = node.next } else { rmap[Int(previous)].next = node.next }
                rmap[Int(index)].next = freeRmap
                freeRmap = index
                frames[Int(pfn)].mapCount -= 1
                return
            }
            previous = index
            index = node.next
        }
        preconditionFailure("reverse mapping of PFN \(pfn) at VPN \(vpn) in process \(pid) not found")
    }

    /// Every (process, VPN) that maps `pfn`.
    public func mappings(of pfn: UInt64) -> [ReverseMapping] {
        var result: [ReverseMapping] = []
        var index = frames[Int(pfn)].rmapHead
        while index >= 0 {
            result.append(rmap[Int(index)].entry)
            index = rmap[Int(index)].next
        }
        return result
    }
}

/// A binary min-heap of PFNs: "lowest free PFN first" in O(log n).
struct MinHeap {
    private var items: [UInt64] = []

    var min: UInt64? { items.first }
    var isEmpty: Bool { items.isEmpty }

    mutating func insert(_ value: UInt64) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func popMin() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }

    func contains(_ value: UInt64) -> Bool { items.contains(value) }
}
