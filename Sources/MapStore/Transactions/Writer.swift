/// The write side of one open data file: everything a write transaction changes between
/// commits, owned by one object that only the holder of the writer lock can reach
/// (``Environment/withWriter(timeout:_:)``).
///
/// It owns the free list as of the last commit and the pages of its chain, the reuse
/// horizon (which freed pages a new transaction may take), the page-buffer pool and the
/// parked page view with its dirty-page map, the file's growth, and the commit that is
/// written but not yet durable. It begins write transactions and makes their commits
/// durable (Commit.swift). What readers share (the newest meta, the reader table, the
/// poison flag) stays in the ``Environment``.
///
/// bbolt's freelist and redb's page store play the same part. Every field is touched only
/// under the writer lock, which orders every access: hence the unchecked exclusivity.
final class Writer: @unchecked Sendable {
    /// The environment that owns this writer and outlives every call to it (the writer is
    /// reached through the environment, or by a transaction that holds the environment).
    /// (Each function that needs it copies it into a local once, a retain and a release: the
    /// common paths of the functions every commit calls read only the copies below.)
    unowned(unsafe) let environment: Environment
    /// The environment's page size, mapping mode and reader table, kept here too.
    let pageSize: Int
    let mode: MappingMode
    let readerTable: ReaderTable?
    /// Bytes of the data file (or, in private mode, of the file-backed part of the map).
    @exclusivity(unchecked) private(set) var fileSize: Int
    /// Whether a growth writes zeros over the pages it adds: on for the write transaction in
    /// hand when its durability syncs (set by ``begin(for:)``; ``ensureFileCapacity(pages:)``).
    @exclusivity(unchecked) private var zeroesGrowth = true
    /// Heap page buffers for write transactions in `.readOnly` mode, reused between commits.
    let bufferPool: PageBufferPool
    /// A page-sized buffer write transactions rewrite pages through.
    let scratch: UnsafeMutableRawPointer
    /// The tree writer's path array, handed from one write transaction to the next
    /// (``WriteTransaction/end()``) so none allocates one.
    @exclusivity(unchecked) var sparePath: [(number: UInt64, index: Int)] = []
    /// The last write transaction's page view, parked by ``WriteTransaction/end()`` (when its
    /// transaction is not kept by its handle for reuse, ``end(_:keepingIn:)``) and restarted by
    /// the next one: one object allocated and freed per transaction less. Parked, it holds no
    /// reference back to this writer.
    @exclusivity(unchecked) var spareView: TransactionPages?
    /// An empty array with capacity for the next write transaction's freed pages
    /// (``TransactionPages/freedNow``), left by ``FreeList/release(upTo:spare:noting:)``.
    @exclusivity(unchecked) var spareFreedPages: [UInt64] = []
    /// With ``Options/secureDelete``, the pages the current write transaction released into
    /// reuse (from the free list's records, or allocated, written in place and freed again):
    /// its commit zeroes those it did not reuse (``TransactionPages/erasing``). Nil when it
    /// is off; its buffer is kept.
    @exclusivity(unchecked) var releasedPages: [UInt64]?
    /// The inline free-list words of the newest commit written (the one the next meta written
    /// is: ``Meta/freeListWordCount``), and the buffer the next commit fills: it takes this
    /// one's place once its pages are written, so a commit that fails before leaves them.
    /// Swapped, never copied: no allocation per commit. (Freed by `deinit`.)
    @exclusivity(unchecked) var freeListWords = InlineWords.allocate()
    @exclusivity(unchecked) var nextFreeListWords = InlineWords.allocate()
    /// The free list as of `txn`, and the pages of its chain, kept between commits.
    @exclusivity(unchecked) var freeListCache: (txn: UInt64, list: FreeList, chain: [UInt64])?
    /// The newest commit whose pages are written but which is not durable yet (between the
    /// commits of a group, ``Options/groupCommit``): the next write transaction starts from it.
    @exclusivity(unchecked) var unsyncedMeta: Meta?
    /// The runs of pages written since the last durable commit, for its meta's page list
    /// (one commit's, or a group's): what lets one sync make them durable (Commit.swift).
    @exclusivity(unchecked) var pageList: PageList
    /// The commit the page list starts after: the list holds the runs every later commit up
    /// to the one in hand wrote (nil: it covers none). One sync can make that commit durable
    /// only when this one is known to be on disk (Commit.swift).
    @exclusivity(unchecked) var pageListStart: UInt64?
    /// The pages a commit set aside for its record run (``CommitRecord``) before its free list
    /// was saved, in case its page list outgrows the meta page: the commit's id, the run's
    /// first page, its pages. They are on that commit's free list (reused only two commits
    /// later), so setting them aside costs nothing when the record is not written.
    @exclusivity(unchecked) var recordReservation: (txn: UInt64, first: UInt64, pages: Int)?
    /// The ``Durability/lazy`` commits written since this writer's last sync and not yet
    /// durable (nil: none): the page list runs on from them.
    @exclusivity(unchecked) var lazyCommits: LazyCommits?
    /// When a lazy commit syncs: the limits of the handle ``begin(for:)`` last began a lazy
    /// transaction for.
    @exclusivity(unchecked) var lazyLimits = LazySyncLimits(Options())
    /// When this writer last synced the data file (``monotonicNanoseconds()``).
    /// (The open counts as one: a lazy commit's interval runs from it.)
    @exclusivity(unchecked) var lastSync = monotonicNanoseconds()
    /// Pages the named snapshots reach, per catalog version (``SnapshotPins``).
    @exclusivity(unchecked) var snapshotPins: SnapshotPins?
    /// Names this boot and this data file in the lock file's sync record, which says which
    /// commit's meta is known to be on disk (SyncRecord.swift, ``reuseHorizon(published:durability:)``).
    let syncWitness: SyncWitness

