#if canImport(Glibc)
import Glibc
#endif

/// The pages one transaction sees: the map at its snapshot, plus (for a write transaction)
/// the pages it has copied or allocated, which no other transaction can see.
///
/// In `.readOnly` mapping mode a write transaction's pages live in heap buffers and reach
/// the file by `pwrite` at commit; in the writable modes they are written in place in the
/// map, on pages that are free in every snapshot a reader can hold.
@usableFromInline
final class TransactionPages: PageSpace, FreeListPages {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let pageSize: Int
    /// The file's data-page checksum (format version 1 or 2).
    @usableFromInline let pageChecksum: PageChecksum
    /// Whether a copy's checksum is worked out from its source's rather than hashed whole at
    /// seal (``PageLayout/patchedChecksum`` for branches, ``PageLayout/appendedCells`` for
    /// leaves): CRC-32C pages, on a CPU where patching is cheap.
    let patchesChecksums: Bool
    /// Debug builds only: copies patched from a source whose bytes did not match its stored
    /// checksum (their checksum is rightly not their bytes'; ``seal()`` checks every other).
    var damagedPatchSources: Set<UInt64> = []
    /// Pages `0..<pageCount` exist in this transaction's view.
    @usableFromInline @exclusivity(unchecked) var pageCount: UInt64
    /// (Variable, like the tracer and the transaction id: a writer's view is reused by the
    /// next write transaction, which may come from a handle with other options.)
    @usableFromInline @exclusivity(unchecked) var verifyChecksums: Bool
    @usableFromInline let isWriter: Bool
    /// ``Options/secureDelete``: removed cells and the unused bytes of every page this
    /// transaction writes are zeroed, and so are the pages it releases and does not reuse.
    /// (Variable, as ``verifyChecksums``.)
    @usableFromInline @exclusivity(unchecked) var secureDelete = false
    /// With ``secureDelete``, the free pages this commit overwrites with zeros (picked when it
    /// seals its pages). Its buffer stays with the view from one transaction to the next.
    @exclusivity(unchecked) var erasing: [UInt64] = []
    /// Shadow mode's tracer (``Options/shadow``), told of every page touched in the map.
    @usableFromInline @exclusivity(unchecked) var tracer: (any AccessTracer)?

    // Write transactions only.
    @exclusivity(unchecked) var txnID: UInt64
    let inPlace: Bool
    let maxPages: UInt64
    /// The write side: grows the file before a page at or past its end is used in place, and
    /// keeps what outlives the transaction. Nil in a reader's view and in a parked writer's (``park()``).
    @exclusivity(unchecked) var writer: Writer?
    /// Pages this transaction owns, by first page, and the pages in each run.
    @usableFromInline @exclusivity(unchecked) var dirty = PageMap()
    @exclusivity(unchecked) var runLengths: [UInt64: Int] = [:]
    @exclusivity(unchecked) var freeList: FreeList
    /// Pages the current commit no longer reaches but older snapshots may.
    @exclusivity(unchecked) var freedNow: [UInt64] = []
    /// In a write map: the pages this transaction wrote in place and freed again. They are
    /// free, but their bytes in the map are dirty all the same: ``pageRange()`` covers them.
    @exclusivity(unchecked) var freedInPlace: Range<UInt64>?
    /// The write side's page-sized scratch buffer (under the writer lock).
    let scratchBuffer: UnsafeMutableRawPointer?
    /// Page buffers kept between write transactions (heap mode), so a commit does not pay
    /// for an allocation per page.
    let bufferPool: PageBufferPool?

    /// A reader's view of the map.
    init(base: UnsafeMutableRawPointer, pageSize: Int, pageChecksum: PageChecksum, pageCount: UInt64, verifyChecksums: Bool, tracer: (any AccessTracer)? = nil) {
        self.tracer = tracer
        self.base = base
        self.pageSize = pageSize
        self.pageChecksum = pageChecksum
        self.patchesChecksums = false
        self.pageCount = pageCount
        self.verifyChecksums = verifyChecksums
        self.isWriter = false
        self.txnID = 0
        self.inPlace = false
        self.maxPages = pageCount
        self.writer = nil
        self.freeList = FreeList()
        self.scratchBuffer = nil
        self.bufferPool = nil
    }

