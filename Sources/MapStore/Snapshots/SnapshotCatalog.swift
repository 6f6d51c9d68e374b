#if canImport(Glibc)
import Glibc
#endif

/// A named snapshot as ``Database/snapshots()`` lists it.
public struct SnapshotInfo: Sendable, Equatable {
    /// The snapshot's name.
    public var name: String
    /// The id of the commit it pins.
    public var transactionID: UInt64
    /// When that commit was made, in nanoseconds since 1970 (0 for the empty database).
    public var commitTime: UInt64
    /// When the snapshot was taken, in nanoseconds since 1970.
    public var createdTime: UInt64
    /// Data entries in the snapshot's main tree (tables not counted).
    public var entries: Int
    /// Pages the snapshot reaches that the newest commit does not: what it costs now, and
    /// at most what deleting it gives back (pages also reached by another snapshot stay).
    public var pinnedPages: Int
}

private func nowNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension WriteTransaction {
    func checkSnapshotName(_ name: String) throws(MapStoreError) {
        guard !name.isEmpty, name.utf8.count <= maxKeySize else {
            throw MapStoreError.invalidArgument(reason: "snapshot name must be 1...\(maxKeySize) bytes of UTF-8, not \(name.utf8.count)")
        }
    }

    func findSnapshot(_ name: String) throws(MapStoreError) -> SnapshotRecord? {
        try SnapshotCatalog.find(name, in: catalog.tree, source: pages, pageCount: pages.pageCount)
    }

    /// Adds `record` to the catalog (the catalog's pages are copied on write like any tree's).
    func addSnapshot(_ name: String, _ record: SnapshotRecord) throws(MapStoreError) {
        let wasEmpty = catalog.tree.isEmpty
        try withBytes(of: Array(name.utf8)) { (key) throws(MapStoreError) in
            try withBytes(of: record.encode()) { (value) throws(MapStoreError) in
                try treeWriter.put(&catalog.tree, key: key, value: value)
            }
        }
        catalog.oldest = wasEmpty ? record.txnID : min(catalog.oldest, record.txnID)
        hasChanges = true
    }

    /// Removes `name` from the catalog. Pages freed after the snapshot's commit are moved to
    /// this commit's free record: a reader that started before this commit still sees the
    /// snapshot in its catalog and may be reading it, so those pages wait for it to end.
    func removeSnapshot(_ name: String, _ record: SnapshotRecord) throws(MapStoreError) {
        _ = try withBytes(of: Array(name.utf8)) { (key) throws(MapStoreError) in
            try treeWriter.delete(&catalog.tree, key: key)
        }
        var kept: [(txn: UInt64, pages: [UInt64])] = []
        for entry in pages.freeList.pending {
            if entry.txn > record.txnID { pages.freedNow += entry.pages } else { kept.append(entry) }
        }
        pages.freeList.pending = kept
        catalog.oldest = try SnapshotCatalog.all(in: catalog.tree, source: pages, pageCount: pages.pageCount)
            .map(\.record.txnID).min() ?? 0
        hasChanges = true
    }

    /// Makes the snapshot's main tree (and so its tables) this transaction's, without copying:
    /// pages only the old tree reached are freed, pages only the snapshot reached leave the free list.
    func restoreSnapshot(_ name: String, _ record: SnapshotRecord) throws(MapStoreError) {
        try flushTables()
        let current = try ReachablePages.collect(main, source: pages, withTables: true)
        let restored = try ReachablePages.collect(record.main, source: pages, withTables: true)
        if let released = pages.freeList.reusable.first(where: { restored.pages.contains($0) }) {
            throw MapStoreError.corrupted(page: released, reason: "page of snapshot '\(name)' is on the free list as reusable")
        }
        for page in current.pages.sorted() where !restored.pages.contains(page) { pages.free(page, count: 1) }
        pages.freeList.pending = pages.freeList.pending.compactMap { entry in
            let left = entry.pages.filter { !restored.pages.contains($0) }
            return left.isEmpty ? nil : (entry.txn, left)
        }
        main = record.main
        tables = [:]
        changedTables = []
        generation &+= 1
        hasChanges = true
    }
}

