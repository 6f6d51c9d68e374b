/// Insert with split and delete with merge on a copy-on-write B+tree.
///
/// Every page on the path from the root to the leaf is copied (``PageSpace/writablePage(_:)``)
/// before it changes, so no page a reader can see is ever written. Splits put the new cell's
/// half in a new right sibling (only the new cell when it lands at the end of a page, which
/// keeps sequential loads dense); deletes merge a page into its sibling when it falls below
/// a quarter full and the two fit in one page.
@usableFromInline
struct TreeWriter<Space: PageSpace> {
    @usableFromInline let space: Space
    @usableFromInline let limits: NodeLimits
    /// The branch pages above the current leaf, with the child index taken in each.
    @usableFromInline var path: [(number: UInt64, index: Int)] = []

    /// A writer over `space`; `path` is an array to reuse (emptied here), so a write
    /// transaction need not allocate one.
    init(space: Space, path: __owned [(number: UInt64, index: Int)] = []) {
        self.space = space
        self.limits = NodeLimits(pageSize: space.pageSize)
        self.path = path
        // (Not `removeAll(keepingCapacity:)`: while the caller's reference lives, that copies.)
        if !self.path.isEmpty { self.path = [] }
        if self.path.capacity < TreeLimits.maxDepth { self.path.reserveCapacity(TreeLimits.maxDepth) }
    }

    // MARK: Descent

    /// Copies the path to `key`'s leaf, fixing each parent's child pointer; returns the leaf's
    /// copy and where `key` is (or would go) in it.
    ///
    /// Pages are copied without checking every cell. A branch's search reads its cells with
    /// checks, and only the child pointer it took is rewritten. The leaf is searched in its
    /// copy (a damaged one is given back and reported under the leaf's own number),
    /// and a put then reads only the cell it replaces, with checks, and puts a new cell into
    /// the free gap. An edit that reads other cells (a compaction, a split) goes through
    /// `checkedPage`, which checks them all first.
    mutating func descendWritable(_ tree: inout TreeRoot, to key: UnsafeRawBufferPointer) throws(MapStoreError)
        -> (number: UInt64, page: Page, index: Int, found: Bool) {
        path.empty()
        var parent: (page: Page, index: Int)?
        var target = tree.root
        for _ in 1..<tree.depth {
            let (copy, page) = try space.writablePage(target, checkingCells: false)
            point(&tree, parent, from: target, to: copy)
            let node = try Node(page, number: copy)
            guard !node.isLeaf else { throw node.corrupted("leaf found above the tree's depth \(tree.depth)") }
            let index = try node.searchBranch(key)
            path.append((copy, index))
            parent = (page, index)
            target = try node.branchChild(index)
        }
        // The leaf is searched in its copy, which reads the page in order (prefetched) where
        // the search's reads jump about: searched first in the map, they waited on memory.
        let (copy, page) = try space.writablePage(target, checkingCells: false)
        let index: Int, found: Bool
        do throws(MapStoreError) {
            let leaf = try Node(page, number: copy)
            guard leaf.isLeaf else { throw leaf.corrupted("branch page found at leaf depth \(tree.depth)") }
            (index, found) = try leaf.searchLeaf(key)
        } catch {
            // A damaged leaf: no copy, and the error names the page itself.
            guard copy != target else { throw error }
            space.abandonCopy(copy, of: target)
            let source = try Node(try space.readPage(target), number: target)
            guard source.isLeaf else { throw source.corrupted("branch page found at leaf depth \(tree.depth)") }
            _ = try source.searchLeaf(key)
            throw error
        }
        point(&tree, parent, from: target, to: copy)
        return (copy, page, index, found)
    }

    /// Points `parent`'s child `index` (the tree's root when there is none) at `copy`, a copy
    /// of `page` (or the page itself, already this transaction's).
    @inline(__always)
    private func point(_ tree: inout TreeRoot, _ parent: (page: Page, index: Int)?, from page: UInt64, to copy: UInt64) {
        guard let parent else { tree.root = copy; return }
        if copy != page { NodeEditor(parent.page).setChild(parent.index, copy) }
    }