    init(environment: Environment, fileSize: Int, syncWitness: SyncWitness) {
        self.environment = environment
        self.pageSize = environment.pageSize
        self.mode = environment.mode
        self.readerTable = environment.readerTable
        self.fileSize = fileSize
        self.syncWitness = syncWitness
        bufferPool = PageBufferPool(pageSize: pageSize)
        pageList = PageList(pageSize: pageSize)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
    }

    deinit {
        scratch.deallocate()
        freeListWords.deallocate()
        nextFreeListWords.deallocate()
    }

    // MARK: Beginning and ending transactions

    /// Builds a write transaction on the newest commit for `handle`, reusing the handle's last
    /// transaction when it kept one.
    ///
    /// Inside a group (``Options/groupCommit``) that is the group's last commit, written but
    /// not yet durable. Its pages are reused only as far as the last durable commit allows, as
    /// if that commit were a reader: a crash before the group's sync must find it intact.
    func begin(for handle: WriteHandle) throws(MapStoreError) -> WriteTransaction {
        let environment = self.environment
        // The handle's options field by field: a copy of the whole struct cost 100 instructions.
        let durability = handle.options.durability
        zeroesGrowth = durability != .none
        let verifyChecksums = handle.options.verifyChecksums
        let secureDelete = handle.options.secureDelete
        let tracer = handle.options.shadow
        if durability == .lazy { lazyLimits = LazySyncLimits(handle.options) }
        // Only whether the handle is poisoned is read here (its reason, a string, cost a
        // retain and release every transaction); a poisoned handle stays poisoned.
        let published = environment.publishedLimit
        // This process's oldest reader is read here too (one lock, not two): a reader that
        // begins after this reads this commit or a newer one, never older than the horizon.
        var (durable, isPoisoned, localReader) = environment.shared.withLock { state in
            state.meta = environment.newestMeta(known: state.meta, limit: published)
            return (state.meta, state.poisoned != nil, state.oldestLocalReader)
        }
        if isPoisoned { throw MapStoreError.poisoned(reason: environment.poisonReason) }
        // A writer that died between its meta and its publication left that meta behind (the
        // writer lock is ours, so nobody is writing one now): adopt it when all its pages are
        // there, as an open would, and publish it. Two loads of the map when there is none.
        if environment.sharesReaders, environment.newestTxnInMap > durable.txnID, let meta = try environment.unpublishedMeta(after: durable) {
            environment.publish(meta)
            durable = meta
        }
        let meta = unsyncedMeta ?? durable
        // After a lazy commit the next id would put this commit's meta into the slot of the
        // last synced commit, which the lazy commits' list falls back to: it takes the one after.
        let txnID = meta.txnID + (lazyCommits?.newest == meta.txnID ? 2 : 1)
        let oldestReader = environment.oldestReader(newest: try reuseHorizon(published: durable.txnID, durability: durability), local: localReader)
        let (freeList, chain) = try freeList(at: meta, releasingUpTo: oldestReader, published: durable.txnID, secureDelete: secureDelete, tracer: tracer)
        if let transaction = handle.spare {
            // This handle's last write transaction, which nothing else held at its end: the
            // transaction and its page view are set up again, not reallocated.
            handle.spare = nil
            transaction.pages.restart(pageCount: meta.pageCount, verifyChecksums: verifyChecksums, secureDelete: secureDelete,
                                      txnID: txnID, freeList: freeList, tracer: tracer, writer: self)
            transaction.restart(base: meta, oldChain: chain, durability: durability)
            return transaction
        }
        let pages: TransactionPages
        if let view = spareView {
            // The last write transaction's view, parked by its end(): reused, not reallocated.
            spareView = nil
            view.restart(pageCount: meta.pageCount, verifyChecksums: verifyChecksums, secureDelete: secureDelete,
                         txnID: txnID, freeList: freeList, tracer: tracer, writer: self)
            pages = view
        } else {
            pages = TransactionPages(
                base: environment.mapping.base, pageSize: environment.pageSize, pageChecksum: environment.pageChecksum, pageCount: meta.pageCount,
                verifyChecksums: verifyChecksums, secureDelete: secureDelete, txnID: txnID,
                inPlace: environment.mode != .readOnly, maxPages: UInt64(environment.options.maxSize / environment.pageSize),
                freeList: freeList, bufferPool: environment.mode == .readOnly ? bufferPool : nil, tracer: tracer, writer: self)
        }
        return WriteTransaction(environment: environment, writer: self, base: meta, pages: pages, oldChain: chain, durability: durability)
    }

