extension TreeChecker {
    /// Checks the snapshot catalog and every snapshot's trees, after the newest commit's
    /// trees and free list have been claimed. A snapshot's pages must each be reachable from
    /// the newest commit or wait on the free list with a tag newer than the snapshot (freed
    /// after it, so never reused while it lives); a page that is unclaimed, reusable or part
    /// of the free list's own chain is reported.
    mutating func checkSnapshots(base: Meta, freeList: FreeList) {
        let records: [(name: String, record: SnapshotRecord)]
        do throws(MapStoreError) {
            records = try SnapshotCatalog.all(in: base.catalog, source: source, pageCount: pageCount)
        } catch {
            report(error, default: base.catalog.root)
            return
        }
        guard !records.isEmpty else { return }
        let oldest = records.map(\.record.txnID).min()!
        if base.oldestSnapshot != oldest {
            report(base.txnID % 2, "meta records oldest snapshot txn \(base.oldestSnapshot), the catalog's oldest is \(oldest)")
        }
        var pendingTag: [UInt64: UInt64] = [:]
        for record in freeList.pending { for page in record.pages { pendingTag[page] = record.txn } }
        var seen = Set(problems.map { "\($0.page) \($0.message)" })
        for (name, record) in records {
            if record.txnID > base.txnID {
                report(base.catalog.root, "snapshot '\(name)' pins txn \(record.txnID), newer than the commit \(base.txnID)")
                continue
            }
            var walk = TreeChecker(source: source, pageCount: pageCount)
            walk.check(tree: record.main, name: "snapshot '\(name)'", referrer: base.catalog.root, isMain: true)
            for table in walk.tables {
                walk.check(tree: table.root, name: "snapshot '\(name)' table '\(table.name)'", referrer: table.page, isMain: false)
            }
            for problem in walk.problems where seen.insert("\(problem.page) \(problem.message)").inserted {
                problems.append(problem)
            }
            for page in 0..<Int(pageCount) where walk.owners[page] == .tree {
                switch owners[page] {
                case .tree:
                    continue
                case .freeList:
                    guard let tag = pendingTag[UInt64(page)] else {
                        report(UInt64(page), "page of snapshot '\(name)' is on the free list as reusable")
                        continue
                    }
                    if tag <= record.txnID {
                        report(UInt64(page), "page of snapshot '\(name)' (txn \(record.txnID)) is on the free list freed by txn \(tag)")
                    }
                case .freeListChain:
                    report(UInt64(page), "page of snapshot '\(name)' is a free-list chain page")
                case .unseen:
                    report(UInt64(page), "page of snapshot '\(name)' is neither reachable nor on the free list")
                }
            }
        }
    }
}
