/// Reading and writing the free list: its working part, inline in the meta page (format
/// version 4, ``Meta/freeListWordCount``) or in chain pages, and the chain of pages after it.
@usableFromInline
enum FreeListChain {
    /// Reads the list of commit `meta`: its inline words (`inline`, ``Environment/freeListWords(of:)``),
    /// then the chain from its root. Returns the list and the chain's own pages. Checks every page.
    static func load<Source: PageReading>(of meta: Meta, inline: [UInt64], source: Source) throws(MapStoreError) -> (list: FreeList, chain: [UInt64]) {
        let root = meta.freeListRoot
        let (words, pages) = try read(from: root, source: source, pageCount: meta.pageCount)
        guard root != 0 || !inline.isEmpty else { return (FreeList(), []) }
        return (try FreeList.decode(words: inline + words, pageCount: meta.pageCount, chainStart: root), pages.map(\.number))
    }

    /// The chain pages of commit `meta` (what a copy of the file must keep besides the trees).
    static func chainPages<Source: PageReading>(of meta: Meta, source: Source) throws(MapStoreError) -> [UInt64] {
        try read(from: meta.freeListRoot, source: source, pageCount: meta.pageCount).pages.map(\.number)
    }

    /// Reads the chain from `root` for a write transaction: when every chain page holds whole
    /// records (as this writer lays them out), the pages stay as they are, frozen, and the
    /// next commit links to them instead of rewriting them; else (a chain an older writer laid
    /// out across page boundaries) the whole list is the working part, rewritten once.
    ///
    /// The inline words (`inline`) are the working part; the chain after them holds only
    /// frozen pages.
    static func loadForWriting<Source: PageReading>(of meta: Meta, inline: [UInt64], source: Source) throws(MapStoreError) -> (list: FreeList, chain: [UInt64]) {
        let root = meta.freeListRoot
        let pageCount = meta.pageCount
        let (words, pages) = try read(from: root, source: source, pageCount: pageCount)
        guard root != 0 || !inline.isEmpty else { return (FreeList(), []) }
        var frozen: [FreeList.FrozenPage] = []
        frozen.reserveCapacity(pages.count)
        for page in pages.reversed() {
            guard let records = FreeList.parsePage(words[page.words], pageCount: pageCount) else {
                return (try FreeList.decode(words: inline + words, pageCount: pageCount, chainStart: root), pages.map(\.number))
            }
            frozen.append(FreeList.FrozenPage(number: page.number, records: records))
        }
        var list = inline.isEmpty ? FreeList() : try FreeList.decode(words: inline, pageCount: pageCount, chainStart: root)
        list.frozen = frozen
        return (list, [])
    }

    /// The words of the chain from `root`, and each chain page with the range of its words.
    private static func read<Source: PageReading>(from root: UInt64, source: Source, pageCount: UInt64) throws(MapStoreError) -> (words: [UInt64], pages: [(number: UInt64, words: Range<Int>)]) {
        var words: [UInt64] = []
        var chain: [(number: UInt64, words: Range<Int>)] = []
        var number = root
        let perPage = FreeList.wordsPerPage(pageSize: source.pageSize)
        while number != 0 {
            guard chain.count < Int(pageCount) else {
                throw MapStoreError.corrupted(page: number, reason: "free-list chain loops")
            }
            let page = try source.readPage(number)
            guard page.kind == PageKind.freeList.rawValue, page.pageNumber == number else {
                throw MapStoreError.corrupted(page: number, reason: "expected a free-list page, found kind \(page.kind) numbered \(page.pageNumber)")
            }
            guard page.storedChecksum == page.computeChecksum(source.pageChecksum) else {
                throw MapStoreError.corrupted(page: number, reason: "free-list page checksum mismatch")
            }
            let count = page.count
            guard count >= 1, count - 1 <= perPage else {
                throw MapStoreError.corrupted(page: number, reason: "free-list page holds \(count) words, at most \(perPage + 1) fit")
            }
            let start = words.count
            for index in 1..<count { words.append(page.u64(PageLayout.headerSize + 8 * index)) }
            chain.append((number, start..<words.count))
            number = page.u64(PageLayout.headerSize)
        }
        return (words, chain)
    }