    /// The free list of commit `meta` and its chain pages, with every page freed by a commit
    /// at or before `oldestReader` released into reuse (less what named snapshots pin), and
    /// the pages lazy commits wrote and freed again since the last sync (``PageList/young``)
    /// once no reader of commit `published` or older holds them.
    /// (Inlined into ``begin(for:)``: returning the list from a call of its own cost 35
    /// instructions per transaction.)
    @inline(__always)
    private func freeList(at meta: Meta, releasingUpTo oldestReader: UInt64, published: UInt64, secureDelete: Bool,
                          tracer: (any AccessTracer)?) throws(MapStoreError) -> (FreeList, [UInt64]) {
        let environment = self.environment
        // Move the list out of the cache rather than share it: the transaction changes it,
        // and a shared array would be copied whole on the first change. An aborted
        // transaction leaves no cache; the next writer reads the list from the file.
        // (`take()` moves it: no retain of its arrays here and no release in the cache.)
        let cached = freeListCache?.txn == meta.txnID ? freeListCache.take() : nil
        // A checked reader of the base commit, made only when the list must be read from the
        // file or snapshots must be walked (not on the usual commit after commit).
        let needsReader = cached == nil || meta.catalog.entries > 0
        let reader = needsReader ? TransactionPages(base: environment.mapping.base, pageSize: environment.pageSize, pageChecksum: environment.pageChecksum,
                                                    pageCount: meta.pageCount, verifyChecksums: true, tracer: tracer) : nil
        var freeList: FreeList
        var chain: [UInt64]
        if let cached {
            (freeList, chain) = (cached.list, cached.chain)
        } else {
            (freeList, chain) = try FreeListChain.loadForWriting(of: meta, inline: try inlineFreeList(of: meta), source: reader!)
        }
        // secureDelete: note every page released from here on, for the commit to zero those it
        // does not reuse. Released means free under the horizon: no reader sees it and no
        // commit a crash may fall back to reaches it. A private map never writes the file.
        if secureDelete, environment.mode != .privateCopyOnWrite {
            if releasedPages == nil { releasedPages = [] } else { releasedPages!.empty() }
        } else if releasedPages != nil {
            releasedPages = nil
        }
        if let reader, meta.catalog.entries > 0 {
            // Snapshots weigh every record against the pages they pin: take the whole list in
            // hand (its frozen chain pages are rewritten with the rest). Without any, frozen
            // pages are thawed one by one as pages are needed, up to the oldest reader.
            chain += freeList.thawAll()
            SnapshotPins.release(&freeList, upTo: oldestReader, meta: meta, source: reader, cache: &snapshotPins, noting: &releasedPages)
        } else {
            freeList.release(upTo: oldestReader, spare: &spareFreedPages, noting: &releasedPages)
            if lazyCommits?.newest == meta.txnID, !pageList.young.isEmpty {
                // The last synced commit never reached these, so only readers hold them back:
                // they are reused before the next sync, which then writes fewer pages back.
                // (With named snapshots, which may pin them, they wait for the sync like the rest.)
                freeList.releaseYoung(&pageList.young, upTo: environment.oldestReader(newest: published), noting: &releasedPages)
            }
        }
        freeList.horizon = oldestReader
        // secureDelete: records of frozen free-list pages are released now, not when pages run
        // out, so their pages are zeroed by this commit (their chain pages go with the old chain).
        if releasedPages != nil, !freeList.frozen.isEmpty { chain += freeList.thawForErasing(noting: &releasedPages) }
        return (freeList, chain)
    }

