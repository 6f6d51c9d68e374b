#if canImport(Glibc)
import Glibc
#endif

/// Makes a read replica's trees equal to a commit of another file (the follower's mirror
/// image of the primary), as the changes of an ordinary write transaction, so the replica's
/// readers keep their snapshots: no page they can reach is overwritten.
///
/// The replica is known to equal the primary's commit `since`. Pages are copy-on-write and
/// carry the id of the transaction that wrote them, so a subtree of the new commit whose root
/// page is at or before `since` was reachable, unchanged, in commit `since` (see
/// ``CommitPages``): the replica already holds exactly its entries from its first key to its
/// last. The walk descends the new commit with the key bounds `[lo, hi)` its branches give
/// each child, and per subtree:
/// - unchanged (page id <= `since`): only the replica's keys in `[lo, first)` and
///   `(last, hi)` go (a neighbour that lost keys can leave the bounds wider than before);
/// - a changed leaf: the replica's range `[lo, hi)` is made exactly the leaf's entries
///   (values compared, so an equal value is not rewritten);
/// - a changed branch: each child, with its bounds.
///
/// Tables (descriptor cells of the main tree) follow the same rule: a table whose root page is
/// at or before `since` is unchanged; a changed one is walked the same way; a new one is
/// created and filled; one the commit no longer has is dropped. `since` = 0 makes every page
/// changed: the replica then ends equal to the commit whatever it held (a full re-sync).
/// The walk reads what changed times the depth, plus the replica's keys in those ranges.
struct ReplicaDifference {
    let target: WriteTransaction
    let source: TransactionPages
    var report = ReplicaDifferenceReport()

    /// The replica's entries of tree `id` from `lower` (inclusive unless `after`) up to
    /// `upper` (exclusive; nil: no bound): their keys, and which are table descriptors.
    func targetEntries(_ id: TreeID, from lower: [UInt8]?, after: Bool = false, upTo upper: [UInt8]?) throws(MapStoreError) -> [(key: [UInt8], isTable: Bool)] {
        let root = try target.root(of: id)
        var cursor = TreeCursor(source: target.pages, tree: root, pageCount: UInt64.max)
        var on: Bool
        if let lower {
            on = try withBytes(of: lower) { (key) throws(MapStoreError) in try cursor.seek(key) }
        } else {
            on = try cursor.first()
        }
        var found: [(key: [UInt8], isTable: Bool)] = []
        while on {
            let (_, entry) = try cursor.current()
            if let upper, compare(entry.key, upper) >= 0 { break }
            if !(after && lower.map({ compare(entry.key, $0) == 0 }) == true) {
                found.append((Array(entry.key), entry.isTable))
            }
            on = try cursor.next()
        }
        return found
    }

    private func compare(_ key: UnsafeRawBufferPointer, _ other: [UInt8]) -> Int {
        other.withUnsafeBytes { compareKeys(key, $0) }
    }

    /// Makes the replica's tree `id` equal to `tree` of the source.
    mutating func sync(_ tree: TreeRoot, into id: TreeID, since: UInt64) throws(MapStoreError) {
        guard !tree.isEmpty else {
            try remove(try targetEntries(id, from: nil, upTo: nil), from: id)
            return
        }
        try walk(tree.root, level: 1, depth: tree.depth, lo: nil, hi: nil, into: id, since: since)
    }

    private mutating func walk(_ number: UInt64, level: Int, depth: Int, lo: [UInt8]?, hi: [UInt8]?,
                               into id: TreeID, since: UInt64) throws(MapStoreError) {
        let node = try Node(try source.readPage(number), number: number)
        guard node.isLeaf == (level == depth) else {
            throw node.corrupted("page at level \(level) does not fit a tree of depth \(depth)")
        }
        if node.page.txnID <= since {
            report.unchangedSubtrees += 1
            guard let (first, last) = try edgeKeys(node, level: level, depth: depth) else {
                try remove(try targetEntries(id, from: lo, upTo: hi), from: id)
                return
            }
            try remove(try targetEntries(id, from: lo, upTo: first), from: id)
            try remove(try targetEntries(id, from: last, after: true, upTo: hi), from: id)
            return
        }
        guard !node.isLeaf else {
            try replace(id, from: lo, upTo: hi, with: node)
            return
        }
        guard node.count > 0 else { throw node.corrupted("branch page with no children") }
        for index in 0..<node.count {
            let childLo = index == 0 ? lo : Array(try node.branchKey(index))
            let childHi = index + 1 < node.count ? Array(try node.branchKey(index + 1)) : hi
            try walk(try node.branchChild(index), level: level + 1, depth: depth, lo: childLo, hi: childHi, into: id, since: since)
        }
    }

