/// A position in a B+tree: the path of pages from the root to a leaf entry.
///
/// Moves first/last/seek/next/prev over any page source. Every page it reads is checked,
/// and a walk that visits more leaves than the file has pages reports a corrupted (cyclic)
/// tree instead of looping.
@usableFromInline
struct TreeCursor<Source: PageReading> {
    @usableFromInline let source: Source
    @usableFromInline let tree: TreeRoot
    @usableFromInline var stack: [(node: Node, index: Int)] = []
    @usableFromInline var leafVisits: UInt64 = 0
    @usableFromInline let leafLimit: UInt64

    init(source: Source, tree: TreeRoot, pageCount: UInt64) {
        self.source = source
        self.tree = tree
        self.leafLimit = pageCount
        stack.reserveCapacity(max(tree.depth, 1))
    }

    /// Whether the cursor is on an entry.
    var isValid: Bool {
        guard let top = stack.last else { return false }
        return top.node.isLeaf && top.index >= 0 && top.index < top.node.count
    }

    private func node(_ number: UInt64, level: Int) throws(MapStoreError) -> Node {
        let node = try Node(try source.readPage(number), number: number)
        if node.isLeaf != (level == tree.depth) {
            throw node.corrupted("\(node.isLeaf ? "leaf" : "branch") at level \(level) of a tree of depth \(tree.depth)")
        }
        return node
    }

    private mutating func countLeaf() throws(MapStoreError) {
        leafVisits += 1
        if leafVisits > leafLimit {
            throw MapStoreError.corrupted(page: tree.root, reason: "tree walk visited more leaves than the file has pages (a cycle)")
        }
    }

    /// Descends from the top of the stack to its leftmost (or rightmost) leaf.
    private mutating func descend(leftmost: Bool) throws(MapStoreError) {
        while let top = stack.last, !top.node.isLeaf {
            let child = try top.node.branchChild(top.index)
            let next = try node(child, level: stack.count + 1)
            if next.isLeaf { try countLeaf() }
            stack.append((next, leftmost ? 0 : next.count - 1))
        }
    }

    private mutating func start(leftmost: Bool) throws(MapStoreError) -> Bool {
        stack.removeAll(keepingCapacity: true)
        leafVisits = 0
        guard !tree.isEmpty else { return false }
        let root = try node(tree.root, level: 1)
        if root.isLeaf { try countLeaf() }
        stack.append((root, leftmost ? 0 : root.count - 1))
        try descend(leftmost: leftmost)
        return try settle(forward: leftmost)
    }

    /// Moves to the first entry; false when the tree is empty.
    mutating func first() throws(MapStoreError) -> Bool { try start(leftmost: true) }

    /// Moves to the last entry; false when the tree is empty.
    mutating func last() throws(MapStoreError) -> Bool { try start(leftmost: false) }

    /// Moves to the first entry whose key is >= `key`; false when there is none.
    mutating func seek(_ key: UnsafeRawBufferPointer) throws(MapStoreError) -> Bool {
        stack.removeAll(keepingCapacity: true)
        leafVisits = 0
        guard !tree.isEmpty else { return false }
        var current = try node(tree.root, level: 1)
        while !current.isLeaf {
            let index = try current.searchBranch(key)
            stack.append((current, index))
            current = try node(try current.branchChild(index), level: stack.count + 1)
        }
        try countLeaf()
        let (index, _) = try current.searchLeaf(key)
        stack.append((current, index))
        return try settle(forward: true)
    }

    /// After a positioning step, skips past the end of a leaf (or an empty leaf) in the given direction.
    private mutating func settle(forward: Bool) throws(MapStoreError) -> Bool {
        while let top = stack.last {
            if top.index >= 0 && top.index < top.node.count { return true }
            guard try step(forward: forward) else { return false }
        }
        return false
    }

    /// Moves the top-most frame that can move one step, then descends to the edge leaf.
    private mutating func step(forward: Bool) throws(MapStoreError) -> Bool {
        while var top = stack.popLast() {
            top.index += forward ? 1 : -1
            if top.index >= 0 && top.index < top.node.count {
                stack.append(top)
                try descend(leftmost: forward)
                return true
            }
        }
        return false
    }

    /// Moves to the next entry; false past the last.
    mutating func next() throws(MapStoreError) -> Bool {
        guard isValid else { return false }
        stack[stack.count - 1].index += 1
        return try settle(forward: true)
    }

    /// Moves to the previous entry; false before the first.
    mutating func previous() throws(MapStoreError) -> Bool {
        guard isValid else { return false }
        stack[stack.count - 1].index -= 1
        return try settle(forward: false)
    }

    /// Moves one entry forward (or back) and returns it with its leaf page; nil past the end.
    ///
    /// The cursor step of a scan: within a leaf it is an index bump and one cell decode,
    /// with no copy of the cursor (a `current()` call on a stored cursor copies it).
    mutating func advance(forward: Bool) throws(MapStoreError) -> (page: Page, entry: LeafEntry)? {
        let last = stack.count - 1
        guard last >= 0 else { return nil }
        let node = stack[last].node
        let index = stack[last].index
        guard node.isLeaf, index >= 0, index < node.count else { return nil }
        let next = forward ? index + 1 : index - 1
        stack[last].index = next
        if next >= 0, next < node.count { return (node.page, try node.leafEntry(next)) }
        guard try settle(forward: forward) else { return nil }
        return try current()
    }

    /// The entry under the cursor and its leaf page, or nil when it is on none. `mutating`
    /// only so that a call on a cursor stored in a class borrows it instead of copying it.
    mutating func here() throws(MapStoreError) -> (page: Page, entry: LeafEntry)? {
        isValid ? try current() : nil
    }

    /// The entry under the cursor and its leaf page.
    func current() throws(MapStoreError) -> (page: Page, entry: LeafEntry) {
        let top = stack[stack.count - 1]
        return (top.node.page, try top.node.leafEntry(top.index))
    }
}
