#if canImport(Glibc)
import Glibc
#endif

extension WriteTransaction {
    /// Makes this transaction's changes durable and visible, in the order that keeps every
    /// earlier commit intact if the process or the machine dies at any point:
    ///
    /// 1. write the table roots and the free list (pages of this commit like any other);
    /// 2. seal every page: its transaction id and checksum;
    /// 3. write the pages (pwrite, or already in place in a writable map);
    /// 4. sync them (fdatasync, or msync for a write map);
    /// 5. write the meta page into slot `txnID % 2`, never the slot of the commit before;
    /// 6. sync it;
    /// 7. publish the new meta to readers of this process.
    ///
    /// A failure in 3...6 poisons the handle: Linux may have dropped the dirty pages, so a
    /// retried fsync could "succeed" over lost data. Reopening recovers the last good commit.
    func commit() throws(MapStoreError) {
        guard hasChanges else { return }
        let started = monotonicNanoseconds()
        try flushTables()
        let freeList = try FreeListChain.save(pages, oldChain: oldChain)
        let meta = nextMeta(freeListRoot: freeList.root)
        pages.seal()
        // Growing the file writes nothing: a full disk here aborts the transaction and leaves
        // the handle usable (delete something and try again), like LMDB's MDB_MAP_FULL.
        try environment.ensureFileCapacity(pages: pages.pageCount)
        do throws(MapStoreError) {
            try writePages()
            if durability != .none { try syncPages() }
            try writeMeta(meta)
            if durability == .full { try syncMeta() }
        } catch {
            environment.poison(error)
            throw error
        }
        publish(meta, chain: freeList.chain)
        environment.observer.committed(
            nanoseconds: monotonicNanoseconds() - started, bytes: (pages.dirtyPageCount + 1) * pages.pageSize,
            pages: meta.pageCount, liveReaders: environment.sharesReaders ? environment.readerTable?.readingCount() : nil)
    }

    private func nextMeta(freeListRoot: UInt64) -> Meta {
        var meta = base
        meta.txnID = pages.txnID
        meta.main = main
        meta.freeListRoot = freeListRoot
        catalog.apply(to: &meta)
        meta.pageCount = pages.pageCount
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        meta.commitTime = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        return meta
    }

    /// Step 3: heap copies go to the file with pwritev, one call per run of consecutive pages.
    private func writePages() throws(MapStoreError) {
        guard !pages.inPlace else { return }
        let runs = pages.sortedRuns()
        var index = 0
        var iovecs: [iovec] = []
        while index < runs.count {
            let start = runs[index].first
            var next = start
            iovecs.removeAll(keepingCapacity: true)
            while index < runs.count, runs[index].first == next {
                let run = runs[index]
                iovecs.append(iovec(iov_base: run.buffer, iov_len: run.count * pages.pageSize))
                next += UInt64(run.count)
                index += 1
            }
            try Syscalls.pwritevAll(environment.file, environment.path, &iovecs, at: Int(start) * pages.pageSize)
            pages.tracer?.pagesStored(start, count: Int(next - start))
        }
    }

    /// Step 4: the data pages reach the disk before any meta can point at them.
    private func syncPages() throws(MapStoreError) {
        switch environment.mode {
        case .readOnly:
            try Syscalls.fdatasync(environment.file, environment.path)
            pages.tracer?.fileSynced()
        case .writeMap:
            let runs = pages.sortedRuns()
            guard let first = runs.first, let last = runs.last else { return }
            let end = Int(last.first) + last.count
            try environment.mapping.sync(firstPage: Int(first.first), count: end - Int(first.first),
                                         pageSize: pages.pageSize, path: environment.path)
            pages.tracer?.mapSynced(first.first, count: end - Int(first.first))
            // The file may have grown: make its new size durable too.
            try Syscalls.fdatasync(environment.file, environment.path)
            pages.tracer?.fileSynced()
        case .privateCopyOnWrite:
            return
        }
    }

    /// Step 5: the meta goes to the slot the previous commit did not use.
    ///
    /// Only its 128-byte record is written: the rest of a meta page is zero from the file's
    /// creation and never changes, and zeroing and writing a whole page was a tenth of the
    /// cost of a small commit.
    private func writeMeta(_ meta: Meta) throws(MapStoreError) {
        let slot = Int(meta.txnID % 2)
        let pageSize = pages.pageSize
        if environment.mode == .privateCopyOnWrite {
            pages.tracer?.pagesWritten(UInt64(slot), count: 1)
            meta.encode(into: Page(environment.mapping.base + slot * pageSize, size: Meta.length))
            return
        }
        try withUnsafeTemporaryAllocation(byteCount: Meta.length, alignment: 8) { (buffer) throws(MapStoreError) in
            meta.encode(into: Page(buffer.baseAddress!, size: Meta.length))
            try Syscalls.pwriteAll(environment.file, environment.path, UnsafeRawBufferPointer(buffer), at: slot * pageSize)
        }
        pages.tracer?.pagesStored(UInt64(slot), count: 1)
    }

    /// Step 6.
    private func syncMeta() throws(MapStoreError) {
        guard environment.mode != .privateCopyOnWrite else { return }
        try Syscalls.fdatasync(environment.file, environment.path)
        pages.tracer?.fileSynced()
    }

    /// Step 7: new readers start from this commit; the free list is kept for the next writer.
    private func publish(_ meta: Meta, chain: [UInt64]) {
        var list = pages.freeList
        if !pages.freedNow.isEmpty { list.pending.append((meta.txnID, pages.freedNow)) }
        environment.freeListCache = (meta.txnID, list, chain)
        environment.publish(meta)
    }
}
