/// The pages a commit reaches that were written after an earlier commit: what a replica
/// holding that earlier commit lacks (MapStoreReplication ships them).
///
/// Pages are copy-on-write and each carries the id of the transaction that wrote it, so a
/// page whose id is at or before `since` was reachable, unchanged, in commit `since` (a page
/// freed and reused since is rewritten, with a newer id), and so is everything below it: the
/// walk stops there. It costs the pages written since, times the depth, never the whole file.
/// It covers what a plain copy needs: the main tree and its tables, overflow runs, the
/// snapshot catalog and each snapshot's tree, and the free-list chain.
struct CommitPages {
    /// Runs written after `since`: first page and page count, in page order.
    private(set) var runs: [(first: UInt64, count: Int)] = []

    static func written<Source: PageReading>(after since: UInt64, in meta: Meta, source: Source) throws(MapStoreError) -> CommitPages {
        var walk = CommitPages()
        var seen = Set<UInt64>()
        let limits = NodeLimits(pageSize: source.pageSize)
        var trees: [(root: TreeRoot, withTables: Bool)] = [(meta.main, true), (meta.catalog, false)]
        if meta.catalog.entries > 0 {
            for (_, record) in try SnapshotCatalog.all(in: meta.catalog, source: source, pageCount: meta.pageCount) {
                trees.append((record.main, true))
            }
        }
        while let (tree, isMain) = trees.popLast() {
            guard !tree.isEmpty else { continue }
            var stack: [(number: UInt64, level: Int)] = [(tree.root, 1)]
            while let (number, level) = stack.popLast() {
                let page = try source.readPage(number)
                guard page.txnID > since, seen.insert(number).inserted else { continue }
                walk.runs.append((number, 1))
                let node = try Node(page, number: number)
                guard node.isLeaf == (level == tree.depth) else {
                    throw node.corrupted("page at level \(level) does not fit a tree of depth \(tree.depth)")
                }
                for index in 0..<node.count {
                    if node.isLeaf {
                        let entry = try node.leafEntry(index)
                        if entry.isOverflow {
                            let first = node.page.u64(entry.valueOffset)
                            let count = limits.overflowPages(valueLength: entry.valueLength)
                            let run = try source.readRun(first, count: count)
                            if run.txnID > since, seen.insert(first).inserted { walk.runs.append((first, count)) }
                        }
                        if entry.isTable, isMain {
                            trees.append((try TableDescriptor.decode(node.page.slice(entry.valueOffset, entry.valueLength),
                                                                     pageCount: UInt64.max, at: number), false))
                        }
                    } else {
                        stack.append((try node.branchChild(index), level + 1))
                    }
                }
            }
        }
        // The free list's chain: the working pages first, then frozen pages, newest first, so
        // the first page at or before `since` ends what is new.
        var number = meta.freeListRoot
        var steps: UInt64 = 0
        while number != 0, steps < meta.pageCount {
            let page = try source.readPage(number)
            guard page.kind == PageKind.freeList.rawValue, page.txnID > since else { break }
            if seen.insert(number).inserted { walk.runs.append((number, 1)) }
            number = page.u64(PageLayout.headerSize)
            steps += 1
        }
        walk.runs.sort { $0.first < $1.first }
        return walk
    }
}

extension ReadTransaction {
    /// The runs of pages this commit reaches that transactions after `since` wrote (see
    /// ``CommitPages``), in page order: with commit `since`'s file, they make this commit's.
    package func pagesWritten(after since: UInt64) throws(MapStoreError) -> [(first: UInt64, count: Int)] {
        try CommitPages.written(after: since, in: base, source: pages).runs
    }

    /// The bytes of pages `first ..< first + count` as this commit has them (checked against
    /// its page count).
    package func pageBytes(_ first: UInt64, count: Int) throws(MapStoreError) -> [UInt8] {
        let run = try pages.readRun(first, count: count)
        return Array(run.slice(0, count * pages.pageSize))
    }

    /// This commit's meta page as a plain copy of it carries it (no page list or record run,
    /// no confirmation flag, its inline free list): written into slot `transactionID % 2` of a
    /// file holding its pages, it makes that file open at this commit. Throws as
    /// ``freeListWords()`` does.
    package func metaPageBytes() throws(MapStoreError) -> [UInt8] {
        let pageSize = pages.pageSize
        let words = try freeListWords()
        return [UInt8](unsafeUninitializedCapacity: pageSize) { buffer, count in
            let raw = UnsafeMutableRawPointer(buffer.baseAddress!)
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)
            base.withoutRecord.encode(into: Page(raw, size: pageSize), words: words)
            count = pageSize
        }
    }

    /// The page size, and the pages `0 ..< pageCount` this commit's file holds (a record run's
    /// among them as free pages: see ``metaPageBytes()``).
    package var pageLayout: (pageSize: Int, pageCount: UInt64) { (pages.pageSize, base.withoutRecord.pageCount) }
}