    /// A writer's view: the map plus its own pages.
    init(base: UnsafeMutableRawPointer, pageSize: Int, pageChecksum: PageChecksum, pageCount: UInt64, verifyChecksums: Bool,
         secureDelete: Bool, txnID: UInt64, inPlace: Bool, maxPages: UInt64, freeList: FreeList, bufferPool: PageBufferPool?,
         tracer: (any AccessTracer)? = nil, writer: Writer) {
        self.tracer = tracer
        self.secureDelete = secureDelete
        self.bufferPool = bufferPool
        self.base = base
        self.pageSize = pageSize
        self.pageChecksum = pageChecksum
        self.patchesChecksums = pageChecksum == .crc32c && Checksum.patchesCheaply
        self.pageCount = pageCount
        self.verifyChecksums = verifyChecksums
        self.isWriter = true
        self.txnID = txnID
        self.inPlace = inPlace
        self.maxPages = maxPages
        self.writer = writer
        self.freeList = freeList
        // The array the last released record left (FreeList.release): no allocation.
        swap(&self.freedNow, &writer.spareFreedPages)
        self.scratchBuffer = writer.scratch
        if let table = bufferPool?.takeTable() { dirty = PageMap(recycling: table) }
    }

    deinit {
        releaseBuffers()
        // The table goes to the pool for the next view built (an escaped transaction's).
        if let pool = bufferPool { pool.putTable(dirty.detachTable()) }
    }

    /// Makes a parked writer's view (``park()``) the view of a new write transaction, as the
    /// writer's init would build it, without allocating an object.
    func restart(pageCount: UInt64, verifyChecksums: Bool, secureDelete: Bool, txnID: UInt64, freeList: consuming FreeList,
                 tracer: (any AccessTracer)?, writer: Writer) {
        precondition(isWriter && self.writer == nil && dirty.isEmpty && freedNow.isEmpty, "restart of a view in use")
        self.pageCount = pageCount
        self.verifyChecksums = verifyChecksums
        self.secureDelete = secureDelete
        self.txnID = txnID
        self.freeList = freeList
        self.tracer = tracer
        self.writer = writer
        freedInPlace = nil
        assert({ damagedPatchSources.removeAll(); return true }())
        swap(&freedNow, &writer.spareFreedPages)
        if !dirty.hasTable, let table = bufferPool?.takeTable() { dirty = PageMap(recycling: table) }
    }

    /// Hands the free list out (to the writer's cache, at commit), leaving an empty one.
    func takeFreeList() -> FreeList {
        var list = FreeList()
        swap(&list, &freeList)
        return list
    }

    /// Whether this writer's view is parked (between two transactions).
    var isParked: Bool { writer == nil }

    /// Parks a writer's view after its transaction ended (its buffers released): it drops
    /// what belonged to the transaction, so nothing is shared with the free-list cache (whose
    /// arrays the next transaction changes in place) and nothing points back at the write side.
    func park() {
        precondition(isWriter && dirty.isEmpty, "park of a view with pages")
        // A committed view's list went to the writer's cache (takeFreeList()): nothing to drop.
        if !freeList.isEmpty { freeList = FreeList() }
        freedNow = []
        if !erasing.isEmpty { erasing.empty() }
        tracer = nil
        writer = nil
    }

    /// Frees the heap copies (after a commit wrote them, or on abort).
    func releaseBuffers() {
        guard !dirty.isEmpty else { return }
        if !inPlace, runLengths.isEmpty, let pool = bufferPool {
            // Single pages only (the usual): back to the pool in one call.
            pool.put(draining: &dirty)
        } else if !inPlace {
            dirty.forEach { page, buffer in
                if runLength(page) == 1, let pool = bufferPool { pool.put(buffer) } else { buffer.deallocate() }
            }
        }
        dirty.removeAll()
        // The emptied table stays with this view for its next transaction (``restart(pageCount:verifyChecksums:secureDelete:txnID:freeList:tracer:writer:)``):
        // handing it to the pool and back each commit cost a retain and release each way.
        // One a big commit grew past what the pool keeps is dropped, as the pool would drop it.
        if bufferPool != nil, !PageBufferPool.keepsTable(words: dirty.tableWords) { _ = dirty.detachTable() }
        if !runLengths.isEmpty { runLengths.removeAll() }
    }