    /// The inline free-list words of `meta`, the newest commit. One whose meta is not written
    /// yet (a group's, ``unsyncedMeta``) has them here; otherwise they are in its meta page,
    /// which under the writer lock no commit can overwrite, unless it was damaged since.
    private func inlineFreeList(of meta: Meta) throws(MapStoreError) -> [UInt64] {
        if let unsyncedMeta, unsyncedMeta.txnID == meta.txnID { return Array(freeListWords.words) }
        guard let words = environment.freeListWords(of: meta) else {
            throw MapStoreError.corrupted(page: meta.txnID % 2, reason: "the meta page of commit \(meta.txnID) no longer holds its free list")
        }
        return words
    }

    /// Ends `transaction` (``WriteTransaction/end()``) and keeps it in `handle`, for the
    /// handle's next write transaction, when nothing else holds it: a transaction the closure
    /// let escape (or a cursor, table or scan of it) stays ended for good, and only its page
    /// view is reused.
    func end(_ transaction: inout WriteTransaction, keepingIn handle: WriteHandle) {
        transaction.end()
        if isKnownUniquelyReferenced(&transaction) {
            handle.spare = transaction
        } else {
            spareView = transaction.pages
        }
    }

    /// Runs `body` in a write transaction for `handle` and commits when it returns; a throw
    /// rolls everything back. (Inlined into its generic caller: a generic call of its own
    /// moved the result through its metadata, 70 instructions per transaction.)
    @inline(__always)
    func run<R>(for handle: WriteHandle, _ body: (WriteTransaction) throws -> R) throws -> R {
        var transaction = try begin(for: handle)
        defer { end(&transaction, keepingIn: handle) }
        let result = try body(transaction)
        try transaction.commit()
        return result
    }

    // MARK: The reuse horizon

    /// The newest commit whose pages a new write transaction must leave intact, as if a reader
    /// were at it: the last published commit or, for a writer that promises to survive a power
    /// cut, the newest commit whose meta is known to be on disk, if that is older.
    ///
    /// A meta in the map may be in the page cache only: with `.noMetaSync` the last commit's
    /// meta waits for the next commit's first sync, and a writer killed between its meta write
    /// and its sync (in this process or any other) leaves its meta unsynced for good. A power
    /// cut may then keep the next commit's page writes and lose that meta: had the next commit
    /// reused a page the commit before still reaches, that commit would be damaged too. So
    /// pages freed after the known-durable commit wait (LMDB's rule: never reuse what the last
    /// commit freed), until a sync of this writer's own moves the mark on.
    ///
    /// The mark is the lock file's sync record, shared by every process. When it does not speak
    /// of this boot and this data file (a new lock file, a reboot, a restored file), nothing is
    /// known and the file is synced once here, which makes the newest meta durable: one
    /// fdatasync per such open, none in the usual case.
    func reuseHorizon(published: UInt64, durability: Durability) throws(MapStoreError) -> UInt64 {
        // `.none` promises nothing after a power cut; a private map never writes the file.
        guard durability != .none, mode != .privateCopyOnWrite, let table = readerTable else { return published }
        if let synced = table.syncedTransaction(witness: syncWitness) { return min(published, synced) }
        let environment = self.environment
        do throws(MapStoreError) {
            try Syscalls.fdatasync(environment.io, environment.file, environment.path)
        } catch {
            environment.poison(error)
            throw error
        }
        environment.observer.synced()
        environment.options.shadow?.fileSynced()
        noteSynced(published)
        return published
    }

