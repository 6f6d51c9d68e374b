#if canImport(Glibc)
import Glibc
#endif

/// Figures about a database, as `mapstore stat` prints them.
public struct Statistics: Sendable, Equatable {
    /// Data entries in the main tree and every table.
    public var entries: Int
    /// Bytes per page.
    public var pageSize: Int
    /// Pages the data file holds (its size over the page size).
    public var filePages: Int
    /// Pages in use or free (the rest of the file is preallocated room to grow).
    public var usedPages: Int
    /// Pages on the free list.
    public var freePages: Int
    /// Levels of the main tree (0 when empty).
    public var treeDepth: Int
    /// The id of the newest commit.
    public var transactionID: UInt64
    /// Named snapshots.
    public var snapshots: Int
    /// Tables.
    public var tables: Int
    /// How the file is mapped.
    public var mappingMode: MappingMode
    /// Live read transactions of every process (the `stat` call's own not counted).
    public var readers: Int
}

/// Figures about one named table, as `mapstore stat --table NAME` prints them.
public struct TableStatistics: Sendable, Equatable {
    /// The table's name.
    public var name: String
    /// Entries in the table.
    public var entries: Int
    /// Levels of the table's tree (0 when empty).
    public var treeDepth: Int
    /// Pages the table's tree reaches: its branch and leaf pages and its overflow runs.
    public var pages: Int
}

extension Database {
    /// Figures about the table `name` in the newest commit, or nil when there is no such
    /// table. Walks the table's tree to count its pages (reads every page of it once).
    /// Throws ``MapStoreError/corrupted(page:reason:)`` at a page of it that does not fit.
    public func stat(table name: String) throws -> TableStatistics? {
        try read { txn in
            guard try txn.hasTable(name) else { return nil }
            let root = try txn.root(of: .table(name))
            let reached = try ReachablePages.collect(root, source: txn.pages, withTables: false)
            return TableStatistics(name: name, entries: Int(root.entries), treeDepth: root.depth, pages: reached.pages.count)
        }
    }

    /// Runs `body` in a read transaction that has read its commit's inline free list first
    /// (``ReadTransaction/freeListWords()``), starting again on a new transaction in the rare
    /// case that two commits overwrote that meta page before it was read. Whatever needs a
    /// commit's free list reads through this (`check`, `stat`, backups, replication): a writer
    /// in another process that commits without pause can overwrite a meta page within the
    /// time it takes to create a file, so asking any later than at once fails again and again.
    package func readWithFreeList<R>(_ body: (ReadTransaction) throws -> R) throws -> R {
        var attempts = 0
        while true {
            attempts += 1
            var result: R?
            try read { txn in
                do {
                    _ = try txn.freeListWords()
                } catch where attempts < 100 {
                    return
                }
                result = try body(txn)
            }
            if let result { return result }
        }
    }

    /// Figures about the newest commit.
    public func stat() throws -> Statistics {
        let environment = self.environment
        return try readWithFreeList { txn in
            var entries = try txn.count()
            let names = try txn.tableNames()
            for name in names { entries += try txn.table(name).count() }
            let (list, _) = try FreeListChain.load(of: txn.base, inline: try txn.freeListWords(), source: txn.pages)
            let fileSize = try Syscalls.fileSize(environment.file, environment.path)
            // Every live read transaction of every process, less this one.
            let readers = environment.sharesReaders
                ? (environment.readerTable?.slots().filter { !$0.isStale && $0.transactionID != nil }.count ?? 1) - 1
                : environment.shared.withLock { $0.readers.values.reduce(0, +) } - 1
            return Statistics(
                entries: entries, pageSize: environment.pageSize, filePages: fileSize / environment.pageSize,
                usedPages: Int(txn.base.pageCount), freePages: list.count, treeDepth: txn.base.main.depth,
                transactionID: txn.base.txnID, snapshots: Int(clamping: txn.base.catalog.entries), tables: names.count,
                mappingMode: environment.mode, readers: readers)
        }
    }