    @usableFromInline var scratch: Page { Page(scratchBuffer!, size: pageSize) }

    // MARK: Reading

    @inlinable @inline(__always)
    func checkNumber(_ number: UInt64, count: Int = 1) throws(MapStoreError) {
        guard number >= PageLayout.firstDataPage, number < pageCount, UInt64(count) <= pageCount - number else {
            throw MapStoreError.corrupted(page: number, reason: "reference to page \(number) (\(count) pages) outside the file's pages 2..<\(pageCount)")
        }
    }

    /// Page `number` (checked against the snapshot). Inlined into every tree walk: a plain
    /// reader's page is an address computed from the map's base; a writer's own copies,
    /// shadow tracing and checksum verification take the call.
    @inlinable @inline(__always)
    func readPage(_ number: UInt64) throws(MapStoreError) -> Page {
        try checkNumber(number)
        if !isWriter, tracer == nil, !verifyChecksums { return Page(base + Int(number) &* pageSize, size: pageSize) }
        return try readPageInFull(number)
    }

    @usableFromInline
    func readPageInFull(_ number: UInt64) throws(MapStoreError) -> Page {
        if isWriter, let buffer = dirty[number] { return Page(buffer, size: pageSize) }
        return try committedPage(number)
    }

    @inlinable
    func readRun(_ first: UInt64, count: Int) throws(MapStoreError) -> Page {
        try checkNumber(first, count: count)
        if isWriter, let buffer = dirty[first] { return Page(buffer, size: pageSize * count) }
        if let tracer { tracer.pagesRead(first, count: count) }
        let page = Page(base + Int(first) * pageSize, size: pageSize * count)
        if verifyChecksums { try verify(page, number: first) }
        return page
    }

    @usableFromInline
    func verify(_ page: Page, number: UInt64) throws(MapStoreError) {
        try page.verifyChecksum(pageChecksum, number: number)
    }

    // MARK: Writing

    @usableFromInline func writablePage(_ number: UInt64, checkingCells: Bool) throws(MapStoreError) -> (number: UInt64, page: Page) {
        if let buffer = dirty[number] {
            let page = Page(buffer, size: pageSize)
            if checkingCells { try checkCells(page, number: number) }
            return (number, page)
        }
        // Not ours (just looked up): read from the map and freed as the snapshot's, without
        // looking the page up in `dirty` twice more.
        try checkNumber(number)
        let source = try committedPage(number)
        let node = try Node(source, number: number)
        let (copy, page) = try allocate(1)
        page.copyUsed(from: source, slotsEnd: node.slotsEnd, upper: source.upper)
        // The cells are checked in the copy, which is what mutation code then trusts. The copy
        // reads the page in order, which the hardware prefetches; the check's reads jump from
        // cell to cell, and on the copy they hit the cache (checked in the map before the
        // copy, they waited on memory: a sixth of a batched fill's time). A damaged page's
        // copy is freed at once.
        // Checking every cell is most of a copy's cost on a branch page (hundreds of cells),
        // and a descent only rewrites one child pointer there: the check waits for an edit.
        if checkingCells {
            do throws(MapStoreError) {
                try Node(page, number: number).validateAll()
            } catch {
                free(copy, count: 1)
                throw error
            }
        }
        var flags = checkingCells ? 0 : PageLayout.uncheckedCells
        let isLeaf = page.kind == PageKind.leaf.rawValue
        // A leaf copy mostly gains a cell or two: sealing hashes its header, slots and new
        // cells and takes the old cells' share of its source's checksum (Page.sealAppendedLeaf).
        if isLeaf, patchesChecksums, !secureDelete {
            page.noteSourceCells()
            flags |= PageLayout.appendedCells
            noteIfDamaged(source, copy: copy)
        }
        let sourceTxn = page.u64(PageLayout.txnOffset)
        page.setU64(PageLayout.numberOffset, copy)
        page.setU64(PageLayout.txnOffset, txnID)
        // A branch copy changes in its header and in child pointers only until its cells are
        // checked: its source's checksum, patched for each of those changes, is its own, and
        // sealing need not hash its (often full) page. The number's old value is where the
        // source was read, so a source whose header named another page stays a mismatch.
        if !checkingCells, !isLeaf, patchesChecksums, !secureDelete, patchHeader(page, txn: sourceTxn, number: number) {
            flags |= PageLayout.patchedChecksum
            noteIfDamaged(source, copy: copy)
        }
        page.setU8(PageLayout.flagsOffset, flags)
        freeCommitted(number, count: 1)
        return (copy, page)
    }

