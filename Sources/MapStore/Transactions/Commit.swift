#if canImport(Glibc)
import Glibc
#endif

extension WriteTransaction {
    /// Makes this transaction's changes durable and visible, in the order that keeps every
    /// earlier commit intact if the process or the machine dies at any point:
    ///
    /// 1. write the table roots and the free list (pages of this commit like any other);
    /// 2. seal every page: its transaction id and checksum (with ``Options/secureDelete``,
    ///    zeros first wherever it holds no data), and pick the released pages to erase;
    /// 3. write the pages (pwrite, or already in place in a writable map), and zeros over the
    ///    pages to erase;
    /// 4. sync them (fdatasync, or msync for a write map);
    /// 5. write the meta page into slot `txnID % 2`, never the slot of the commit before;
    /// 6. sync it;
    /// 7. publish the new meta to readers of this process.
    ///
    /// Steps 1-3 are ``writeCommit(into:)``, 4-7 ``Writer/makeDurable(_:durability:)``:
    /// group commit (``Options/groupCommit``) runs the first part for several transactions
    /// and the second once for all of them.
    ///
    /// A failure in 3...6 poisons the handle: Linux may have dropped the dirty pages, so a
    /// retried fsync could "succeed" over lost data. Reopening recovers the last good commit.
    func commit() throws(MapStoreError) {
        var written = WrittenCommits()
        guard try writeCommit(into: &written) else { return }
        try writer.makeDurable(written, durability: durability)
    }

    /// Steps 1-3: builds the commit's meta and writes its pages to the file, without syncing
    /// or writing the meta. Returns false when the transaction changed nothing.
    ///
    /// The next transaction starts from this commit (``Writer/unsyncedMeta``) even
    /// before it is durable; it reuses no page the last durable commit reaches (Writer.swift).
    func writeCommit(into written: inout WrittenCommits) throws(MapStoreError) -> Bool {
        guard hasChanges else { return false }
        let started = environment.observer.isRecording ? monotonicNanoseconds() : 0
        try flushTables()
        // Snapshots need the whole list in hand at every commit (SnapshotPins): nothing is frozen while there are any.
        // The old chain's array becomes the new chain's (no allocation per commit).
        var chain: [UInt64] = []
        swap(&chain, &oldChain)
        // The page list of a group: what this commit frees (its tree's pages and the old
        // free-list chain, which the commit before wrote) is no part of the group's last commit.
        // A commit that starts from the newest lazy commit (Durability.lazy) continues the page
        // list of the lazy commits before it, since none of them is durable yet.
        if written.count == 0, writer.lazyCommits?.newest != base.txnID {
            writer.lazyCommits = nil
            writer.pageList.removeAll()
            writer.pageListStart = base.txnID
        } else {
            writer.pageList.remove(freed: pages.freedNow, chain, by: pages.txnID)
        }
        // A durable commit lists what it wrote, so one sync can cover its pages and its meta.
        let lists = (durability == .full || durability == .lazy) && writer.mode != .privateCopyOnWrite && pages.pageChecksum == .crc32c
        // (A reservation left by a transaction that failed after it is no commit's: forget it.)
        writer.recordReservation = nil
        if lists { try reserveRecord() }
        // A version-1 file (XXH64 pages) stays version 1: no words inline in its meta.
        let inline = base.pageChecksum != .xxh64 && environment.options.inlineFreeList
        let inlineCapacity = inline ? Meta.inlineCapacity(pageSize: pages.pageSize) : 0
        let freeListRoot = try FreeListChain.save(pages, chain: &chain, freezing: catalog.tree.isEmpty, inlineCapacity: inlineCapacity,
                                                  words: &writer.nextFreeListWords)
        let meta = nextMeta(freeListRoot: freeListRoot, freeListWords: writer.nextFreeListWords.count)
        pages.seal()
        // Growing the file writes nothing: a full disk here aborts the transaction and leaves
        // the handle usable (delete something and try again), like LMDB's MDB_MAP_FULL.
        try writer.ensureFileCapacity(pages: pages.pageCount)
        var inPlace = pages.inPlace ? pages.pageRange() : nil
        do throws(MapStoreError) {
            try writePages()
        } catch {
            environment.poison(error)
            throw error
        }
        if pages.secureDelete, !pages.erasing.isEmpty, let range = pages.eraseInPlace(), let owned = inPlace {
            inPlace = owned.isEmpty ? range : min(owned.lowerBound, range.lowerBound)..<max(owned.upperBound, range.upperBound)
        }
        if lists { pages.list(into: &writer.pageList) }
        // Moved, not copied: the view holds nothing more of the list (a copy cost a retain of
        // each of its arrays here and a release at the view's park).
        writer.freeListCache = (meta.txnID, pages.takeFreeList(), chain)
        writer.unsyncedMeta = meta
        written.add(meta, started: started, bytes: (pages.dirtyPageCount + (pages.secureDelete ? pages.erasing.count : 0) + 1) * pages.pageSize,
                    inPlace: inPlace, tracer: pages.tracer)
        swap(&writer.freeListWords, &writer.nextFreeListWords)
        return true
    }