    /// The first and last keys of the subtree under `node`, nil when it holds none.
    private func edgeKeys(_ node: Node, level: Int, depth: Int) throws(MapStoreError) -> (first: [UInt8], last: [UInt8])? {
        func edge(leftmost: Bool) throws(MapStoreError) -> [UInt8]? {
            var current = node
            var at = level
            while !current.isLeaf {
                guard current.count > 0, at < depth else { throw current.corrupted("branch page with no children or below its depth") }
                let child = try current.branchChild(leftmost ? 0 : current.count - 1)
                current = try Node(try source.readPage(child), number: child)
                at += 1
            }
            guard at == depth else { throw current.corrupted("leaf at level \(at) of a tree of depth \(depth)") }
            return current.count == 0 ? nil : Array(try current.leafKey(leftmost ? 0 : current.count - 1))
        }
        guard let first = try edge(leftmost: true), let last = try edge(leftmost: false) else { return nil }
        return (first, last)
    }

    /// Makes the replica's range `[lo, hi)` of tree `id` exactly the entries of `leaf`.
    private mutating func replace(_ id: TreeID, from lo: [UInt8]?, upTo hi: [UInt8]?, with leaf: Node) throws(MapStoreError) {
        report.changedLeaves += 1
        let existing = try targetEntries(id, from: lo, upTo: hi)
        let reader = TreeReader(space: source)
        var next = 0
        for index in 0..<leaf.count {
            let entry = try leaf.leafEntry(index)
            var stale: [(key: [UInt8], isTable: Bool)] = []
            while next < existing.count, compare(entry.key, existing[next].key) > 0 {
                stale.append(existing[next])
                next += 1
            }
            try remove(stale, from: id)
            var present: (key: [UInt8], isTable: Bool)?
            if next < existing.count, compare(entry.key, existing[next].key) == 0 {
                present = existing[next]
                next += 1
            }
            if entry.isTable {
                guard case .main = id else { throw leaf.corrupted("a table descriptor inside a table") }
                if let present, !present.isTable { try remove([present], from: id) }
                let name = String(decoding: entry.key, as: UTF8.self)
                let table = try TableDescriptor.decode(try reader.value(of: entry, in: leaf.page), pageCount: source.pageCount, at: leaf.number)
                let exists = present?.isTable == true
                if !exists {
                    try target.createTable(name)
                    try target.flushTables()
                    report.tablesCreated += 1
                }
                // A table already there whose root page is no newer than `since` is unchanged.
                var changed = true
                if !table.isEmpty { changed = try source.readPage(table.root).txnID > report.since }
                if !exists || changed {
                    try sync(table, into: .table(name), since: exists ? report.since : 0)
                    try target.flushTables()
                }
            } else {
                if let present, present.isTable { try remove([present], from: id) }
                let value = try reader.value(of: entry, in: leaf.page)
                let current = try target.lookup(entry.key, in: id)
                if current.map({ $0.count == value.count && (value.count == 0 || memcmp($0.baseAddress!, value.baseAddress!, value.count) == 0) }) != true {
                    try target.put(key: entry.key, value: value, in: id)
                    report.puts += 1
                }
            }
        }
        try remove(Array(existing[next...]), from: id)
    }

    /// Deletes `entries` from the replica's tree `id` (table descriptors: drops the tables).
    private mutating func remove(_ entries: [(key: [UInt8], isTable: Bool)], from id: TreeID) throws(MapStoreError) {
        for entry in entries {
            if entry.isTable {
                _ = try target.dropTable(String(decoding: entry.key, as: UTF8.self))
                try target.flushTables()
                report.tablesDropped += 1
            } else {
                _ = try withBytes(of: entry.key) { (key) throws(MapStoreError) in try target.delete(key: key, in: id) }
                report.deletes += 1
            }
        }
    }
}

/// What ``WriteTransaction/applyDifference(from:since:)`` changed.
package struct ReplicaDifferenceReport: Equatable, Sendable {
    /// The source commit the walk took as the replica's state.
    package var since: UInt64 = 0
    /// Keys written (new or with a different value) and deleted, in every tree.
    package var puts = 0
    package var deletes = 0
    package var tablesCreated = 0
    package var tablesDropped = 0
    /// Leaves of the source compared entry by entry, and subtrees passed over as unchanged.
    package var changedLeaves = 0
    package var unchangedSubtrees = 0
}

extension WriteTransaction {
    /// Changes this transaction's trees (the main tree and every table; not the named
    /// snapshots) to equal those of `source`, a commit of another file with this page size,
    /// given that they equal `source`'s file's commit `since` now (0: nothing is assumed).
    /// See ``ReplicaDifference``. The replica's entry count is checked against the source's.
    package func applyDifference(from source: ReadTransaction, since: UInt64) throws(MapStoreError) -> ReplicaDifferenceReport {
        try checkActive()
        try source.checkActive()
        guard source.pages.pageSize == pages.pageSize else {
            throw MapStoreError.versionMismatch(reason: "the source has \(source.pages.pageSize)-byte pages, the replica \(pages.pageSize)")
        }
        var walk = ReplicaDifference(target: self, source: source.pages)
        walk.report.since = since
        try walk.sync(source.base.main, into: .main, since: since)
        try flushTables()
        guard main.entries == source.base.main.entries else {
            throw MapStoreError.corrupted(page: 0, reason: "after applying commit \(source.transactionID), the replica holds \(main.entries) entries, the source \(source.base.main.entries)")
        }
        return walk.report
    }
}
