/// An open MapStore database: one data file mapped into the process.
///
/// ```swift
/// let db = try Database(path: "shop.mapstore")
/// try db.write { txn in
///     try txn.put("apple", "3")
/// }
/// let apples = try db.read { txn in try txn.getString("apple") }
/// ```
///
/// `Database` is `Sendable`: share one instance between threads. Any number of read
/// transactions run at once and never wait; write transactions take turns (across threads
/// and processes). The file is closed and unmapped when the last reference goes away.
public final class Database: Sendable {
    let environment: Environment
    /// The options of this handle. Two handles on one file share the map and the reader
    /// list; durability and checksum verification are each handle's own.
    public let options: Options
    /// The last write transaction of this handle, kept for the next one when nothing else
    /// held it at its end (``endWrite(_:)``); used under the writer lock only.
    let spareWriter = SpareWriter()

    /// The largest value, in bytes: 1 GiB.
    public static let maxValueSize = 1 << 30

    /// Opens (or, with ``Options/create``, creates) the database at `path`. Its lock file is
    /// `path + "-lock"`.
    public init(path: String, options: Options = Options()) throws(MapStoreError) {
        environment = try EnvironmentRegistry.acquire(path: path, options: options)
        self.options = options
    }

    deinit {
        EnvironmentRegistry.release(environment)
    }

    /// The data file's path.
    public var path: String { environment.path }

    /// The largest key, in bytes, for this database's page size (998 with 4 KiB pages).
    public var maxKeySize: Int { environment.limits.maxKeySize }

    /// The page size of the file (the machine's page size).
    public var pageSize: Int { environment.pageSize }

    /// Runs `body` in a read transaction at the newest commit and returns its result.
    ///
    /// The transaction sees one commit for its whole life, whatever writers do meanwhile,
    /// and must not escape `body`. Every read in `body` throws where it meets damage (a
    /// ``Scan`` too, from its ``Scan/next()``); what `body` throws is rethrown here.
    public func read<R>(_ body: (ReadTransaction) throws -> R) throws -> R {
        let ticket = try environment.beginRead()
        defer { environment.endRead(ticket) }
        let meta = ticket.meta
        let pages = TransactionPages(base: environment.mapping.base, pageSize: environment.pageSize, pageChecksum: environment.pageChecksum,
                                     pageCount: meta.pageCount, verifyChecksums: options.verifyChecksums, tracer: options.shadow)
        let transaction = ReadTransaction(environment: environment, base: meta, pages: pages)
        defer { transaction.finish() }
        let result = try body(transaction)
        return result
    }

    /// Runs `body` in the write transaction and commits when it returns; a throw rolls
    /// everything back. Write transactions take turns across threads and processes; a
    /// nested `write` on the same thread throws instead of deadlocking.
    public func write<R>(_ body: (WriteTransaction) throws -> R) throws -> R {
        let environment = self.environment
        guard !options.readOnly else {
            throw MapStoreError.readOnly(reason: "\(environment.path) was opened read-only")
        }
        try environment.gate.lock(timeout: options.writerTimeout)
        defer { environment.gate.unlock() }
        var transaction = try beginWrite()
        defer { endWrite(&transaction) }
        let result = try body(transaction)
        try transaction.commit()
        return result
    }

