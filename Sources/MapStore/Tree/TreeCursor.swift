/// A position in a B+tree: the path of pages from the root to a leaf entry.
///
/// Moves first/last/seek/next/prev over any page source. Every page it reads is checked,
/// and a walk that visits more leaves than the file has pages reports a corrupted (cyclic)
/// tree instead of looping.
@usableFromInline
struct TreeCursor<Source: PageReading> {
    @usableFromInline let source: Source
    @usableFromInline var tree: TreeRoot
    /// The branch pages above the leaf, root first, with the child index taken in each:
    /// the first `depth` frames (the ones past it are stale, kept so that a new walk
    /// overwrites them instead of emptying and refilling the array).
    @usableFromInline var stack: [(node: Node, index: Int)] = []
    @usableFromInline var depth = 0
    /// The leaf the cursor is in (nil before positioning or past either end) and the
    /// index in it. Kept out of `stack` so that a step within a leaf is a plain field
    /// update, not an array write (with its uniqueness check).
    @usableFromInline var leaf: Node?
    @usableFromInline var leafIndex = 0
    @usableFromInline var leafVisits: UInt64 = 0
    @usableFromInline var leafLimit: UInt64

    init(source: Source, tree: TreeRoot, pageCount: UInt64) {
        self.source = source
        self.tree = tree
        self.leafLimit = pageCount
        stack.reserveCapacity(max(tree.depth, 1))
    }

    /// Points the cursor at `tree` as it is now (a writer changed it), off any entry.
    mutating func rebase(tree: TreeRoot, pageCount: UInt64) {
        self.tree = tree
        leafLimit = pageCount
        clear()
    }

    @inline(__always)
    private mutating func push(_ node: Node, _ index: Int) {
        if depth < stack.count { stack[depth] = (node, index) } else { stack.append((node, index)) }
        depth &+= 1
    }

    /// Whether the cursor is on an entry.
    var isValid: Bool {
        guard let leaf else { return false }
        return leafIndex >= 0 && leafIndex < leaf.count
    }

    /// Page `number` as the node at `level`, checked. Static, so that a call passes the page
    /// source instead of a copy of the whole cursor as `self` (which a seek paid per level).
    @inline(__always)
    private static func node(_ source: Source, _ number: UInt64, level: Int, treeDepth: Int) throws(MapStoreError) -> Node {
        let node = try Node(try source.readPage(number), number: number)
        if node.isLeaf != (level == treeDepth) {
            throw node.corrupted("\(node.isLeaf ? "leaf" : "branch") at level \(level) of a tree of depth \(treeDepth)")
        }
        return node
    }

    private mutating func countLeaf() throws(MapStoreError) {
        leafVisits += 1
        if leafVisits > leafLimit {
            throw MapStoreError.corrupted(page: tree.root, reason: "tree walk visited more leaves than the file has pages (a cycle)")
        }
    }

    /// Goes down from `node` (at level `depth + 1`), taking child `index` in it, then
    /// always the leftmost (or rightmost) child, to a leaf.
    private mutating func descend(from node: Node, index: Int, leftmost: Bool) throws(MapStoreError) {
        var node = node
        var index = index
        while !node.isLeaf {
            push(node, index)
            let next = try Self.node(source, try node.branchChild(index), level: depth + 1, treeDepth: tree.depth)
            if next.isLeaf { try countLeaf() }
            node = next
            index = leftmost ? 0 : next.count - 1
        }
        leaf = node
        leafIndex = index
    }

    /// Forgets the position and the leaf count (each walk has its own cycle guard).
    private mutating func clear() {
        depth = 0
        leaf = nil
        leafVisits = 0
    }

    private mutating func start(leftmost: Bool) throws(MapStoreError) -> Bool {
        clear()
        guard !tree.isEmpty else { return false }
        let root = try Self.node(source, tree.root, level: 1, treeDepth: tree.depth)
        if root.isLeaf { try countLeaf() }
        try descend(from: root, index: leftmost ? 0 : root.count - 1, leftmost: leftmost)
        return try settle(forward: leftmost)
    }

    /// Moves to the first entry; false when the tree is empty.
    mutating func first() throws(MapStoreError) -> Bool { try start(leftmost: true) }

    /// Moves to the last entry; false when the tree is empty.
    mutating func last() throws(MapStoreError) -> Bool { try start(leftmost: false) }