    /// Verifies every invariant of the newest commit and returns the problems found (none
    /// when the database is sound): page checksums, page kinds and headers, key order and
    /// separator bounds, tree depth, entry counts, overflow runs, table descriptors, and that
    /// every page is reachable exactly once or on the free list exactly once; and the snapshot
    /// catalog and every named snapshot's trees, whose pages must be reachable or wait on the
    /// free list, freed after the snapshot.
    ///
    /// Reads the whole file with MADV_SEQUENTIAL. Throws only when the file cannot be read.
    public func check() throws -> [CheckProblem] {
        try check(progress: nil)
    }

    /// ``check()``, telling `progress` how far it has come: called with (pages verified so
    /// far, pages in all) as the walk claims them, and (pages in all, pages in all) at the end.
    public func check(progress: ((_ done: Int, _ total: Int) -> Void)?) throws -> [CheckProblem] {
        let environment = self.environment
        return try readWithFreeList { txn in
            let pageCount = txn.base.pageCount
            environment.mapping.advise(.sequential, bytes: Int(pageCount) * environment.pageSize)
            defer { environment.mapping.advise(environment.options.accessPattern, bytes: Int(pageCount) * environment.pageSize) }
            let problems = Database.problems(in: txn, progress: progress)
            progress?(Int(pageCount), Int(pageCount))
            return problems
        }
    }

    /// Every invariant of the commit `txn` reads (``check()``; backups verify what they copy
    /// with it), telling `progress` the pages claimed so far and the pages in all.
    static func problems(in txn: ReadTransaction, progress: ((Int, Int) -> Void)? = nil) -> [CheckProblem] {
        let pageCount = txn.base.pageCount
        var checker = TreeChecker(source: txn.pages, pageCount: pageCount)
        if let progress { checker.progress = { progress($0, Int(pageCount)) } }
        checker.check(tree: txn.base.main, name: "main tree", referrer: txn.base.txnID % 2, isMain: true)
        for table in checker.tables {
            checker.check(tree: table.root, name: "table '\(table.name)'", referrer: table.page, isMain: false)
        }
        checker.check(tree: txn.base.catalog, name: "snapshot catalog", referrer: txn.base.txnID % 2, isMain: false)
        let freeList: FreeList
        do throws(MapStoreError) {
            let (list, chain) = try FreeListChain.load(of: txn.base, inline: try txn.freeListWords(), source: txn.pages)
            for page in chain { _ = checker.claim(page, count: 1, as: .freeListChain, from: txn.base.txnID % 2) }
            for page in list.reusable { _ = checker.claim(page, count: 1, as: .freeList, from: txn.base.freeListRoot) }
            for record in list.pending {
                for page in record.pages { _ = checker.claim(page, count: 1, as: .freeList, from: txn.base.freeListRoot) }
            }
            freeList = list
        } catch {
            checker.report(error, default: txn.base.freeListRoot)
            return checker.problems  // without the free list, ownership cannot be judged
        }
        checker.checkRecord(of: txn.base)
        for page in Int(PageLayout.firstDataPage)..<Int(pageCount) where checker.owners[page] == .unseen {
            checker.report(UInt64(page), "neither reachable nor free (leaked)")
        }
        checker.checkSnapshots(base: txn.base, freeList: freeList)
        return checker.problems
    }

    /// The permission bits of the data file: what a backup or dump of it may grant, at most.
    func fileMode() throws(MapStoreError) -> UInt32 {
        var info = Glibc.stat()
        _ = try Syscalls.retrying("fstat", path) { Int(fstat(environment.file.rawValue, &info)) }
        return UInt32(info.st_mode & 0o777)
    }
}

extension Database {
    /// The claimed slots of the reader table: every read transaction open on this database
    /// in any process (like `mdb_stat -r`). Empty when the lock file cannot be written.
    public func readers() -> [ReaderSlot] {
        environment.readerTable?.slots() ?? []
    }

    /// Frees the reader slots of processes that died; returns how many. Writers also do
    /// this on their own whenever a dead reader holds pages back.
    @discardableResult
    public func clearStaleReaders() -> Int {
        environment.readerTable?.clearStale() ?? 0
    }
}