    // MARK: Put

    /// Inserts or replaces `key`. `isTable` marks a table descriptor in the main tree; a key
    /// that is a table cannot be overwritten as data, nor data as a table.

    mutating func put(_ tree: inout TreeRoot, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, isTable: Bool = false) throws(MapStoreError) {
        if tree.isEmpty {
            let (number, page) = try space.allocate(1)
            NodeEditor(page).reset(kind: .leaf)
            tree = TreeRoot(root: number, depth: 1, entries: 0)
        }
        let (leafNumber, leafPage, index, found) = try descendWritable(&tree, to: key)
        let leaf = try Node(leafPage, number: leafNumber)
        let editor = NodeEditor(leafPage)
        if found {
            let old = try leaf.leafEntry(index)
            if old.isTable != isTable {
                throw MapStoreError.invalidArgument(reason: old.isTable ? "the key names a table; use the table's API" : "the key holds data, not a table")
            }
            if old.isOverflow {
                space.free(leafPage.u64(old.valueOffset), count: limits.overflowPages(valueLength: old.valueLength))
            } else if old.valueLength == value.count {
                // Same size, inline: overwrite the value bytes in place (the page is already our copy).
                leafPage.dropAppendedCells()
                leafPage.write(value, at: old.valueOffset)
                return
            }
            editor.removeSlot(at: index, erasing: space.secureDelete)
        } else if !isTable {
            tree.entries += 1  // the count is of data entries: table descriptors are not counted
        }
        let flags: UInt8 = isTable ? Cell.table : 0
        if limits.isInline(keyLength: key.count, valueLength: value.count) {
            try insertLeafCell(&tree, leaf: (leafNumber, leafPage), index: index, key: key, flags: flags, valueLength: value.count, stored: value)
        } else {
            let pages = limits.overflowPages(valueLength: value.count)
            let (first, run) = try space.allocate(pages)
            run.initialize(kind: .overflow, number: first, txnID: 0)
            run.setU32(PageLayout.runLengthOffset, UInt32(pages))
            run.write(value, at: PageLayout.headerSize)
            let tail = PageLayout.headerSize + value.count
            run.zero(tail, run.size - tail)
            var reference = first.littleEndian
            try withUnsafeBytes(of: &reference) { (stored) throws(MapStoreError) in
                try insertLeafCell(&tree, leaf: (leafNumber, leafPage), index: index, key: key,
                                   flags: flags | Cell.overflow, valueLength: value.count, stored: stored)
            }
        }
    }


    mutating func insertLeafCell(_ tree: inout TreeRoot, leaf: (number: UInt64, page: Page), index: Int, key: UnsafeRawBufferPointer,
                                 flags: UInt8, valueLength: Int, stored: UnsafeRawBufferPointer) throws(MapStoreError) {
        let size = Cell.leafHeader + key.count + stored.count
        let editor = NodeEditor(leaf.page)
        if editor.contiguousFree < size + Cell.slotSize {
            // A compaction or a split reads every cell: check them first (once per copy).
            _ = try space.checkedPage(leaf.number)
            if editor.usedBytes() + size + Cell.slotSize <= editor.capacity { editor.compact(scratch: space.scratch) }
        }
        if editor.contiguousFree >= size + Cell.slotSize {
            let at = editor.insertSlot(at: index, size: size)
            editor.writeLeafCell(at: at, key: key, flags: flags, valueLength: valueLength, stored: stored)
            return
        }
        // No room: build the cell aside and split the leaf around it.
        try withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { (buffer) throws(MapStoreError) in
            let cellPage = Page(buffer.baseAddress!, size: size)
            NodeEditor(cellPage).writeLeafCell(at: 0, key: key, flags: flags, valueLength: valueLength, stored: stored)
            try split(&tree, node: leaf, index: index, newCell: UnsafeRawBufferPointer(buffer))
        }
    }