    /// ``PageSpace/abandonCopy(_:of:)``: the copy goes back, and `source` leaves ``freedNow``.
    @usableFromInline func abandonCopy(_ copy: UInt64, of source: UInt64) {
        free(copy, count: 1)
        if freedNow.last == source { freedNow.removeLast() }
    }

    /// Debug builds: notes `copy` when its `source` did not match its checksum (so neither
    /// will the copy, ``seal()``'s check allows for it). Nothing in release builds.
    @inline(__always)
    private func noteIfDamaged(_ source: Page, copy: UInt64) {
        assert({
            if source.computeChecksum(pageChecksum) != source.storedChecksum { damagedPatchSources.insert(copy) }
            return true
        }())
    }

    /// Patches the stored checksum of `page` (this transaction's copy, its header just set)
    /// for its transaction id and number having been `txn` and `number`.
    private func patchHeader(_ page: Page, txn: UInt64, number: UInt64) -> Bool {
        // The transaction id (offset 8) and the page number (16): two consecutive words.
        var changes = (txn ^ page.u64(PageLayout.txnOffset), number ^ page.u64(PageLayout.numberOffset))
        return withUnsafePointer(to: &changes) { pair in
            pair.withMemoryRebound(to: UInt64.self, capacity: 2) { page.patchChecksum(at: PageLayout.txnOffset, changes: UnsafeBufferPointer(start: $0, count: 2)) }
        }
    }

    /// Page `number` as the map holds it (checked against the snapshot by the caller, which
    /// knows this transaction does not own it): traced, and verified when the option is on.
    private func committedPage(_ number: UInt64) throws(MapStoreError) -> Page {
        if let tracer { tracer.pagesRead(number, count: 1) }
        let page = Page(base + Int(number) &* pageSize, size: pageSize)
        if verifyChecksums { try verify(page, number: number) }
        return page
    }

    /// A single page this transaction allocated (it must own it).
    func ownedPage(_ number: UInt64) -> Page {
        guard let buffer = dirty[number] else { preconditionFailure("page \(number) is not owned by this transaction") }
        return Page(buffer, size: pageSize)
    }

    @usableFromInline func checkedPage(_ number: UInt64) throws(MapStoreError) -> Page {
        let page = try readPage(number)
        try checkCells(page, number: number)
        return page
    }

    /// Validates the cells of an owned copy made without (the flag), once.
    private func checkCells(_ page: Page, number: UInt64) throws(MapStoreError) {
        let flags = page.u8(PageLayout.flagsOffset)
        guard flags & PageLayout.uncheckedCells != 0 else { return }
        try Node(page, number: number).validateAll()
        // Edits may follow that the patched checksum does not track; a leaf's kept cells
        // stay tracked (every edit of them drops that state itself).
        page.setU8(PageLayout.flagsOffset, flags & PageLayout.appendedCells)
    }

