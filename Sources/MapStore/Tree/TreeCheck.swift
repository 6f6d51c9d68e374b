/// One problem `check` found: the page it is on and what is wrong.
public struct CheckProblem: Sendable, Equatable, CustomStringConvertible {
    /// The damaged page (0 or 1 for the meta pages).
    public let page: UInt64
    /// What is wrong with it.
    public let message: String

    /// A problem on `page`.
    public init(page: UInt64, message: String) {
        self.page = page
        self.message = message
    }

    /// `page N: message`.
    public var description: String { "page \(page): \(message)" }
}

/// Who owns each page of the file, as `check` finds out.
enum PageOwner: UInt8 {
    case unseen = 0, tree, freeList, freeListChain
}

/// Walks whole trees verifying every invariant a reader relies on: checksums, page kinds,
/// key order and separator bounds, depth, entry counts, overflow runs, and that no page is
/// reached twice. Problems are collected, not thrown: one bad page does not hide the next.
struct TreeChecker<Source: PageReading> {
    let source: Source
    let pageCount: UInt64
    let limits: NodeLimits
    var owners: [PageOwner]
    var problems: [CheckProblem] = []
    /// Tables found in the main tree, to check after it.
    var tables: [(name: String, root: TreeRoot, page: UInt64)] = []
    /// Pages claimed so far: how far the walk has come, out of `pageCount`.
    private(set) var claimed = 0
    /// Told `claimed` after every claim (``Database/check(progress:)`` draws a bar from it).
    var progress: ((Int) -> Void)? = nil

    init(source: Source, pageCount: UInt64) {
        self.source = source
        self.pageCount = pageCount
        self.limits = NodeLimits(pageSize: source.pageSize)
        self.owners = [PageOwner](repeating: .unseen, count: Int(pageCount))
    }

    mutating func report(_ page: UInt64, _ message: String) {
        problems.append(CheckProblem(page: page, message: message))
    }

    mutating func report(_ error: MapStoreError, default page: UInt64) {
        if case let .corrupted(at, reason) = error { report(at, reason) } else { report(page, "\(error)") }
    }

    /// Claims `count` pages from `first` for `owner`; false (and a problem) if out of range or already claimed.
    mutating func claim(_ first: UInt64, count: Int, as owner: PageOwner, from referrer: UInt64) -> Bool {
        guard first >= PageLayout.firstDataPage, first < pageCount, UInt64(count) <= pageCount - first else {
            report(referrer, "refers to page \(first) (\(count) pages), outside the file's pages 2..<\(pageCount)")
            return false
        }
        for page in first..<(first + UInt64(count)) where owners[Int(page)] != .unseen {
            report(page, "reached twice (as \(owners[Int(page)]) and as \(owner))")
            return false
        }
        for page in first..<(first + UInt64(count)) { owners[Int(page)] = owner }
        claimed += count
        progress?(claimed)
        return true
    }