    /// Moves to the first entry whose key is >= `key`; false when there is none.
    mutating func seek(_ key: UnsafeRawBufferPointer) throws(MapStoreError) -> Bool {
        clear()
        guard !tree.isEmpty else { return false }
        var current = try Self.node(source, tree.root, level: 1, treeDepth: tree.depth)
        while !current.isLeaf {
            let index = try current.searchBranch(key)
            push(current, index)
            current = try Self.node(source, try current.branchChild(inRange: index), level: depth + 1, treeDepth: tree.depth)
        }
        try countLeaf()
        let (index, _) = try current.searchLeaf(key)
        leaf = current
        leafIndex = index
        return try settle(forward: true)
    }

    /// After a positioning step, skips past the end of a leaf (or an empty leaf) in the given direction.
    private mutating func settle(forward: Bool) throws(MapStoreError) -> Bool {
        while let leaf {
            if leafIndex >= 0 && leafIndex < leaf.count { return true }
            guard try step(forward: forward) else { return false }
        }
        return false
    }

    /// Leaves the current leaf: moves the lowest branch frame that can move one step, then
    /// descends to the edge leaf of that subtree. False (and off the tree) when none can.
    private mutating func step(forward: Bool) throws(MapStoreError) -> Bool {
        leaf = nil
        while depth > 0 {
            depth &-= 1
            var top = stack[depth]
            top.index += forward ? 1 : -1
            if top.index >= 0 && top.index < top.node.count {
                try descend(from: top.node, index: top.index, leftmost: forward)
                return true
            }
        }
        return false
    }

    /// Moves to the next entry; false past the last.
    mutating func next() throws(MapStoreError) -> Bool {
        guard isValid else { return false }
        leafIndex += 1
        return try settle(forward: true)
    }

    /// Moves to the previous entry; false before the first.
    mutating func previous() throws(MapStoreError) -> Bool {
        guard isValid else { return false }
        leafIndex -= 1
        return try settle(forward: false)
    }

    /// Moves one entry forward (or back) and returns it with its leaf page; nil past the end.
    ///
    /// The cursor step of a scan: within a leaf it is an index bump and one cell decode,
    /// with no copy of the cursor (a `current()` call on a stored cursor copies it).
    @inline(__always)
    mutating func advance(forward: Bool) throws(MapStoreError) -> (page: Page, entry: LeafEntry)? {
        guard let leaf, leafIndex >= 0, leafIndex < leaf.count else { return nil }
        let next = forward ? leafIndex + 1 : leafIndex - 1
        leafIndex = next
        if next >= 0, next < leaf.count { return (leaf.page, try leaf.leafEntry(inRange: next)) }
        guard try settle(forward: forward) else { return nil }
        return try current()
    }

    /// The entry under the cursor and its leaf page, or nil when it is on none. `mutating`
    /// only so that a call on a cursor stored in a class borrows it instead of copying it.
    @inline(__always)
    mutating func here() throws(MapStoreError) -> (page: Page, entry: LeafEntry)? {
        isValid ? try current() : nil
    }

    /// The entry under the cursor and its leaf page (the cursor must be positioned).
    @inline(__always)
    func current() throws(MapStoreError) -> (page: Page, entry: LeafEntry) {
        guard let leaf else { preconditionFailure("cursor is not on a leaf") }
        return (leaf.page, try leaf.leafEntry(leafIndex))
    }

    /// Calls `body` with the entry under the cursor and each one after it (before it, when
    /// not `forward`), leaf by leaf, until `body` returns false or the tree ends. Returns
    /// true when `body` stopped it: the cursor is then on the entry `body` was given last.
    /// Otherwise the cursor is off the tree.
    ///
    /// The scan loop: a step within a leaf is an index bump and one cell decode, with no
    /// cursor copy, optional unwrapping or stack work; the stack moves only between leaves.
    mutating func walk(forward: Bool, _ body: (Page, LeafEntry) throws(MapStoreError) -> Bool) throws(MapStoreError) -> Bool {
        while let leaf {
            var index = leafIndex
            let count = leaf.count
            while index >= 0, index < count {
                if !(try body(leaf.page, try leaf.leafEntry(inRange: index))) {
                    leafIndex = index
                    return true
                }
                index = forward ? index &+ 1 : index &- 1
            }
            leafIndex = index
            guard try step(forward: forward) else { return false }
        }
        return false
    }
}