    /// Builds a write transaction on the newest commit (the caller holds the writer lock).
    ///
    /// Inside a group (``Options/groupCommit``) that is the group's last commit, written but
    /// not yet durable. Its pages are reused only as far as the last durable commit allows, as
    /// if that commit were a reader: a crash before the group's sync must find it intact.
    func beginWrite() throws(MapStoreError) -> WriteTransaction {
        let environment = self.environment
        // Only whether the handle is poisoned is read here (its reason, a string, cost a
        // retain and release every transaction); a poisoned handle stays poisoned.
        let (durable, isPoisoned) = environment.shared.withLock { state in
            state.meta = environment.newestMeta(known: state.meta)
            return (state.meta, state.poisoned != nil)
        }
        if isPoisoned { throw MapStoreError.poisoned(reason: environment.poisonReason) }
        // A writer that died between its meta and its publication left the table behind: repair it.
        if environment.sharesReaders, let table = environment.readerTable, table.lastTransaction < durable.txnID {
            table.publish(durable.txnID)
        }
        let meta = environment.unsyncedMeta ?? durable
        let oldestReader = environment.oldestReader(newest: try environment.reuseHorizon(published: durable.txnID, durability: options.durability))
        // A checked reader of the base commit, made only when the list must be read from the
        // file or snapshots must be walked (not on the usual commit after commit).
        // Move the list out of the cache rather than share it: the transaction changes it,
        // and a shared array would be copied whole on the first change. An aborted
        // transaction leaves no cache; the next writer reads the list from the file.
        // (`take()` moves it: no retain of its arrays here and no release in the cache.)
        let cached = environment.freeListCache?.txn == meta.txnID ? environment.freeListCache.take() : nil
        let needsReader = cached == nil || meta.catalog.entries > 0
        let reader = needsReader ? TransactionPages(base: environment.mapping.base, pageSize: environment.pageSize, pageChecksum: environment.pageChecksum,
                                                    pageCount: meta.pageCount, verifyChecksums: true, tracer: options.shadow) : nil
        var freeList: FreeList
        var chain: [UInt64]
        if let cached {
            (freeList, chain) = (cached.list, cached.chain)
        } else {
            (freeList, chain) = try FreeListChain.loadForWriting(from: meta.freeListRoot, source: reader!, pageCount: meta.pageCount)
        }
        // secureDelete: note every page released from here on, for the commit to zero those it
        // does not reuse. Released means free under the horizon: no reader sees it and no
        // commit a crash may fall back to reaches it. A private map never writes the file.
        if options.secureDelete, environment.mode != .privateCopyOnWrite {
            if environment.releasedPages == nil { environment.releasedPages = [] } else { environment.releasedPages!.empty() }
        } else if environment.releasedPages != nil {
            environment.releasedPages = nil
        }
        if let reader, meta.catalog.entries > 0 {
            // Snapshots weigh every record against the pages they pin: take the whole list in
            // hand (its frozen chain pages are rewritten with the rest). Without any, frozen
            // pages are thawed one by one as pages are needed, up to the oldest reader.
            chain += freeList.thawAll()
            SnapshotPins.release(&freeList, upTo: oldestReader, meta: meta, source: reader, environment: environment,
                                 noting: &environment.releasedPages)
        } else {
            freeList.release(upTo: oldestReader, spare: &environment.spareFreedPages, noting: &environment.releasedPages)
        }
        freeList.horizon = oldestReader
        // secureDelete: records of frozen free-list pages are released now, not when pages run
        // out, so their pages are zeroed by this commit (their chain pages go with the old chain).
        if environment.releasedPages != nil, !freeList.frozen.isEmpty { chain += freeList.thawForErasing(noting: &environment.releasedPages) }
        if let spare = spareWriter.transaction {
            // This handle's last write transaction, which nothing else held at its end: the
            // transaction and its page view are set up again, not reallocated.
            spareWriter.transaction = nil
            spare.pages.restart(pageCount: meta.pageCount, verifyChecksums: options.verifyChecksums, secureDelete: options.secureDelete, txnID: meta.txnID + 1,
                                freeList: freeList, tracer: options.shadow, environment: environment)
            spare.restart(base: meta, oldChain: chain, durability: options.durability)
            return spare
        }
        let pages: TransactionPages
        if let spare = environment.spareWriterPages {
            // The last write transaction's view, parked by its end(): reused, not reallocated.
            environment.spareWriterPages = nil
            spare.restart(pageCount: meta.pageCount, verifyChecksums: options.verifyChecksums, secureDelete: options.secureDelete, txnID: meta.txnID + 1,
                          freeList: freeList, tracer: options.shadow, environment: environment)
            pages = spare
        } else {
            pages = TransactionPages(
                base: environment.mapping.base, pageSize: environment.pageSize, pageChecksum: environment.pageChecksum, pageCount: meta.pageCount,
                verifyChecksums: options.verifyChecksums, secureDelete: options.secureDelete, txnID: meta.txnID + 1,
                inPlace: environment.mode != .readOnly, maxPages: UInt64(environment.options.maxSize / environment.pageSize),
                freeList: freeList, bufferPool: environment.mode == .readOnly ? environment.bufferPool : nil, tracer: options.shadow,
                environment: environment)
        }
        return WriteTransaction(environment: environment, base: meta, pages: pages, oldChain: chain, durability: options.durability)
    }

    /// Ends `transaction` (``WriteTransaction/end()``) and keeps it for this handle's next
    /// write transaction when nothing else holds it: a transaction the closure let escape (or
    /// a cursor, table or scan of it) stays ended for good, and only its page view is reused.
    func endWrite(_ transaction: inout WriteTransaction) {
        transaction.end()
        if isKnownUniquelyReferenced(&transaction) {
            spareWriter.transaction = transaction
        } else {
            environment.spareWriterPages = transaction.pages
        }
    }
}

/// A handle's write transaction between two uses (``Database/endWrite(_:)``). Touched only
/// under the writer lock, which orders every access.
final class SpareWriter: @unchecked Sendable {
    var transaction: WriteTransaction?
}
