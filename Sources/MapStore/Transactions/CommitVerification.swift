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
/// The cost is the last commit's size, never the database's.
enum CommitVerification {
    /// The first listed run of `meta` (whose meta page's bytes are `metaPage`) that is not on
    /// disk as written, and why; nil when every one is.
    static func firstProblem(of meta: Meta, metaPage: Page, file: FileDescriptor, path: String,
                             pageSize: Int) throws(MapStoreError) -> (page: UInt64, reason: String)? {
        guard meta.listedRuns > 0 else { return nil }
        let fileSize = try Syscalls.fileSize(file, path)
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        for index in 0..<meta.listedRuns {
            let run = PageList.run(index, in: metaPage)
            guard run.pages >= 1, run.page >= PageLayout.firstDataPage, run.page + UInt64(run.pages) <= meta.pageCount else {
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
        }
        return nil
    }
}