    /// When the page list may outgrow the meta page (the runs listed so far, this transaction's,
    /// and room for the free-list pages its save may write), sets pages aside for a commit
    /// record run (``Writer/recordReservation``), before the free list is saved: they go on
    /// this commit's own free list under the id two transactions later. The commit that could
    /// fall back to this one is the next, and the record is needed only until it is on disk;
    /// a page freed under id `t + 2` is reused only once commit `t + 2` is (two, since a group
    /// or a lazy commit may end with an empty commit under the next id). A free list too short
    /// for the run takes it past the last page. Nothing set aside when the file cannot hold it:
    /// the commit then syncs its pages before its meta.
    private func reserveRecord() throws(MapStoreError) {
        let capacity = writer.pageList.capacity
        let margin = 16 + pages.freeList.count / FreeList.frozenPageWords
        let runs = writer.pageList.count + pages.dirty.count + margin
        guard runs > capacity else { return }
        let count = CommitRecord.pages(forRuns: runs, pageSize: pages.pageSize)
        guard let first = pages.reserveRun(count) else { return }
        pages.freeList.insertPending((pages.txnID + 2, Array(first..<(first + UInt64(count)))))
        writer.recordReservation = (pages.txnID, first, count)
    }

    private func nextMeta(freeListRoot: UInt64, freeListWords: Int) -> Meta {
        var meta = base
        meta.txnID = pages.txnID
        meta.listedRuns = 0  // the base's list and record are the base's (makeDurable sets this one's)
        meta.recordStart = 0
        meta.recordPages = 0
        meta.recordChecksum = 0
        meta.main = main
        meta.freeListRoot = freeListRoot
        meta.freeListWordCount = freeListWords
        catalog.apply(to: &meta)
        meta.pageCount = pages.pageCount
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        meta.commitTime = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        return meta
    }

    /// Step 3: heap copies go to the file with pwritev, one call per run of consecutive pages,
    /// and so do zeros over the pages to erase (``TransactionPages/erasing``: free pages, none
    /// of them owned), in the same runs.
    private func writePages() throws(MapStoreError) {
        guard !pages.inPlace else { return }
        let pages = self.pages
        let erasing = pages.secureDelete ? pages.erasing.count : 0
        let count = pages.dirty.count + erasing
        let pageSize = pages.pageSize
        let hasRuns = !pages.runLengths.isEmpty
        // The environment's I/O, file and path are read where the write needs them: copies
        // here (an existential and a string) cost 90 instructions a commit.
        let environment = self.environment
        let tracer = pages.tracer
        // (Page, buffer) pairs sorted by page, and one iovec per owned run, in scratch
        // memory: a small commit (the usual) builds no array, and no page is looked up twice.
        // The pairs' buffer is twice as long as they need: its second half is the sort's scratch.
        try withUnsafeTemporaryAllocation(of: (page: UInt64, buffer: UnsafeMutableRawPointer).self, capacity: 2 * count) { (buffer) throws(MapStoreError) in
            let owned = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            var filled = 0
            pages.dirty.forEach { page, pageBuffer in
                owned[filled] = (page, pageBuffer)
                filled += 1
            }
            if erasing > 0 { filled = pages.listErasedPages(into: owned, at: filled) }
            PageOrder.sort(UnsafeMutableBufferPointer(rebasing: owned[0..<filled]), scratch: UnsafeMutableBufferPointer(rebasing: buffer[count...]), key: { $0.page })
            try withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { (iovecs) throws(MapStoreError) in
                var index = 0
                while index < count {
                    let start = owned[index].page
                    var next = start
                    var runs = 0
                    while index < count, owned[index].page == next {
                        let length = hasRuns ? pages.runLength(next) : 1
                        iovecs[runs] = iovec(iov_base: owned[index].buffer, iov_len: length * pageSize)
                        runs += 1
                        next += UInt64(length)
                        index += 1
                    }
                    try Syscalls.pwritevAll(environment.io, environment.file, environment.path, UnsafeMutableBufferPointer(rebasing: iovecs[0..<runs]),
                                            at: Int(start) * pageSize)
                    tracer?.pagesStored(start, count: Int(next - start))
                }
            }
        }
    }
}

