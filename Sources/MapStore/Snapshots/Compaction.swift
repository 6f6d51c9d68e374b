/// The layout of a compacted copy of one commit: every page its main tree, tables and
/// overflow runs reach, renumbered densely from page 2 in breadth-first order (so a
/// parent precedes its children and the file is written front to back in one pass).
struct CompactionPlan {
    /// A tree page or an overflow run of the source, in the order it is written.
    struct Item {
        var old: UInt64
        var count: Int
        var isRun: Bool
        var isMainTree: Bool
        /// The length of the value an overflow run holds (0 for a tree page).
        var valueLength: Int
    }

    private(set) var items: [Item] = []
    private(set) var renumber: [UInt64: UInt64] = [:]
    /// The compacted main tree's root.
    private(set) var main: TreeRoot
    /// Pages of the compacted file, meta pages included.
    private(set) var pageCount: UInt64 = PageLayout.firstDataPage

    /// Walks the commit `base` and assigns every reachable page its new number.
    init<Source: PageReading>(base: Meta, source: Source) throws(MapStoreError) {
        main = base.main
        let limits = NodeLimits(pageSize: source.pageSize)
        var index = 0
        enqueue(base.main.root, count: 1, isRun: false, isMainTree: true)
        while index < items.count {
            let item = items[index]
            index += 1
            guard !item.isRun else { continue }
            let node = try Node(try source.readPage(item.old), number: item.old)
            for cell in 0..<node.count {
                if node.isLeaf {
                    let entry = try node.leafEntry(cell)
                    if entry.isOverflow {
                        enqueue(node.page.u64(entry.valueOffset), count: limits.overflowPages(valueLength: entry.valueLength),
                                isRun: true, isMainTree: false, valueLength: entry.valueLength)
                    } else if entry.isTable, item.isMainTree {
                        let table = try TableDescriptor.decode(node.page.slice(entry.valueOffset, entry.valueLength),
                                                               pageCount: base.pageCount, at: item.old)
                        if !table.isEmpty { enqueue(table.root, count: 1, isRun: false, isMainTree: false) }
                    }
                } else {
                    enqueue(try node.branchChild(cell), count: 1, isRun: false, isMainTree: item.isMainTree)
                }
            }
        }
        if !main.isEmpty { main.root = renumber[main.root]! }
    }

    private mutating func enqueue(_ old: UInt64, count: Int, isRun: Bool, isMainTree: Bool, valueLength: Int = 0) {
        guard old != 0, renumber[old] == nil else { return }
        renumber[old] = pageCount
        pageCount += UInt64(count)
        items.append(Item(old: old, count: count, isRun: isRun, isMainTree: isMainTree, valueLength: valueLength))
    }

    /// Copies every planned page into `sink` with its new number, its references renumbered
    /// and its checksum recomputed, keeping only the bytes a reader uses: a tree page's header,
    /// slots and live cells (``Node/scrubbed(into:)``), an overflow run's header and value;
    /// every other byte is zero. A page must verify with its old checksum before it gets a
    /// new one: compaction never seals damage as sound.
    func write<Source: PageReading>(to sink: BackupSink, source: Source, progress: (Int) -> Void) throws(MapStoreError) {
        let pageSize = source.pageSize
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        var capacity = 1
        defer { buffer.deallocate() }
        var done = Int(PageLayout.firstDataPage)
        for item in items {
            if item.count > capacity {
                buffer.deallocate()
                buffer = UnsafeMutableRawPointer.allocate(byteCount: item.count * pageSize, alignment: pageSize)
                capacity = item.count
            }
            let original = item.isRun ? try source.readRun(item.old, count: item.count) : try source.readPage(item.old)
            try original.verifyChecksum(source.pageChecksum, number: item.old)
            let page = Page(buffer, size: item.count * pageSize)
            if item.isRun {
                let tail = PageLayout.headerSize + item.valueLength
                page.write(original.slice(0, tail), at: 0)
                page.zero(tail, page.size - tail)
            } else {
                _ = try Node(original, number: item.old).scrubbed(into: page)
                try renumberReferences(in: page, number: item.old, isMainTree: item.isMainTree)
            }
            page.setU64(PageLayout.numberOffset, renumber[item.old]!)
            page.seal(source.pageChecksum)
            try sink.write(UnsafeRawBufferPointer(start: buffer, count: item.count * pageSize))
            done += item.count
            progress(done)
        }
    }

    /// Rewrites the child, overflow and table-root page numbers of the node copied into `page`.
    private func renumberReferences(in page: Page, number: UInt64, isMainTree: Bool) throws(MapStoreError) {
        let node = try Node(page, number: number)
        for cell in 0..<node.count {
            if node.isLeaf {
                let entry = try node.leafEntry(cell)
                if entry.isOverflow {
                    page.setU64(entry.valueOffset, try mapped(page.u64(entry.valueOffset), from: number))
                } else if entry.isTable, isMainTree, page.u64(entry.valueOffset) != 0 {
                    page.setU64(entry.valueOffset, try mapped(page.u64(entry.valueOffset), from: number))
                }
            } else {
                let offset = try node.cellOffset(cell)
                page.setU64(offset, try mapped(page.u64(offset), from: number))
            }
        }
    }

    private func mapped(_ old: UInt64, from page: UInt64) throws(MapStoreError) -> UInt64 {
        guard let new = renumber[old] else {
            throw MapStoreError.corrupted(page: page, reason: "refers to page \(old), which the compaction walk did not reach")
        }
        return new
    }
}