extension Database {
    /// Pins the newest commit under `name` in the snapshot catalog and returns it.
    ///
    /// Costs one commit (a few catalog pages) and, while the snapshot lives, every page that
    /// later commits free: like a reader that never ends, the snapshot keeps them from reuse.
    /// Throws ``MapStoreError/invalidArgument(reason:)`` when the name is taken or not 1 to
    /// ``maxKeySize`` bytes.
    @discardableResult
    public func createSnapshot(_ name: String) throws -> SnapshotInfo {
        let path = self.path
        return try write { txn in
            try txn.checkSnapshotName(name)
            guard try txn.findSnapshot(name) == nil else {
                throw MapStoreError.invalidArgument(reason: "snapshot '\(name)' already exists in \(path)")
            }
            let base = txn.base
            let record = SnapshotRecord(txnID: base.txnID, main: base.main, commitTime: base.commitTime,
                                        createdTime: nowNanoseconds(), pageCount: base.pageCount)
            try txn.addSnapshot(name, record)
            return SnapshotInfo(name: name, transactionID: record.txnID, commitTime: record.commitTime,
                                createdTime: record.createdTime, entries: Int(clamping: record.main.entries), pinnedPages: 0)
        }
    }

    /// The named snapshots, in name order, with the pages each pins (walks every snapshot's
    /// trees and the newest commit's: reads the whole live data once per snapshot).
    public func snapshots() throws -> [SnapshotInfo] {
        try read { txn in
            let records = try SnapshotCatalog.all(in: txn.base.catalog, source: txn.pages, pageCount: txn.base.pageCount)
            guard !records.isEmpty else { return [] }
            let current = try ReachablePages.collect(txn.base.main, source: txn.pages, withTables: true)
            return try records.map { (name, record) in
                let reached = try ReachablePages.collect(record.main, source: txn.pages, withTables: true)
                return SnapshotInfo(name: name, transactionID: record.txnID, commitTime: record.commitTime,
                                    createdTime: record.createdTime, entries: Int(clamping: record.main.entries),
                                    pinnedPages: reached.pages.subtracting(current.pages).count)
            }
        }
    }

    /// Runs `body` in a read transaction on the snapshot `name` (its main tree and tables, as
    /// they were at its commit). Throws ``MapStoreError/invalidArgument(reason:)`` when there is
    /// no such snapshot. The snapshot cannot be freed under the reader, even if another thread
    /// deletes it meanwhile.
    public func read<R>(snapshot name: String, _ body: (ReadTransaction) throws -> R) throws -> R {
        let ticket = try environment.beginRead()
        defer { environment.endRead(ticket) }
        let meta = ticket.meta
        let pages = TransactionPages(base: environment.mapping.base, pageSize: environment.pageSize, pageChecksum: environment.pageChecksum,
                                     pageCount: meta.pageCount, verifyChecksums: options.verifyChecksums, tracer: options.shadow)
        guard let record = try SnapshotCatalog.find(name, in: meta.catalog, source: pages, pageCount: meta.pageCount) else {
            throw MapStoreError.invalidArgument(reason: "no snapshot named '\(name)' in \(path)")
        }
        var view = meta
        view.main = record.main
        view.txnID = record.txnID
        view.commitTime = record.commitTime
        let transaction = ReadTransaction(environment: environment, base: view, pages: pages)
        defer { transaction.finish() }
        let result = try body(transaction)
        return result
    }

    /// Whether a snapshot named `name` exists.
    public func hasSnapshot(_ name: String) throws -> Bool {
        try read { txn in
            try SnapshotCatalog.find(name, in: txn.base.catalog, source: txn.pages, pageCount: txn.base.pageCount) != nil
        }
    }

    /// Makes snapshot `name` the current state in a new commit. Nothing is copied: the new
    /// commit's main tree is the snapshot's root, pages only the replaced tree reached are
    /// freed (kept for older snapshots and readers as usual), and the snapshot stays in the
    /// catalog. Throws ``MapStoreError/invalidArgument(reason:)`` when there is no such snapshot.
    public func restore(snapshot name: String) throws {
        let path = self.path
        try write { txn in
            guard let record = try txn.findSnapshot(name) else {
                throw MapStoreError.invalidArgument(reason: "no snapshot named '\(name)' in \(path)")
            }
            try txn.restoreSnapshot(name, record)
        }
    }

    /// Deletes snapshot `name`; false when there was none. The pages it alone kept become
    /// reusable once no reader that started before the deletion is left.
    @discardableResult
    public func deleteSnapshot(_ name: String) throws -> Bool {
        try write { txn in
            guard let record = try txn.findSnapshot(name) else { return false }
            try txn.removeSnapshot(name, record)
            return true
        }
    }
}