extension Range<UInt64> {
    /// The smallest range that holds both (nil when both are).
    static func covering(_ a: Range<UInt64>?, _ b: Range<UInt64>?) -> Range<UInt64>? {
        guard let a else { return b }
        guard let b else { return a }
        return Swift.min(a.lowerBound, b.lowerBound)..<Swift.max(a.upperBound, b.upperBound)
    }
}

/// Commits whose pages are written (steps 1-3) and that wait for the syncs and the meta
/// that make them durable (steps 4-7): one for a plain commit, several under group commit.
struct WrittenCommits {
    /// The newest commit's meta: the one step 5 writes.
    private(set) var meta: Meta?
    /// Pages written in place in a write map since the last sync: step 4 msyncs them.
    private(set) var inPlace: Range<UInt64>?
    /// When each commit started (the first here, the others in `laterStarts`, which stays
    /// empty and unallocated for a plain commit).
    private(set) var firstStarted: Int64 = 0
    private(set) var laterStarts: [Int64] = []
    /// Bytes written, meta pages included.
    private(set) var bytes = 0
    /// Shadow mode's tracer of the newest commit's handle.
    private(set) var tracer: (any AccessTracer)?

    /// The commits added (stored: asking whether the optional meta is there copied it whole,
    /// 85 instructions per commit).
    private(set) var count = 0

    mutating func add(_ meta: Meta, started: Int64, bytes: Int, inPlace pages: Range<UInt64>?, tracer: (any AccessTracer)?) {
        if count == 0 { firstStarted = started } else { laterStarts.append(started) }
        count += 1
        self.meta = meta
        self.bytes += bytes
        self.tracer = tracer
        inPlace = Range.covering(inPlace, pages)
    }
}

extension Writer {
    /// Steps 4-7 for the commits in `written`, which end with the newest commit's meta and
    /// its publication to readers.
    ///
    /// A `.full` commit (in either shared mapping mode) whose pages fit the meta's page list
    /// (``PageList``) and whose previous commit is known to be on disk takes one sync: its meta, listing every page written since
    /// that commit with its checksum, goes to its slot, then one fdatasync covers pages and
    /// meta. A power cut before the sync returns leaves pages that an open checks against the
    /// list (``CommitVerification``), falling back to the previous commit when any is missing,
    /// torn or stale; that commit's pages are intact, since no page it reaches was reused.
    /// After the sync a copy of the meta, marked as a confirmation, goes to the other slot: it
    /// tells an open that the commit is on disk (a page of it damaged later is then reported,
    /// never mistaken for a torn write and rolled back), and the next commit overwrites it.
    ///
    /// Otherwise: one sync of the pages, the meta, and (for `.full`) a sync of the meta.
    ///
    /// A failed meta write or sync erases the meta's slot (``Environment/eraseMeta(slot:)``)
    /// before the error poisons the handle: its caller is told the commit failed, so no open
    /// may find it whole in the page cache and adopt it. Readers never saw it: they adopt only
    /// published commits.
    func makeDurable(_ written: WrittenCommits, durability: Durability) throws(MapStoreError) {
        guard var meta = written.meta else { return }
        let environment = self.environment
        let commit = meta.txnID  // (before a move to the next id below)
        defer { recordReservation = nil }
        unsyncedMeta = nil
        let (published, isPoisoned) = environment.shared.withLock { ($0.meta.txnID, $0.poisoned != nil) }
        if isPoisoned { throw MapStoreError.poisoned(reason: environment.poisonReason) }
        // A listed meta (one sync, or a lazy commit's none) is checked at open against the pages
        // written since the list's start, and a crash that did not keep them all falls back to
        // that commit: its meta must be on disk, and this one must not overwrite it.
        let listStart = pageListStart ?? published
        let listed = mode != .privateCopyOnWrite && pageList.isUsable && isKnownDurable(listStart)
        // A list too long for the meta page goes into a record run, which a lazy commit does
        // not defer: its run set aside holds this list only, and the next lazy commit's list
        // would go on from it.
        let defers = durability == .lazy && listed && !pageList.needsRecord && !isLazySyncDue(adding: written.bytes, limits: lazyLimits)
        var oneSync = !defers && (durability == .full || durability == .lazy) && listed
        // Otherwise the pages are synced first (which makes every meta before them durable)
        // or never: the meta only has to keep out of the slot of the commit before, unless
        // that is a lazy commit: then both slots hold commits whose pages no commit since
        // reused, and either may be overwritten.
        let keepOut: UInt64? = defers || oneSync ? listStart : lazyCommits == nil ? published : nil
        if let keepOut, meta.txnID % 2 == keepOut % 2 {
            // An even number of grouped commits (or a lazy commit after a lazy one) would put
            // the meta in the slot of the commit a crash falls back to, whose meta must survive
            // a torn write of this one. End with an empty commit instead: the same pages and
            // free list, the next id.
            meta.txnID += 1
            freeListCache?.txn = meta.txnID
        }
        do throws(MapStoreError) {
            if defers {
                meta.listedRuns = pageList.count
                try writeListedMeta(meta, written, sync: false)
            } else if oneSync, pageList.needsRecord ? try writeRecord(of: &meta, commit: commit, tracer: written.tracer) : true {
                meta.listedRuns = meta.recordPages > 0 ? 1 : pageList.count
                try writeListedMeta(meta, written, sync: true)
            } else {
                // (A list no reservation holds: the pages are synced first instead.)
                oneSync = false
                if durability != .none {
                    try environment.syncPages(written, alsoInPlace: lazyCommits?.inPlace)
                    noteSynced(published)  // the sync covered every meta written before it
                }
                do throws(MapStoreError) {
                    try environment.writeMeta(meta, words: freeListWords.words, tracer: written.tracer)
                    if durability == .full || durability == .lazy { try environment.syncMeta(tracer: written.tracer) }
                } catch {
                    // As after a failed one-sync commit: no later open may adopt this meta.
                    try? environment.eraseMeta(slot: Int(meta.txnID % 2))
                    throw error
                }
                if durability == .full || durability == .lazy { noteSynced(meta.txnID) }
            }
        } catch {
            pageList.removeAll()
            lazyCommits = nil
            environment.poison(error)
            throw error
        }
        if defers {
            // The list runs on: the next commit adds to it (writeCommit(into:)).
            lazyCommits = LazyCommits(newest: meta.txnID, bytes: (lazyCommits?.bytes ?? 0) + written.bytes,
                                      inPlace: Range.covering(lazyCommits?.inPlace, written.inPlace))
        } else {
            pageList.removeAll()
            lazyCommits = nil
        }
        environment.publish(meta)
        if oneSync { writeConfirmation(of: meta, words: freeListWords.words, tracer: written.tracer) }
        let observer = environment.observer
        guard observer.isRecording else { return }
        let now = monotonicNanoseconds()
        observer.committed(
            nanoseconds: now - written.firstStarted, bytes: written.bytes, pages: meta.pageCount,
            liveReaders: environment.sharesReaders ? environment.readerTable?.readingCount() : nil)
        for started in written.laterStarts { observer.committed(nanoseconds: now - started, bytes: 0, pages: meta.pageCount, liveReaders: nil) }
    }