    /// Whether commit `txnID`'s meta is known to be on disk (the lock file's sync record):
    /// only then may the next commit be made durable with one sync, since a power cut before
    /// that sync returns falls back to commit `txnID`.
    func isKnownDurable(_ txnID: UInt64) -> Bool {
        guard let synced = readerTable?.syncedTransaction(witness: syncWitness) else { return false }
        return synced >= txnID
    }

    /// Records in the lock file that a completed sync of the data file covered every meta up
    /// to `txnID` (written by this process or any other: the page cache is shared).
    func noteSynced(_ txnID: UInt64) {
        guard mode != .privateCopyOnWrite else { return }
        lastSync = monotonicNanoseconds()
        readerTable?.recordSynced(txnID, witness: syncWitness)
    }

    /// Makes every commit in the file durable: one fdatasync or, in a write map where lazy
    /// commits dirtied pages, one msync(MS_SYNC) from page 0 to the last of them (which on
    /// Linux syncs that range of the file, the pwritten metas and the file's size included, as
    /// fdatasync does). Recorded in the lock file when `recording` (only the holder of the
    /// writer lock may). A failed sync poisons the handle: the kernel may have dropped pages
    /// of commits readers already see.
    func syncFile(recording: Bool = true) throws(MapStoreError) {
        guard mode != .privateCopyOnWrite else { return }
        let environment = self.environment
        let newest = environment.shared.withLock { $0.meta.txnID }
        do throws(MapStoreError) {
            if mode == .writeMap, let range = lazyCommits?.inPlace, !range.isEmpty {
                let end = max(range.upperBound, PageLayout.firstDataPage)
                try environment.mapping.sync(firstPage: 0, count: Int(end), pageSize: pageSize, io: environment.io, path: environment.path)
                environment.options.shadow?.mapSynced(0, count: Int(end))
            } else {
                try Syscalls.fdatasync(environment.io, environment.file, environment.path)
                environment.options.shadow?.fileSynced()
            }
        } catch {
            environment.poison(error)
            throw error
        }
        environment.observer.synced()
        if recording { noteSynced(newest) }
        lazyCommits = nil
        pageList.removeAll()
        pageListStart = nil
    }

    /// Whether a write transaction of `handle` (``Durability/lazy`` or `.none`) would commit
    /// without waiting for the disk: no sync due (with room to spare in the bytes and the page
    /// list, since the transaction's own size is not known yet), no sync owed to an open whose
    /// lock file cannot vouch for the newest meta, and no group of commits in hand.
    func commitsWithoutWaiting(for handle: WriteHandle) -> Bool {
        guard unsyncedMeta == nil else { return false }
        let options = handle.options
        switch options.durability {
        case .none:
            return true
        case .lazy:
            guard mode == .privateCopyOnWrite || readerTable?.syncedTransaction(witness: syncWitness) != nil else { return false }
            // (A sixteenth of the bytes to spare for this commit's own pages: one that writes
            // more syncs where it runs, which is rare and only costs that one sync's wait.)
            let limits = LazySyncLimits(options)
            return pageList.count < pageList.capacity / 2 && !isLazySyncDue(adding: limits.bytes / 16, limits: limits)
        case .full, .noMetaSync:
            return false
        }
    }

    /// Whether a lazy commit that adds `bytes` to those written since this writer's last sync
    /// must sync, under `limits`.
    func isLazySyncDue(adding bytes: Int, limits: LazySyncLimits) -> Bool {
        (lazyCommits?.bytes ?? 0) + bytes >= limits.bytes || monotonicNanoseconds() - lastSync >= limits.nanoseconds
    }

    // MARK: Growth

