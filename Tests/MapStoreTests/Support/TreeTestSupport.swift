import Testing
@testable import MapStore

/// What the tree tests share: building trees in a ``MemoryPageSpace``, walking them, and
/// checking every invariant after a step.
extension MemoryPageSpace {
    /// Seals every live page (a committed page's checksum does not change) without ending
    /// the transaction, so that ``TreeChecker`` (which verifies checksums) can walk the tree
    /// between two edits.
    func sealLivePages() {
        for (first, count) in live {
            let page = rawPage(first, count: count)
            page.seal(pageChecksum)
        }
    }

    /// Every problem with `tree`: what ``TreeChecker`` finds (order, separator bounds, depth,
    /// entry count, empty pages, overflow runs, pages reached twice), and any live page the
    /// tree does not reach (a leak) or page it reaches that is not live (a use after free).
    func problems(in tree: TreeRoot) -> [String] {
        sealLivePages()
        var checker = TreeChecker(source: self, pageCount: pageCount)
        checker.check(tree: tree, name: "the tree", referrer: 0, isMain: false)
        var problems = checker.problems.map(\.description)
        guard problems.isEmpty else { return problems }
        do throws(MapStoreError) {
            let reached = try reachablePages(tree)
            let live = livePages
            for page in live.subtracting(reached).sorted() { problems.append("page \(page): live but not in the tree") }
            for page in reached.subtracting(live).sorted() { problems.append("page \(page): in the tree but free") }
        } catch {
            problems.append("walk failed: \(error)")
        }
        return problems
    }

    /// The pages `tree` reaches: its branch and leaf pages and every page of its overflow runs.
    func reachablePages(_ tree: TreeRoot) throws(MapStoreError) -> Set<UInt64> {
        guard !tree.isEmpty else { return [] }
        var pages: Set<UInt64> = []
        var stack = [tree.root]
        let limits = NodeLimits(pageSize: pageSize)
        while let number = stack.popLast() {
            pages.insert(number)
            let node = try Node(try readPage(number), number: number)
            for index in 0..<node.count {
                if node.isLeaf {
                    let entry = try node.leafEntry(index)
                    guard entry.isOverflow else { continue }
                    let first = node.page.u64(entry.valueOffset)
                    let count = limits.overflowPages(valueLength: entry.valueLength)
                    for page in first..<(first + UInt64(count)) { pages.insert(page) }
                } else {
                    stack.append(try node.branchChild(index))
                }
            }
        }
        return pages
    }

    /// The leaf pages of `tree` in key order, each with its keys.
    func leaves(_ tree: TreeRoot) throws(MapStoreError) -> [(number: UInt64, keys: [[UInt8]])] {
        guard !tree.isEmpty else { return [] }
        var result: [(number: UInt64, keys: [[UInt8]])] = []
        func visit(_ number: UInt64) throws(MapStoreError) {
            let node = try Node(try readPage(number), number: number)
            if node.isLeaf {
                var keys: [[UInt8]] = []
                for index in 0..<node.count { keys.append(Array(try node.leafKey(index))) }
                result.append((number, keys))
            } else {
                for index in 0..<node.count { try visit(try node.branchChild(index)) }
            }
        }
        try visit(tree.root)
        return result
    }

    /// Every entry of `tree` in key order, read with a ``TreeCursor`` (overflow values included).
    func contents(_ tree: TreeRoot) throws(MapStoreError) -> [(key: [UInt8], value: [UInt8])] {
        var cursor = TreeCursor(source: self, tree: tree, pageCount: pageCount)
        var result: [(key: [UInt8], value: [UInt8])] = []
        guard try cursor.first() else { return result }
        repeat {
            let (page, entry) = try cursor.current()
            result.append((Array(entry.key), Array(try TreeReader(space: self).value(of: entry, in: page))))
        } while try cursor.next()
        return result
    }

    /// Builds a tree of `entries` (put in the order given), committing every `commitEvery` puts.
    func buildTree(_ entries: [(key: [UInt8], value: [UInt8])], commitEvery: Int = 64) throws(MapStoreError) -> TreeRoot {
        var tree = TreeRoot()
        var writer = TreeWriter(space: self)
        for (index, entry) in entries.enumerated() {
            try writer.put(&tree, key: entry.key, value: entry.value)
            if index % commitEvery == commitEvery - 1 { commit() }
        }
        commit()
        return tree
    }
}

extension TreeWriter {
    /// ``put(_:key:value:isTable:)`` with arrays.
    mutating func put(_ tree: inout TreeRoot, key: [UInt8], value: [UInt8], isTable: Bool = false) throws(MapStoreError) {
        try withBytes(of: key) { (key) throws(MapStoreError) in
            try withBytes(of: value) { (value) throws(MapStoreError) in try put(&tree, key: key, value: value, isTable: isTable) }
        }
    }

    /// ``delete(_:key:isTable:)`` with an array.
    mutating func delete(_ tree: inout TreeRoot, key: [UInt8], isTable: Bool = false) throws(MapStoreError) -> Bool {
        try withBytes(of: key) { (key) throws(MapStoreError) in try delete(&tree, key: key, isTable: isTable) }
    }
}

extension TreeCursor {
    /// ``seek(_:)`` with an array.
    mutating func seek(_ key: [UInt8]) throws(MapStoreError) -> Bool {
        try withBytes(of: key) { (key) throws(MapStoreError) in try seek(key) }
    }

    /// The key under the cursor, copied (nil when it is on none).
    mutating func key() throws(MapStoreError) -> [UInt8]? {
        guard let (_, entry) = try here() else { return nil }
        return Array(entry.key)
    }
}

/// `key-000042`: fixed-width keys whose byte order is their number's order.
func numberedKey(_ number: Int, prefix: String = "key-") -> [UInt8] {
    let digits = String(number)
    return Array((prefix + String(repeating: "0", count: max(0, 6 - digits.count)) + digits).utf8)
}

/// Runs `body` and returns the page and reason of the ``MapStoreError/corrupted(page:reason:)``
/// it throws; records an issue (and returns nil) when it throws anything else or nothing.
func corruption<R>(_ body: () throws -> R, sourceLocation: SourceLocation = #_sourceLocation) -> (page: UInt64, reason: String)? {
    do {
        let result = try body()
        Issue.record("expected a corrupted-page error, got \(result)", sourceLocation: sourceLocation)
    } catch {
        if case let .corrupted(page, reason)? = error as? MapStoreError { return (page, reason) }
        Issue.record("expected a corrupted-page error, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