    // MARK: Split

    /// Splits a full node around a new cell at `index`, then inserts the separator into the
    /// parent (splitting it in turn, or growing a new root).
    @usableFromInline
    mutating func split(_ tree: inout TreeRoot, node: (number: UInt64, page: Page), index: Int, newCell: UnsafeRawBufferPointer) throws(MapStoreError) {
        let scratch = space.scratch
        scratch.copy(from: node.page)
        let old = NodeEditor(scratch)
        let isLeaf = old.isLeaf
        let n = old.count

        @inline(__always) func item(_ j: Int) -> UnsafeRawBufferPointer {
            j < index ? old.cell(j) : (j == index ? newCell : old.cell(j - 1))
        }

        // Where to split: only the new cell moves right when it lands at the end, else by bytes in half.
        var left = n
        if index < n {
            var total = 0
            for j in 0...n { total += item(j).count + Cell.slotSize }
            var sum = 0
            left = 1
            for j in 0..<n {
                sum += item(j).count + Cell.slotSize
                if sum * 2 >= total { left = max(1, j + 1); break }
            }
            left = min(left, n)
        }

        let (rightNumber, rightPage) = try space.allocate(1)
        let leftEditor = NodeEditor(node.page)
        let rightEditor = NodeEditor(rightPage)
        leftEditor.reset(kind: isLeaf ? .leaf : .branch)
        rightEditor.reset(kind: isLeaf ? .leaf : .branch)
        for j in 0..<left { leftEditor.append(cell: item(j)) }

        let separator: [UInt8]
        if isLeaf {
            for j in left...n { rightEditor.append(cell: item(j)) }
            separator = Self.shortestSeparator(Cell.leafKey(of: item(left - 1)), Cell.leafKey(of: item(left)))
        } else {
            // The first right cell's key moves up; it stays in the right page with an empty key.
            let first = item(left)
            separator = Array(Cell.branchKey(of: first))
            rightEditor.insertBranchCell(at: 0, key: UnsafeRawBufferPointer(start: nil, count: 0), child: Cell.branchChild(of: first))
            for j in stride(from: left + 1, through: n, by: 1) { rightEditor.append(cell: item(j)) }
        }
        try withBytes(of: separator) { (key) throws(MapStoreError) in
            try insertSeparator(&tree, key: key, right: rightNumber, splitting: node.number)
        }
    }

