/// The pages one commit's data reaches: a tree's branch and leaf pages, its overflow runs,
/// and (for a main tree) every table's tree. Used by restore (which pages come back into
/// use), by the snapshot list (pages pinned) and by a plain backup (which bytes it keeps).
struct ReachablePages {
    /// Every page reached, each once.
    private(set) var pages: Set<UInt64> = []
    /// The overflow runs among them: first page, pages, and the length of the value they hold.
    private(set) var runs: [(first: UInt64, count: Int, valueLength: Int)] = []

    /// Walks `tree` (a main tree when `withTables`), checking structure as far as a walk needs.
    /// Throws ``MapStoreError/corrupted(page:reason:)`` at the first page that does not fit.
    static func collect<Source: PageReading>(_ tree: TreeRoot, source: Source, withTables: Bool) throws(MapStoreError) -> ReachablePages {
        var result = ReachablePages()
        var trees = [(tree, withTables)]
        let limits = NodeLimits(pageSize: source.pageSize)
        while let (next, isMain) = trees.popLast() {
            guard !next.isEmpty else { continue }
            var stack: [(number: UInt64, level: Int)] = [(next.root, 1)]
            while let (number, level) = stack.popLast() {
                guard result.pages.insert(number).inserted else {
                    throw MapStoreError.corrupted(page: number, reason: "page reached twice while walking a tree")
                }
                let node = try Node(try source.readPage(number), number: number)
                guard node.isLeaf == (level == next.depth) else {
                    throw node.corrupted("page at level \(level) does not fit a tree of depth \(next.depth)")
                }
                for index in 0..<node.count {
                    if node.isLeaf {
                        let entry = try node.leafEntry(index)
                        if entry.isOverflow {
                            let first = node.page.u64(entry.valueOffset)
                            let count = limits.overflowPages(valueLength: entry.valueLength)
                            _ = try source.readRun(first, count: count)  // bounds check
                            for page in first..<(first + UInt64(count)) { result.pages.insert(page) }
                            result.runs.append((first, count, entry.valueLength))
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
        return result
    }
}