    /// Checks the tree `tree` (named `name` in messages); returns the entries found.
    mutating func check(tree: TreeRoot, name: String, referrer: UInt64, isMain: Bool) {
        guard !tree.isEmpty else {
            if tree.entries != 0 { report(referrer, "\(name) is empty but counts \(tree.entries) entries") }
            return
        }
        var entries: UInt64 = 0
        // (page, level, lower bound, upper bound, referring page)
        var stack: [(UInt64, Int, [UInt8]?, [UInt8]?, UInt64)] = [(tree.root, 1, nil, nil, referrer)]
        while let (number, level, lower, upper, parent) = stack.popLast() {
            guard claim(number, count: 1, as: .tree, from: parent) else { continue }
            do throws(MapStoreError) {
                let page = try source.readPage(number)
                let computed = page.computeChecksum(source.pageChecksum)
                if page.storedChecksum != computed {
                    report(number, "checksum mismatch (stored \(hex(page.storedChecksum)), computed \(hex(computed)))")
                    continue
                }
                let node = try Node(page, number: number)
                try node.validateAll()
                if node.isLeaf != (level == tree.depth) {
                    report(number, "\(node.isLeaf ? "leaf" : "branch") at level \(level) of \(name), whose depth is \(tree.depth)")
                    continue
                }
                if node.count == 0 && !(node.isLeaf && level == 1) {
                    report(number, "empty \(node.isLeaf ? "leaf" : "branch") page")
                    continue
                }
                var previous: [UInt8]? = nil
                for index in 0..<node.count {
                    let key = node.isLeaf ? try node.leafKey(index) : (index == 0 ? nil : try node.branchKey(index))
                    if let key {
                        if node.isLeaf, key.count == 0 || key.count > limits.maxKeySize {
                            report(number, "cell \(index): key of \(key.count) bytes outside 1...\(limits.maxKeySize)")
                        }
                        if let previous, previous.withUnsafeBytes({ compareKeys($0, key) >= 0 }) {
                            report(number, "cell \(index): keys out of order")
                        }
                        if let lower, lower.withUnsafeBytes({ compareKeys(key, $0) < 0 }) {
                            report(number, "cell \(index): key sorts before its parent's separator")
                        }
                        if let upper, upper.withUnsafeBytes({ compareKeys(key, $0) >= 0 }) {
                            report(number, "cell \(index): key sorts at or after the next separator")
                        }
                        previous = Array(key)
                    }
                    if node.isLeaf {
                        if !(try node.leafEntry(index)).isTable { entries += 1 }
                        try checkLeafEntry(node, index, isMain: isMain)
                    }
                }
                if !node.isLeaf {
                    for index in 0..<node.count {
                        let low = index == 0 ? lower : Array(try node.branchKey(index))
                        let high = index + 1 < node.count ? Array(try node.branchKey(index + 1)) : upper
                        stack.append((try node.branchChild(index), level + 1, low, high, number))
                    }
                }
            } catch {
                report(error, default: number)
            }
        }
        if entries != tree.entries {
            report(tree.root, "\(name) counts \(tree.entries) entries but holds \(entries)")
        }
    }

    mutating func checkLeafEntry(_ node: Node, _ index: Int, isMain: Bool) throws(MapStoreError) {
        let entry = try node.leafEntry(index)
        if entry.isTable {
            guard isMain else {
                report(node.number, "cell \(index): table descriptor outside the main tree")
                return
            }
            let value = node.page.slice(entry.valueOffset, entry.isOverflow ? 8 : entry.valueLength)
            let root = try TableDescriptor.decode(value, pageCount: pageCount, at: node.number)
            tables.append((String(decoding: entry.key, as: UTF8.self), root, node.number))
        }
        guard entry.isOverflow else {
            if !limits.isInline(keyLength: entry.key.count, valueLength: entry.valueLength) {
                report(node.number, "cell \(index): inline value of \(entry.valueLength) bytes is too large for a leaf")
            }
            return
        }
        let first = node.page.u64(entry.valueOffset)
        let pages = limits.overflowPages(valueLength: entry.valueLength)
        guard claim(first, count: pages, as: .tree, from: node.number) else { return }
        let run = try source.readRun(first, count: pages)
        if run.kind != PageKind.overflow.rawValue || run.pageNumber != first || Int(run.u32(PageLayout.runLengthOffset)) != pages {
            report(first, "overflow run header does not match its \(entry.valueLength)-byte value")
        } else if run.storedChecksum != run.computeChecksum(source.pageChecksum) {
            report(first, "overflow run checksum mismatch")
        }
    }
}

extension TreeChecker {
    /// Checks the record run of commit `meta` (``CommitRecord``): whole, and this commit's
    /// record, on the commit's free list (where it waits for the commits after it).
    mutating func checkRecord(of meta: Meta) {
        guard meta.recordPages > 0 else { return }
        let first = meta.recordStart
        for page in first..<(first + UInt64(meta.recordPages)) where owners[Int(page)] != .freeList {
            report(page, "page of commit \(meta.txnID)'s record is \(owners[Int(page)] == .unseen ? "not on its free list" : "reached as \(owners[Int(page)])")")
            return
        }
        do throws(MapStoreError) {
            let run = try source.readRun(first, count: meta.recordPages)
            try run.verifyChecksum(source.pageChecksum, number: first)
            if UInt32(truncatingIfNeeded: run.storedChecksum) != meta.recordChecksum {
                report(first, "commit record checksum \(hex(run.storedChecksum)), its meta lists \(hex(UInt64(meta.recordChecksum)))")
            } else if let reason = CommitRecord.problem(in: run, first: first, pages: meta.recordPages, txnID: meta.txnID) {
                report(first, reason)
            }
        } catch {
            report(error, default: first)
        }
    }
}