    @usableFromInline func allocate(_ count: Int) throws(MapStoreError) -> (number: UInt64, page: Page) {
        precondition(isWriter, "allocate in a read transaction")
        let first: UInt64
        if let run = takeFree(count) {
            first = run
        } else {
            guard pageCount + UInt64(count) <= maxPages else { throw MapStoreError.mapFull(limit: Int(maxPages) * pageSize) }
            first = pageCount
            pageCount += UInt64(count)
        }
        let buffer: UnsafeMutableRawPointer
        if inPlace {
            try writer?.ensureFileCapacity(pages: first + UInt64(count))
            buffer = base + Int(first) * pageSize
            if secureDelete { noteErasable(first, count: count) }
            if let tracer { tracer.pagesWritten(first, count: count) }
        } else if count == 1, let pool = bufferPool {
            buffer = pool.take()
        } else {
            buffer = UnsafeMutableRawPointer.allocate(byteCount: count * pageSize, alignment: PageBufferPool.alignment)
        }
        dirty.insert(first, buffer)
        if count > 1 { runLengths[first] = count }
        let page = Page(buffer, size: count * pageSize)
        page.initialize(kind: .leaf, number: first, txnID: txnID)
        return (first, page)
    }

    /// `count` consecutive pages this transaction takes without a buffer (a commit record's,
    /// which its commit writes itself): from the free list, or past the last page; nil when
    /// the map's limit leaves no room.
    func reserveRun(_ count: Int) -> UInt64? {
        if let run = takeFree(count) { return run }
        guard pageCount + UInt64(count) <= maxPages else { return nil }
        defer { pageCount += UInt64(count) }
        return pageCount
    }

    /// `count` consecutive free pages from the list, thawing frozen free-list pages while the
    /// working part has none; nil when the list has no such run.
    private func takeFree(_ count: Int) -> UInt64? {
        while true {
            if let run = freeList.takeRun(count) { return run }
            // The thawed chain pages are part of the last commit's list: they wait like any freed page.
            let thawed = freeList.thaw(noting: &writer!.releasedPages)
            if thawed.isEmpty { return nil }
            for chainPage in thawed { free(chainPage, count: 1) }
        }
    }

    @usableFromInline func free(_ number: UInt64, count: Int) {
        if let buffer = dirty.remove(number) {
            // Allocated by this transaction: no snapshot reaches it, so it is free at once.
            if !inPlace {
                if count == 1, let pool = bufferPool { pool.put(buffer) } else { buffer.deallocate() }
            } else {
                freedInPlace = Range.covering(freedInPlace, number..<(number + UInt64(count)))
            }
            if !runLengths.isEmpty { runLengths.removeValue(forKey: number) }
            freeList.addReusable(number, count: count)
        } else {
            freeCommitted(number, count: count)
        }
    }

    /// secureDelete: a page this transaction writes in place in the map is noted too, so that
    /// if it frees it again its commit zeroes it like a released page (one it still owns at
    /// the end is left alone). A heap copy never reaches the file unless it is committed.
    @inline(never)
    private func noteErasable(_ number: UInt64, count: Int) {
        guard let writer, writer.releasedPages != nil else { return }
        writer.releasedPages!.append(contentsOf: number..<(number + UInt64(count)))
    }

    /// Frees pages of the snapshot (not this transaction's): older snapshots may still reach
    /// them, so they wait in this commit's record.
    private func freeCommitted(_ number: UInt64, count: Int) {
        // One allocation for a typical commit's frees instead of a doubling per append.
        if freedNow.isEmpty { freedNow.reserveCapacity(32) }
        for page in number..<(number + UInt64(count)) { freedNow.append(page) }
    }

    /// Pages this transaction owns (every page of every run).
    var dirtyPageCount: Int { dirty.count + runLengths.values.reduce(0) { $0 + $1 - 1 } }

    /// Pages in the run starting at `first` (1 for a single page).
    func runLength(_ first: UInt64) -> Int { runLengths.isEmpty ? 1 : runLengths[first] ?? 1 }

    /// Adds every owned run, sealed, to `list` (the meta's page list, ``PageList``).
    func list(into list: inout PageList) {
        dirty.forEach { first, buffer in
            list.add(first, pages: runLength(first), storedChecksum: Page(buffer, size: PageLayout.headerSize).storedChecksum)
        }
    }

