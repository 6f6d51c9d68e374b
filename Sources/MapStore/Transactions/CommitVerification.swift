import SystemPackage

/// Whether the pages a commit's meta lists (``PageList``) are on disk as that commit wrote
/// them: the check that lets one sync cover a commit's pages and its meta together.
///
/// A commit made durable by one sync writes its pages and its meta, then syncs once. A power
/// cut before the sync returns may keep the meta and lose, tear or keep only an older version
/// of any of its pages, in any combination. So before a listed meta is believed (at open, or
/// by a writer that finds a meta nobody published), each listed run is read with pread (never
/// through the map: a page past a growth that never reached the disk would raise SIGBUS) and
/// must be:
/// - present: inside the file, not all zeros;
/// - whole: its stored checksum matches its bytes (a torn write mixes sectors of two versions);
/// - this commit's: its stored checksum is the one listed (a valid older page at that number
///   is stale).
///
/// A commit too big for its meta page lists one run there, its commit record
/// (``CommitRecord``): that run is checked first, the same way and also for being this
/// commit's record, then every run it lists.
///
/// The cost is the last commit's size, never the database's.
enum CommitVerification {
    /// The first listed run of `meta` (whose meta page's bytes are `metaPage`) that is not on
    /// disk as written, and why; nil when every one is.
    static func firstProblem(of meta: Meta, metaPage: Page, file: FileDescriptor, path: String,
                             pageSize: Int) throws(MapStoreError) -> (page: UInt64, reason: String)? {
        guard meta.listedRuns > 0 else { return nil }
        var reader = RunReader(file: file, path: path, pageSize: pageSize, fileSize: try Syscalls.fileSize(file, path))
        defer { reader.deallocate() }
        guard meta.recordPages > 0 else {
            for index in 0..<meta.listedRuns {
                if let problem = try reader.problem(PageList.run(index, in: metaPage), of: meta) { return problem }
            }
            return nil
        }
        // The record's own run, then what it lists (from a copy: the reader's buffer is reused).
        let listed = ListedRun(page: meta.recordStart, pages: meta.recordPages, checksum: meta.recordChecksum)
        if let problem = try reader.problem(listed, of: meta) { return problem }
        let record = reader.lastRun
        if let reason = CommitRecord.problem(in: record, first: listed.page, pages: listed.pages, txnID: meta.txnID) {
            return (listed.page, "commit \(meta.txnID)'s record: \(reason)")
        }
        let runs = (0..<CommitRecord.count(in: record)).map { CommitRecord.entry($0, in: record) }
        for run in runs {
            if let problem = try reader.problem(run, of: meta) { return problem }
        }
        return nil
    }

    /// Reads listed runs with pread into one buffer, grown as runs need.
    private struct RunReader {
        let file: FileDescriptor
        let path: String
        let pageSize: Int
        let fileSize: Int
        var buffer: UnsafeMutableRawBufferPointer
        /// The run the last ``problem(_:of:)`` read.
        private(set) var lastRun: Page

        init(file: FileDescriptor, path: String, pageSize: Int, fileSize: Int) {
            (self.file, self.path, self.pageSize, self.fileSize) = (file, path, pageSize, fileSize)
            buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
            lastRun = Page(buffer.baseAddress!, size: pageSize)
        }

        func deallocate() { buffer.deallocate() }

        /// Why `run`, listed by `meta`, is not on disk as that commit wrote it, or nil.
        mutating func problem(_ run: ListedRun, of meta: Meta) throws(MapStoreError) -> (page: UInt64, reason: String)? {
            // (Compared without adding: a damaged entry's page number may be near 2^64.)
            guard run.pages >= 1, run.page >= PageLayout.firstDataPage, run.page <= meta.pageCount,
                  UInt64(run.pages) <= meta.pageCount - run.page else {
                return (run.page, "listed by commit \(meta.txnID) as \(run.pages) page(s) outside pages 2..<\(meta.pageCount)")
            }
            let bytes = run.pages * pageSize
            guard Int(run.page) * pageSize + bytes <= fileSize else {
                return (run.page, "missing: listed by commit \(meta.txnID), past the end of the file (\(fileSize) bytes)")
            }
            if buffer.count < bytes {
                buffer.deallocate()
                buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: pageSize)
            }
            let view = UnsafeMutableRawBufferPointer(rebasing: buffer[..<bytes])
            _ = try Syscalls.pread(file, path, into: view, at: Int(run.page) * pageSize)
            let page = Page(view.baseAddress!, size: bytes)
            lastRun = page
            if page.isZero(from: 0, count: min(bytes, PageLayout.headerSize)) {
                return (run.page, "missing: listed by commit \(meta.txnID), but its header is zeros")
            }
            let stored = page.storedChecksum
            guard page.computeChecksum(meta.pageChecksum) == stored else {
                return (run.page, "torn: listed by commit \(meta.txnID), its bytes do not match their checksum")
            }
            guard UInt32(truncatingIfNeeded: stored) == run.checksum, page.pageNumber == run.page else {
                return (run.page, "stale: commit \(meta.txnID) wrote checksum \(hex(UInt64(run.checksum))), the page holds txn \(page.txnID)'s (\(hex(stored & 0xFFFF_FFFF)))")
            }
            return nil
        }
    }
}