    /// The one-sync commit: the meta with its page list into slot `txnID % 2`, then one sync:
    /// fdatasync, or in a write map one msync(MS_SYNC) from the meta pages to the end of the
    /// pages the commits dirtied in the map (on Linux it syncs that range of the file, the
    /// pwritten meta and the file's size included, as fdatasync does). On failure the slot is
    /// erased before the error is thrown: the meta may sit in the page cache with all its
    /// pages, and a later open must not adopt a commit whose caller was told it failed.
    ///
    /// Without `sync` (a lazy commit), only the meta is written.
    private func writeListedMeta(_ meta: Meta, _ written: WrittenCommits, sync: Bool) throws(MapStoreError) {
        let environment = self.environment
        let tracer = written.tracer
        let slot = Int(meta.txnID % 2)
        do throws(MapStoreError) {
            let list = meta.recordPages > 0 ? nil : pageList
            try environment.writeMetaRecord(slot: slot, bytes: meta.encodedLength(listing: pageList.count), tracer: tracer) {
                meta.encode(into: $0, listing: list, words: freeListWords.words)
            }
            guard sync else { return }
            if mode == .writeMap {
                // (Past a record run too: it is written with pwrite, not through the map.)
                let end = Int(max(written.inPlace?.upperBound ?? 0, lazyCommits?.inPlace?.upperBound ?? 0, PageLayout.firstDataPage,
                                  meta.recordPages > 0 ? meta.recordStart + UInt64(meta.recordPages) : 0))
                try environment.mapping.sync(firstPage: 0, count: end, pageSize: pageSize, io: environment.io, path: environment.path)
                tracer?.mapSynced(0, count: end)
            } else {
                try Syscalls.fdatasync(environment.io, environment.file, environment.path)
                tracer?.fileSynced()
            }
        } catch {
            try? environment.eraseMeta(slot: slot)
            throw error
        }
        environment.observer.synced()
        noteSynced(meta.txnID)
    }