    /// Stamps every owned page with this transaction and its checksum, the last change before
    /// writing; with ``secureDelete``, first zeroes the bytes each holds beyond its contents
    /// (``Page/eraseUnused()``) and picks the free pages to zero (``erasing``).
    /// Called once, after the free list is saved.
    func seal() {
        if secureDelete { return sealErasing() }
        dirty.forEach { first, buffer in
            let page = Page(buffer, size: runLength(first) * pageSize)
            // A patched copy has held this transaction's id since it was made.
            let flags = page.u8(PageLayout.flagsOffset)
            let ours = page.u64(PageLayout.txnOffset) == txnID
            page.setU8(PageLayout.flagsOffset, 0)
            if ours, flags & PageLayout.patchedChecksum != 0 || flags & PageLayout.appendedCells != 0 && page.sealAppendedLeaf() {
                assert(page.storedChecksum == page.computeChecksum(pageChecksum) || damagedPatchSources.contains(first),
                       "page \(first): the patched checksum is not the page's")
            } else {
                if flags & PageLayout.appendedCells != 0 { page.setU16(PageLayout.sourceUpperOffset, 0) }
                page.setU64(PageLayout.txnOffset, txnID)
                page.seal(pageChecksum)
            }
        }
        assert({ damagedPatchSources.removeAll(); return true }())
    }

    /// ``seal()`` with ``secureDelete``.
    @inline(never)
    private func sealErasing() {
        dirty.forEach { first, buffer in
            let page = Page(buffer, size: runLength(first) * pageSize)
            page.eraseUnused()
            if page.u8(PageLayout.flagsOffset) & PageLayout.appendedCells != 0 { page.setU16(PageLayout.sourceUpperOffset, 0) }
            page.setU64(PageLayout.txnOffset, txnID)
            page.setU8(PageLayout.flagsOffset, 0)
            page.seal(pageChecksum)
        }
        collectPagesToErase()
    }

    /// With ``secureDelete``, moves into ``erasing`` the pages to overwrite with zeros at
    /// commit: those that became reusable during this transaction or that it wrote in place
    /// (``Writer/releasedPages``), less those it owns at its end (the free list's own
    /// pages are taken by now), so all free. No reader and no commit a crash may fall back to
    /// reaches them. In no order; in place, a page may be there twice.
    private func collectPagesToErase() {
        guard let writer, writer.releasedPages?.isEmpty == false else { return }
        swap(&erasing, &writer.releasedPages!)
        // Pages owned: a key of `dirty`, or inside one of its runs.
        var inRuns = Set<UInt64>()
        if !runLengths.isEmpty {
            for (first, count) in runLengths { for page in (first + 1)..<(first + UInt64(count)) { inRuns.insert(page) } }
        }
        let count = erasing.count
        var kept = 0
        erasing.withUnsafeMutableBufferPointer { pages in
            for index in 0..<count where dirty[pages[index]] == nil && (inRuns.isEmpty || !inRuns.contains(pages[index])) {
                pages[kept] = pages[index]
                kept &+= 1
            }
        }
        while erasing.count > kept { erasing.removeLast() }
    }

    /// Writes (page, a page of zeros) for every page of ``erasing`` into `list` from `index`
    /// (heap mode: the commit's pwritev writes the zeros); returns the index after them.
    @inline(never)
    func listErasedPages(into list: UnsafeMutableBufferPointer<(page: UInt64, buffer: UnsafeMutableRawPointer)>, at index: Int) -> Int {
        // (A heap-mode view always has a pool.)
        let zeros = bufferPool!.zeroPage
        var filled = index
        for page in erasing {
            list[filled] = (page, zeros)
            filled += 1
        }
        return filled
    }

    /// Zeroes ``erasing`` (not empty) in place in the map (writable mapping modes); returns
    /// the range the pages span, for the commit's msync.
    func eraseInPlace() -> Range<UInt64>? {
        guard inPlace else { return nil }
        var low = UInt64.max, high: UInt64 = 0
        for page in erasing {
            Page(base + Int(page) * pageSize, size: pageSize).zero(0, pageSize)
            if let tracer { tracer.pagesWritten(page, count: 1) }
            low = min(low, page)
            high = max(high, page)
        }
        return low..<(high + 1)
    }

