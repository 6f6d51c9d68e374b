/// Point lookups in a B+tree, over any page source.
@usableFromInline
struct TreeReader<Source: PageReading> {
    @usableFromInline let space: Source

    @inlinable init(space: Source) { self.space = space }

    /// The leaf page and entry holding `key`, or nil. Inlined into its (concrete) callers:
    /// as a specialized call it still reached `readPage` through the protocol witness,
    /// with a metadata lookup per call.
    @inlinable @inline(__always)
    func find(_ tree: TreeRoot, key: UnsafeRawBufferPointer) throws(MapStoreError) -> (page: Page, entry: LeafEntry)? {
        guard !tree.isEmpty else { return nil }
        var number = tree.root
        var level = 1
        while true {
            let node = try Node(try space.readPage(number), number: number)
            if node.isLeaf {
                guard level == tree.depth else { throw node.corrupted("leaf at level \(level) of a tree of depth \(tree.depth)") }
                let (index, found) = try node.searchLeaf(key)
                guard found else { return nil }
                return (node.page, try node.leafEntry(inRange: index))
            }
            guard level < tree.depth else { throw node.corrupted("branch at level \(level) of a tree of depth \(tree.depth)") }
            number = try node.branchChild(inRange: try node.searchBranch(key))
            level += 1
        }
    }

    /// The bytes of an entry's value: in the leaf, or in its overflow run (checked).
    @inlinable
    func value(of entry: LeafEntry, in page: Page) throws(MapStoreError) -> UnsafeRawBufferPointer {
        guard entry.isOverflow else { return page.slice(entry.valueOffset, entry.valueLength) }
        let first = page.u64(entry.valueOffset)
        let pages = NodeLimits(pageSize: space.pageSize).overflowPages(valueLength: entry.valueLength)
        let run = try space.readRun(first, count: pages)
        guard run.kind == PageKind.overflow.rawValue, run.pageNumber == first, Int(run.u32(PageLayout.runLengthOffset)) == pages else {
            throw MapStoreError.corrupted(page: first, reason: "overflow run header does not match a \(entry.valueLength)-byte value of \(pages) pages")
        }
        return run.slice(PageLayout.headerSize, entry.valueLength)
    }
}
