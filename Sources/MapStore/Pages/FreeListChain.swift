/// Reading and writing the free list's chain of pages.
@usableFromInline
enum FreeListChain {
    /// Reads the chain from `root`: the list and the chain's own pages. Checks every page.
    static func load<Source: PageReading>(from root: UInt64, source: Source, pageCount: UInt64) throws(MapStoreError) -> (list: FreeList, chain: [UInt64]) {
        guard root != 0 else { return (FreeList(), []) }
        var words: [UInt64] = []
        var chain: [UInt64] = []
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
            guard page.storedChecksum == page.computeChecksum() else {
                throw MapStoreError.corrupted(page: number, reason: "free-list page checksum mismatch")
            }
            let count = page.count
            guard count >= 1, count - 1 <= perPage else {
                throw MapStoreError.corrupted(page: number, reason: "free-list page holds \(count) words, at most \(perPage + 1) fit")
            }
            chain.append(number)
            for index in 1..<count { words.append(page.u64(PageLayout.headerSize + 8 * index)) }
            number = page.u64(PageLayout.headerSize)
        }
        return (try FreeList.decode(words: words, pageCount: pageCount, chainStart: root), chain)
    }

    /// Frees the old chain and writes the transaction's free list into new pages; returns the new root.
    static func save(_ pages: TransactionPages, oldChain: [UInt64]) throws(MapStoreError) -> (root: UInt64, chain: [UInt64]) {
        for number in oldChain { pages.free(number, count: 1) }
        let perPage = FreeList.wordsPerPage(pageSize: pages.pageSize)
        var chain: [(number: UInt64, page: Page)] = []
        var words: [UInt64]
        // Taking a page for the chain can shrink the list; loop until the chain is long
        // enough (counting the words, not building them), then build them once.
        while true {
            let needed = (pages.freeList.wordCount(adding: pages.freedNow) + perPage - 1) / perPage
            if chain.count >= needed { break }
            let (number, page) = try pages.allocate(1)
            chain.append((number, page))
        }
        words = pages.freeList.words(adding: pages.freedNow, tag: pages.txnID)
        var next: UInt64 = 0
        var end = words.count
        for (index, link) in chain.enumerated().reversed() {
            let start = min(index * perPage, end)
            let page = link.page
            page.initialize(kind: .freeList, number: link.number, txnID: pages.txnID)
            page.setU16(PageLayout.countOffset, 1 + (end - start))
            page.setU64(PageLayout.headerSize, next)
            for (offset, word) in words[start..<end].enumerated() {
                page.setU64(PageLayout.headerSize + 8 * (offset + 1), word)
            }
            next = link.number
            end = start
        }
        return (chain.first?.number ?? 0, chain.map(\.number))
    }
}