    /// Frees the working part's old chain pages (`chain` on entry) and writes the working
    /// part, with the pages this transaction freed, into new pages linked in front of the
    /// frozen ones; returns the new root and leaves the working chain pages in `chain` (the
    /// same array, reused: a commit allocates none). Afterwards `pages.freeList` is the list
    /// as this commit leaves it (`freedNow` included under this transaction's id).
    ///
    /// With `freezing` on, when the working part fills more than one page its full pages are
    /// frozen (the design wants a commit's cost not to grow with the list): only the last,
    /// partly filled page stays in the working part, first in the chain.
    ///
    /// When the working part takes at most `inlineCapacity` words it goes into none of those
    /// pages but into `words`, for the meta page (``Meta/freeListWordCount``), and the root is
    /// the first frozen page: a commit then writes no free-list page at all. Otherwise `words`
    /// is left empty. (Its buffer is kept.)
    static func save<Pages: FreeListPages>(_ pages: Pages, chain: inout [UInt64], freezing: Bool, inlineCapacity: Int,
                                           words: inout InlineWords) throws(MapStoreError) -> UInt64 {
        for number in chain { pages.free(number, count: 1) }
        chain.empty()
        words.removeAll()
        if inlineCapacity > 0, inlineWords(pages, capacity: min(inlineCapacity, words.capacity), into: &words) {
            // (In order: a commit record's pages wait under a later id, CommitRecord.)
            if !pages.freedNow.isEmpty { pages.freeList.addPending(pages.txnID, pages.freedNow) }
            pages.freedNow = []
            return pages.freeList.frozen.last?.number ?? 0
        }
        // While freezing, chain pages hold at most `frozenPageWords` words: the working page,
        // rewritten and checksummed by every commit, then stays small (a thawed page's pages
        // are what it mostly holds), for a few more chain pages in all.
        let full = FreeList.wordsPerPage(pageSize: pages.pageSize)
        let perPage = freezing ? min(full, FreeList.frozenPageWords) : full
        // Taking a page for the chain can shrink the list (or grow it, when it thaws a frozen
        // page); loop until the chain is long enough (counting the pages, not laying them
        // out), then lay them out once.
        var laidOut: Int
        while true {
            laidOut = pages.freeList.workingPagesNeeded(adding: pages.freedNow, perPage: perPage)
            if chain.count >= laidOut { break }
            chain.append(try pages.allocate(1).number)
        }
        // The final layout (the count that ended the loop: nothing changed since): `laidOut`
        // pages of whole records, in the order the records are written; with freezing, all but
        // the last are frozen now.
        let frozenNow = freezing && laidOut >= 2 ? laidOut - 1 : 0
        let working = chain.count - frozenNow
        let tail = pages.freeList.frozen.last?.number ?? 0
        // Chain order: the working page(s) (with freezing, the last laid-out page), pages
        // left empty (the list shrank while the chain was taken), the pages frozen now, then
        // the pages frozen before.
        for index in chain.indices {
            let page = pages.ownedPage(chain[index])
            page.initialize(kind: .freeList, number: chain[index], txnID: pages.txnID)
            page.setU64(PageLayout.headerSize, index + 1 < chain.count ? chain[index + 1] : tail)
            page.setU16(PageLayout.countOffset, 1)
        }
        var writer = RecordWriter(perPage: perPage, laidOut: laidOut, frozenNow: frozenNow, working: working)
        writer.add(0, pages.freeList.reusable[...], chain: chain, pages: pages)
        for record in pages.freeList.pending { writer.add(record.txn, record.pages[...], chain: chain, pages: pages) }
        writer.add(pages.txnID, pages.freedNow[...], chain: chain, pages: pages)
        writer.finish(chain: chain, pages: pages)
        if frozenNow == 0 {
            if !pages.freedNow.isEmpty { pages.freeList.addPending(pages.txnID, pages.freedNow) }
        } else {
            // Rare (the working part outgrew a page): read the records back from the pages.
            var list = FreeList()
            list.horizon = pages.freeList.horizon
            list.frozen = pages.freeList.frozen
            pages.freeList.frozen = []
            for index in stride(from: chain.count - 1, through: working, by: -1) {
                list.frozen.append(FreeList.FrozenPage(number: chain[index], records: records(of: pages.ownedPage(chain[index]))))
            }
            for record in records(of: pages.ownedPage(chain[0])) {
                if record.txn == 0 {
                    list.reusable = record.pages
                } else {
                    list.pending.append(record)
                }
            }
            pages.freeList = list
        }
        pages.freedNow = []
        let root = chain.first ?? tail
        chain.removeLast(chain.count - working)
        return root
    }

    /// Writes the working part with `freedNow` into the empty `words`, in the chain's record
    /// format; false (and nothing written) when it takes more than `capacity` words.
    private static func inlineWords<Pages: FreeListPages>(_ pages: Pages, capacity: Int, into words: inout InlineWords) -> Bool {
        let reusable = pages.freeList.reusable
        let freedNow = pages.freedNow
        var count = (reusable.isEmpty ? 0 : 2 + reusable.count) + (freedNow.isEmpty ? 0 : 2 + freedNow.count)
        for record in pages.freeList.pending where !record.pages.isEmpty { count += 2 + record.pages.count }
        guard count <= capacity else { return false }
        words.appendRecord(0, reusable)
        for record in pages.freeList.pending { words.appendRecord(record.txn, record.pages) }
        words.appendRecord(pages.txnID, freedNow)
        return true
    }