    /// The shortest prefix of `right` that sorts after `left`: a valid separator that keeps branch pages small.
    static func shortestSeparator(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> [UInt8] {
        var common = 0
        while common < left.count, common < right.count, left[common] == right[common] { common += 1 }
        return Array(right.prefix(common + 1))
    }

    /// Adds (`key`, `right`) after the child `splitting` in its parent (the last page on the path).
    @usableFromInline
    mutating func insertSeparator(_ tree: inout TreeRoot, key: UnsafeRawBufferPointer, right: UInt64, splitting left: UInt64) throws(MapStoreError) {
        guard let (parentNumber, index) = path.popLast() else {
            // The root split: a new root above the two halves.
            let (rootNumber, rootPage) = try space.allocate(1)
            let root = NodeEditor(rootPage)
            root.reset(kind: .branch)
            root.insertBranchCell(at: 0, key: UnsafeRawBufferPointer(start: nil, count: 0), child: left)
            root.insertBranchCell(at: 1, key: key, child: right)
            tree.root = rootNumber
            tree.depth += 1
            guard tree.depth <= TreeLimits.maxDepth else { throw MapStoreError.mapFull(limit: TreeLimits.maxDepth) }
            return
        }
        let parentPage = try space.checkedPage(parentNumber)  // already our copy: it is on the written path
        let parent = NodeEditor(parentPage)
        let size = Cell.branchHeader + key.count
        if parent.contiguousFree < size + Cell.slotSize, parent.usedBytes() + size + Cell.slotSize <= parent.capacity {
            parent.compact(scratch: space.scratch)
        }
        if parent.contiguousFree >= size + Cell.slotSize {
            parent.insertBranchCell(at: index + 1, key: key, child: right)
            return
        }
        try withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { (buffer) throws(MapStoreError) in
            Page(buffer.baseAddress!, size: size).writeBranchCell(at: 0, child: right, key: key)
            try split(&tree, node: (parentNumber, parentPage), index: index + 1, newCell: UnsafeRawBufferPointer(buffer))
        }
    }

    // MARK: Delete

    /// Removes `key`; returns false (and changes nothing) when it is absent.

    mutating func delete(_ tree: inout TreeRoot, key: UnsafeRawBufferPointer, isTable: Bool = false) throws(MapStoreError) -> Bool {
        guard !tree.isEmpty else { return false }
        // Look before copying (a miss must not copy the path), noting the child taken at
        // each level so the copy below does not search again.
        path.empty()
        var number = tree.root
        for level in 1...tree.depth {
            let node = try Node(try space.readPage(number), number: number)
            guard node.isLeaf == (level == tree.depth) else {
                throw node.corrupted("\(node.isLeaf ? "leaf" : "branch") at level \(level) of a tree of depth \(tree.depth)")
            }
            if node.isLeaf { break }
            let index = try node.searchBranch(key)
            path.append((number, index))
            number = try node.branchChild(index)
        }
        let found = try Node(try space.readPage(number), number: number)
        let (index, present) = try found.searchLeaf(key)
        guard present else { return false }
        let entry = try found.leafEntry(index)
        guard entry.isTable == isTable else {
            throw MapStoreError.invalidArgument(reason: entry.isTable ? "the key names a table; drop the table instead" : "the key holds data, not a table")
        }
        let (leafNumber, leafPage) = try copyPath(&tree)
        let leaf = try Node(leafPage, number: leafNumber)
        guard index < leaf.count, compareKeys(try leaf.leafKey(index), key) == 0 else {
            throw leaf.corrupted("key found by the lookup is missing from the copy of its leaf")
        }
        let old = try leaf.leafEntry(index)
        if old.isOverflow {
            space.free(leafPage.u64(old.valueOffset), count: limits.overflowPages(valueLength: old.valueLength))
        }
        NodeEditor(leafPage).removeSlot(at: index, erasing: space.secureDelete)
        if !isTable { tree.entries -= 1 }
        try rebalance(&tree, from: leafNumber)
        return true
    }

    /// Copies the path `path` holds (branch pages and the child index taken in each, from
    /// a lookup), fixing each parent's child pointer; `path` then names the copies. Returns the leaf.
    mutating func copyPath(_ tree: inout TreeRoot) throws(MapStoreError) -> (number: UInt64, page: Page) {
        var (number, page) = try space.writablePage(tree.root, checkingCells: path.isEmpty)
        tree.root = number
        for level in path.indices {
            let index = path[level].index
            let child = try Node(page, number: number).branchChild(index)
            let (copy, childPage) = try space.writablePage(child, checkingCells: level == path.count - 1)
            if copy != child { NodeEditor(page).setChild(index, copy) }
            path[level].number = number
            number = copy
            page = childPage
        }
        return try writableLeaf(number, page, depth: tree.depth)
    }

    /// The leaf at the end of a copied path: it must be a leaf, and one copied unchecked (as a
    /// branch-depth copy of a damaged tree can be) is checked before it is edited.
    private func writableLeaf(_ number: UInt64, _ page: Page, depth: Int) throws(MapStoreError) -> (number: UInt64, page: Page) {
        guard page.kind == PageKind.leaf.rawValue else {
            throw MapStoreError.corrupted(page: number, reason: "branch page found at leaf depth \(depth)")
        }
        if page.u8(PageLayout.flagsOffset) & PageLayout.uncheckedCells != 0 { return (number, try space.checkedPage(number)) }
        return (number, page)
    }

    /// Merges underfull pages upward from `number` and shrinks the root while it has one child.
    @usableFromInline
    mutating func rebalance(_ tree: inout TreeRoot, from number: UInt64) throws(MapStoreError) {
        var current = number
        while let (parentNumber, index) = path.last {
            let node = NodeEditor(try space.checkedPage(current))
            // At least a quarter full (used * 4 >= capacity), counted only as far as needed.
            if node.count >= (node.isLeaf ? 1 : 2), node.usesAtLeast((node.capacity + 3) / 4) { break }
            let parentPage = try space.checkedPage(parentNumber)
            let parent = NodeEditor(parentPage)
            guard parent.count > 1 else { break }
            // Merge with whichever neighbour fits: the right one first, else the left one.
            var pair: (left: Int, right: Int)?
            for sibling in [index + 1, index - 1] where sibling >= 0 && sibling < parent.count {
                let siblingNode = try Node(try space.readPage(parent.child(sibling)), number: parent.child(sibling))
                try siblingNode.validateAll()
                let separator = parent.branchKey(max(sibling, index)).count
                if node.usedBytes() + NodeEditor(siblingNode.page).usedBytes() + (node.isLeaf ? 0 : separator) <= node.capacity {
                    pair = (min(sibling, index), max(sibling, index))
                    break
                }
            }
            guard let (leftIndex, rightIndex) = pair else { break }
            // Copy both children (one of them is `current`, already ours).
            let (leftNumber, leftPage) = try space.writablePage(parent.child(leftIndex), checkingCells: true)
            parent.setChild(leftIndex, leftNumber)
            let (rightNumber, rightPage) = try space.writablePage(parent.child(rightIndex), checkingCells: true)
            parent.setChild(rightIndex, rightNumber)
            let leftNode = NodeEditor(leftPage)
            let rightNode = NodeEditor(rightPage)
            let separator = Array(parent.branchKey(rightIndex))
            leftNode.compact(scratch: space.scratch)
            for j in 0..<rightNode.count {
                if j == 0, !leftNode.isLeaf {
                    separator.withUnsafeBytes { leftNode.insertBranchCell(at: leftNode.count, key: $0, child: rightNode.child(0)) }
                } else {
                    leftNode.append(cell: rightNode.cell(j))
                }
            }
            parent.removeSlot(at: rightIndex, erasing: space.secureDelete)
            space.free(rightNumber, count: 1)
            path.removeLast()
            current = parentNumber
        }
        // Shrink the root: an empty leaf root empties the tree; a branch root with one child is replaced by it.
        while true {
            let root = try Node(try space.readPage(tree.root), number: tree.root)
            if root.isLeaf {
                if root.count == 0 {
                    space.free(tree.root, count: 1)
                    tree = TreeRoot()
                }
                return
            }
            guard root.count == 1 else { return }
            let child = try root.branchChild(0)
            space.free(tree.root, count: 1)
            tree.root = child
            tree.depth -= 1
        }
    }
}

extension TreeWriter {
    /// Frees every page of `tree` (branches, leaves and overflow runs), for dropping a table.
    mutating func freeAll(_ tree: TreeRoot) throws(MapStoreError) {
        guard !tree.isEmpty else { return }
        var stack: [(number: UInt64, level: Int)] = [(tree.root, 1)]
        var visited = 0
        while let (number, level) = stack.popLast() {
            visited += 1
            let node = try Node(try space.readPage(number), number: number)
            guard node.isLeaf == (level == tree.depth), visited <= Int.max / 2 else {
                throw node.corrupted("page at level \(level) does not fit a tree of depth \(tree.depth)")
            }
            for index in 0..<node.count {
                if node.isLeaf {
                    let entry = try node.leafEntry(index)
                    if entry.isOverflow {
                        space.free(node.page.u64(entry.valueOffset), count: limits.overflowPages(valueLength: entry.valueLength))
                    }
                } else {
                    stack.append((try node.branchChild(index), level + 1))
                }
            }
            space.free(number, count: 1)
        }
    }
}