    /// The pages from the lowest to the end of the highest this transaction owns or wrote in
    /// place and freed again (for msync).
    func pageRange() -> Range<UInt64> {
        var low = UInt64.max, end: UInt64 = 0
        dirty.forEach { first, _ in
            low = min(low, first)
            end = max(end, first + UInt64(runLength(first)))
        }
        if let freedInPlace { (low, end) = (min(low, freedInPlace.lowerBound), max(end, freedInPlace.upperBound)) }
        return low < end ? low..<end : 0..<0
    }
}

/// Page-sized buffers reused from one write transaction to the next.
/// Used only under the writer lock.
final class PageBufferPool: @unchecked Sendable {
    /// The alignment of a page copy in memory. Nothing needs more than 8 (the widest field
    /// is a u64; `pwritev` takes any address), and asking malloc for page alignment cost a
    /// page of waste per buffer: a 1,000,000-put transaction's peak RSS fell from 658 to
    /// 381 MB and its page faults from 137 to 70 per 1000 puts with 16 (the bench's
    /// redb-bulkload).
    static let alignment = 16
    let pageSize: Int
    /// Buffers kept at most: 16 MiB of 4 KiB pages; a larger transaction allocates the rest.
    let limit = 4096
    /// The kept buffers, a stack in memory of its own rather than an `Array`: taking and
    /// putting back a buffer is a load or a store, with no uniqueness check or call to
    /// retain the pool around (a quarter of a page allocation's cost, four times a commit).
    /// (Unchecked exclusivity: only the writer touches the pool.)
    @exclusivity(unchecked) private var stack: UnsafeMutablePointer<UnsafeMutableRawPointer>
    @exclusivity(unchecked) private var capacity = 64
    /// Buffers in `stack`.
    @exclusivity(unchecked) private(set) var count = 0
    /// A dirty-page table kept for the next transaction (an array allocation per
    /// transaction saved); only tables of at most 4096 slots are kept.
    @exclusivity(unchecked) private var table: [UInt64]?
    @exclusivity(unchecked) private var zeros: UnsafeMutableRawPointer?

    init(pageSize: Int) {
        self.pageSize = pageSize
        stack = UnsafeMutablePointer.allocate(capacity: capacity)
    }

    deinit {
        for index in 0..<count { stack[index].deallocate() }
        stack.deallocate()
        zeros?.deallocate()
    }

    /// A page of zeros, never written to: what ``Options/secureDelete`` writes over a freed
    /// page. Made at the first use.
    var zeroPage: UnsafeMutableRawPointer {
        if let zeros { return zeros }
        let page = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: Self.alignment)
        page.initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)
        zeros = page
        return page
    }

    @inline(__always)
    func take() -> UnsafeMutableRawPointer {
        guard count > 0 else { return UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: Self.alignment) }
        count &-= 1
        return stack[count]
    }

    @inline(__always)
    func put(_ buffer: UnsafeMutableRawPointer) {
        guard count < capacity || grow() else { return buffer.deallocate() }
        stack[count] = buffer
        count &+= 1
    }

    /// Doubles the stack, up to `limit` buffers; false when it is at the limit.
    private func grow() -> Bool {
        guard capacity < limit else { return false }
        let larger = min(limit, capacity * 2)
        let moved = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: larger)
        moved.moveInitialize(from: stack, count: count)
        stack.deallocate()
        stack = moved
        capacity = larger
        return true
    }

    /// Takes back every buffer of `map` (each a single page from ``take()``) and leaves the
    /// map empty.
    func put(draining map: inout PageMap) {
        map.drain { buffer in put(buffer) }
    }

    func takeTable() -> [UInt64]? {
        defer { table = nil }
        return table
    }

    func putTable(_ detached: [UInt64]) {
        if PageBufferPool.keepsTable(words: detached.count) { table = detached }
    }

    /// Whether a page map's table of `words` words is worth keeping for another transaction
    /// (a table grown by a big commit would make every later small commit walk it).
    static func keepsTable(words: Int) -> Bool { words >= PageMap.wordsPerSlot * 16 && words <= PageMap.wordsPerSlot * 4096 }
}

/// `0x`-prefixed lowercase hex of a 64-bit value, for messages.
@usableFromInline
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