    /// The records of a chain page this commit wrote (whole records, as laid out).
    private static func records(of page: Page) -> [(txn: UInt64, pages: [UInt64])] {
        var records: [(txn: UInt64, pages: [UInt64])] = []
        var offset = PageLayout.headerSize + 8
        let end = PageLayout.headerSize + 8 * page.count
        while offset < end {
            let txn = page.u64(offset)
            let n = Int(page.u64(offset + 8))
            offset += 16
            var numbers: [UInt64] = []
            numbers.reserveCapacity(n)
            for _ in 0..<n {
                numbers.append(page.u64(offset))
                offset += 8
            }
            records.append((txn, numbers))
        }
        return records
    }

    /// Writes records into chain pages, page by page, a record split under its own tag where
    /// it does not fit the rest of a page (the layout ``FreeList/workingPagesNeeded(adding:perPage:)`` counts).
    private struct RecordWriter {
        let perPage: Int
        let laidOut: Int
        let frozenNow: Int
        let working: Int
        var laid = -1
        var room = 0
        var offset = 0

        init(perPage: Int, laidOut: Int, frozenNow: Int, working: Int) {
            self.perPage = perPage
            self.laidOut = laidOut
            self.frozenNow = frozenNow
            self.working = working
        }

        /// The chain index of laid-out page `laid`: with pages frozen now, the last laid-out
        /// page is the working one, first in the chain, and the others follow the working pages.
        func place(_ laid: Int) -> Int {
            frozenNow == 0 ? laid : (laid == laidOut - 1 ? 0 : working + laid)
        }

        mutating func add<Pages: FreeListPages>(_ txn: UInt64, _ numbers: ArraySlice<UInt64>, chain: [UInt64], pages: Pages) {
            var left = numbers
            while !left.isEmpty {
                if room < 3 {
                    finish(chain: chain, pages: pages)
                    laid += 1
                    room = perPage
                    offset = PageLayout.headerSize + 8
                }
                let page = pages.ownedPage(chain[place(laid)])
                let take = min(left.count, room - 2)
                page.setU64(offset, txn)
                page.setU64(offset + 8, UInt64(take))
                offset += 16
                #if _endian(little)
                left.prefix(take).withUnsafeBytes { page.write($0, at: offset) }
                offset += 8 * take
                #else
                for number in left.prefix(take) {
                    page.setU64(offset, number)
                    offset += 8
                }
                #endif
                left = left.dropFirst(take)
                room -= take + 2
            }
        }

        /// Sets the word count of the page being filled.
        func finish<Pages: FreeListPages>(chain: [UInt64], pages: Pages) {
            guard laid >= 0 else { return }
            pages.ownedPage(chain[place(laid)]).setU16(PageLayout.countOffset, (offset - PageLayout.headerSize) / 8)
        }
    }
}

/// A commit's inline free-list words (``Meta/freeListWordCount``) in memory of their own,
/// allocated once for a writer's life: no array to retain, clear or grow per commit. Plain
/// data: whoever made one frees it (``deallocate()``).
struct InlineWords {
    let base: UnsafeMutablePointer<UInt64>
    let capacity: Int
    private(set) var count = 0

    /// Room for the most words a meta page of any size takes (``Meta/inlineCapacity(pageSize:)``).
    static func allocate() -> InlineWords {
        let capacity = FreeList.frozenPageWords
        return InlineWords(base: .allocate(capacity: capacity), capacity: capacity)
    }

    func deallocate() { base.deallocate() }

    var words: UnsafeBufferPointer<UInt64> { UnsafeBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    /// Appends the record `tag n numbers...` (nothing for no numbers); the caller has counted
    /// that it fits.
    @inline(__always)
    mutating func appendRecord(_ tag: UInt64, _ numbers: [UInt64]) {
        guard !numbers.isEmpty else { return }
        precondition(count + 2 + numbers.count <= capacity, "inline free-list words overflow")
        base[count] = tag
        base[count + 1] = UInt64(numbers.count)
        numbers.withUnsafeBufferPointer { (base + count + 2).update(from: $0.baseAddress!, count: $0.count) }
        count += 2 + numbers.count
    }
}

/// What saving the free list needs of a write transaction's pages: its list, the pages it
/// freed, and pages of its own to write the chain into. (The transactions' page view is the
/// one conformer; the free list sits beneath it and names only this.)
protocol FreeListPages: AnyObject {
    var pageSize: Int { get }
    /// The id of the commit being written.
    var txnID: UInt64 { get }
    /// The free list as the transaction leaves it.
    var freeList: FreeList { get set }
    /// Pages of the base commit the transaction no longer reaches (older snapshots may).
    var freedNow: [UInt64] { get set }
    /// A fresh run of `count` pages owned by the transaction.
    func allocate(_ count: Int) throws(MapStoreError) -> (number: UInt64, page: Page)
    /// A single page the transaction owns.
    func ownedPage(_ number: UInt64) -> Page
    /// Releases a run of pages (the old chain's, here).
    func free(_ number: UInt64, count: Int)
}