    /// The page list of `meta`'s commit, too long for its meta page, as a commit record run
    /// (``CommitRecord``) in the pages that commit set aside (``Writer/recordReservation``),
    /// written with pwrite; `meta` then names the run and lists its checksum. False, with
    /// `meta` as it was, when there is no reservation of this commit that holds the list (the
    /// map's limit left no room, or the list outgrew the estimate): the commit then syncs its
    /// pages before its meta, the way that needs no list. Write errors are thrown.
    private func writeRecord(of meta: inout Meta, commit: UInt64, tracer: (any AccessTracer)?) throws(MapStoreError) -> Bool {
        guard let reservation = recordReservation, reservation.txn == commit,
              CommitRecord.pages(forRuns: pageList.count, pageSize: pageSize) <= reservation.pages else { return false }
        let environment = self.environment
        let bytes = reservation.pages * pageSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: pageSize)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        let checksum = CommitRecord.write(pageList, txnID: meta.txnID, first: reservation.first, into: Page(buffer.baseAddress!, size: bytes),
                                          pages: reservation.pages)
        try Syscalls.pwriteAll(environment.io, environment.file, environment.path, UnsafeRawBufferPointer(buffer), at: Int(reservation.first) * pageSize)
        tracer?.pagesStored(reservation.first, count: reservation.pages)
        meta.recordStart = reservation.first
        meta.recordPages = reservation.pages
        meta.recordChecksum = UInt32(truncatingIfNeeded: checksum)
        return true
    }

    /// After a one-sync commit: its meta's record, marked as a confirmation, into the other
    /// slot (the one the next commit writes). No sync: on disk or not, it only ever tells the
    /// truth. The commit is durable whatever happens here; a failed write poisons the handle.
    private func writeConfirmation(of meta: Meta, words: UnsafeBufferPointer<UInt64>, tracer: (any AccessTracer)?) {
        let slot = 1 - Int(meta.txnID % 2)
        let environment = self.environment
        do throws(MapStoreError) {
            try environment.writeMetaRecord(slot: slot, bytes: meta.encodedLength(listing: 0), tracer: tracer) { meta.encode(into: $0, words: words, confirmation: true) }
        } catch {
            environment.poison(error)
        }
    }
}

/// The file I/O of steps 4-6, on the environment's file and map.
extension Environment {
    /// Step 4: the data pages reach the disk before any meta can point at them.
    /// In a write map it msyncs the pages of `written` and `alsoInPlace` (those of lazy commits
    /// before it), then fdatasyncs.
    fileprivate func syncPages(_ written: WrittenCommits, alsoInPlace: Range<UInt64>?) throws(MapStoreError) {
        switch mode {
        case .readOnly:
            try Syscalls.fdatasync(io, file, path)
            observer.synced()
            written.tracer?.fileSynced()
        case .writeMap:
            if let range = Range.covering(written.inPlace, alsoInPlace), !range.isEmpty {
                try mapping.sync(firstPage: Int(range.lowerBound), count: range.count, pageSize: pageSize, io: io, path: path)
                observer.synced()
                written.tracer?.mapSynced(range.lowerBound, count: range.count)
            }
            // The file may have grown: make its new size durable too.
            try Syscalls.fdatasync(io, file, path)
            observer.synced()
            written.tracer?.fileSynced()
        case .privateCopyOnWrite:
            return
        }
    }

    /// Step 5: the meta goes to slot `txnID % 2`, the one the last durable commit did not use.
    ///
    /// Only its 128-byte record and its inline free-list words are written: the rest of a meta
    /// page is never read, and zeroing and writing a whole page was a tenth of the cost of a
    /// small commit.
    fileprivate func writeMeta(_ meta: Meta, words: UnsafeBufferPointer<UInt64>, tracer: (any AccessTracer)?) throws(MapStoreError) {
        let slot = Int(meta.txnID % 2)
        if mode == .privateCopyOnWrite {
            tracer?.pagesWritten(UInt64(slot), count: 1)
            meta.encode(into: Page(mapping.base + slot * pageSize, size: meta.encodedLength(listing: 0)), words: words)
            return
        }
        try writeMetaRecord(slot: slot, bytes: meta.encodedLength(listing: 0), tracer: tracer) { meta.encode(into: $0, words: words) }
    }

    /// Step 6.
    fileprivate func syncMeta(tracer: (any AccessTracer)?) throws(MapStoreError) {
        guard mode != .privateCopyOnWrite else { return }
        try Syscalls.fdatasync(io, file, path)
        observer.synced()
        tracer?.fileSynced()
    }
}