    /// Grows the file (in writable shared modes) so that pages `0..<pages` are backed by blocks.
    /// Grows by the current size (at least 1 MiB, at most 64 MiB) per step, so growth is rare.
    ///
    /// posix_fallocate reserves the blocks (a full disk is found here, not at a store through
    /// the map), then zeros are written over them. fallocate alone leaves unwritten extents,
    /// and the first write into each made the next fdatasync commit the file system's journal
    /// too: measured on this machine's ext4 (bench/tools/growth-sync.c, 3,000 commits of 3
    /// fresh pages each, three rounds), an ordinary commit's pwrite and fdatasync took 156-184
    /// µs after fallocate and 97-108 µs after fallocate and O_DIRECT zeros. The zeros go past the page cache
    /// where the file system allows O_DIRECT (``SystemIO/zeroFill(_:from:length:file:)``), so
    /// the pages stay out of the page cache as the shadow model expects of a growth.
    ///
    /// A transaction with durability `.none` skips the zeros: it never syncs, so the journal
    /// commit they save is none of its cost, while the zeros themselves are disk writes it waits
    /// for (fillseq, 200,000 one-put commits: 118-135 K/s with them, 146 K/s without). A later
    /// syncing commit into such pages pays that journal commit once per extent; nothing reads
    /// the pages before a commit writes them, zeros or not.
    func ensureFileCapacity(pages: UInt64) throws(MapStoreError) {
        let needed = Int(pages) * pageSize
        guard needed > fileSize else { return }
        if mode == .privateCopyOnWrite { return }  // past the file's end the private map is anonymous memory
        let environment = self.environment
        let options = environment.options
        let (io, file, path) = (environment.io, environment.file, environment.path)
        // Another process's writer may have grown the file since this one last looked: the
        // zeros below go only past the file's real end, never over a page a commit wrote.
        fileSize = max(fileSize, try Syscalls.fileSize(file, path))
        guard needed > fileSize else { return }
        let step = min(max(fileSize, 1 << 20), 64 << 20)
        var target = max(needed, fileSize + step)
        target = (target + (1 << 20) - 1) / (1 << 20) * (1 << 20)
        target = min(target, options.maxSize)
        guard target >= needed else { throw MapStoreError.mapFull(limit: options.maxSize) }
        do throws(MapStoreError) {
            do throws(MapStoreError) {
                try Syscalls.allocate(io, file, path, from: fileSize, length: target - fileSize)
            } catch .diskFull where target > needed {
                // No room for a whole step: take only what this commit needs (diskFull again if even that fails).
                target = needed
                try Syscalls.allocate(io, file, path, from: fileSize, length: target - fileSize)
            }
        } catch {
            if case .diskFull = error {
                environment.observer.logger?.warning("disk full: the transaction is rolled back", metadata: ["path": "\(path)", "bytes": "\(needed)"])
            }
            throw error
        }
        // Nothing of this transaction is written yet: a failure here rolls it back like a full disk.
        if zeroesGrowth { try Syscalls.zeroFill(io, file, path, from: fileSize, length: target - fileSize) }
        environment.mapping.adviseReadHint(options.accessPattern, from: fileSize, bytes: target - fileSize)
        options.shadow?.fileGrew(toBytes: target)
        options.shadow?.advised(options.accessPattern, from: fileSize, bytes: target - fileSize)
        fileSize = target
    }
}

/// What the write side needs of one ``Database`` handle: its options (durability, checksums,
/// shadow mode are each handle's own) and its last write transaction, kept between two uses
/// (``Writer/end(_:keepingIn:)``). A class, so a transaction's begin reads the options in place
/// rather than copying the struct (and retaining its references). The spare is touched only
/// under the writer lock, which orders every access.
final class WriteHandle: @unchecked Sendable {
    let options: Options
    var spare: WriteTransaction?

    init(options: Options) {
        self.options = options
    }
}

/// When a ``Durability/lazy`` commit syncs: ``Options/lazySyncInterval`` (in nanoseconds)
/// and ``Options/lazySyncBytes``.
struct LazySyncLimits {
    let nanoseconds: Int64
    let bytes: Int

    init(_ options: Options) {
        nanoseconds = options.lazySyncInterval.nanoseconds
        bytes = options.lazySyncBytes
    }
}

/// The ``Durability/lazy`` commits a writer wrote since its last sync (Commit.swift): their
/// metas are in the file, their pages are in the page list, and none is durable yet.
struct LazyCommits {
    /// The newest of them: the next commit continues their page list when it starts from it.
    var newest: UInt64
    /// Bytes they wrote, metas included.
    var bytes: Int
    /// The pages they dirtied in a write map, which the sync that ends them must cover.
    var inPlace: Range<UInt64>?
}
