import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What ``Database/backup(to:compact:compression:progress:)`` wrote.
public struct BackupReport: Sendable, Equatable {
    /// The commit the backup holds.
    public var transactionID: UInt64
    /// Database pages in the backup (its size once restored, over the page size).
    public var pages: Int
    /// Bytes of the backup file (smaller than `pages` pages when gzip compressed).
    public var bytes: Int
}

/// What ``Database/restoreBackup(from:to:overwrite:)`` restored.
public struct RestoreReport: Sendable, Equatable {
    /// The commit the restored database holds.
    public var transactionID: UInt64
    /// Pages of the restored data file.
    public var pages: Int
    /// Whether the backup was a gzip stream.
    public var wasGzip: Bool
}

extension Database {
    /// Writes a consistent copy of the newest commit to a new file at `path` (replacing any
    /// file there), from one read transaction: writers go on meanwhile and the copy holds
    /// exactly one commit.
    ///
    /// - A plain backup copies pages `0..<pageCount` (the used part of the file) with a fresh
    ///   meta page, so snapshots and the free list come along; free pages that no snapshot
    ///   reaches are written as zeros, and so is every byte of the other pages that no reader
    ///   uses (free gaps, removed cells, unused tails): deleted values are not carried.
    /// - `compact` copies only the pages the newest commit reaches (main tree, tables,
    ///   overflow runs), renumbered densely from page 2 in breadth-first order, with an empty
    ///   free list, and with the same zeros as a plain backup. Snapshots are dropped: a
    ///   compacted backup holds the newest commit only.
    /// - `.gzip` writes the same bytes as a gzip stream that `gunzip` turns back into the file.
    ///
    /// `progress` is called with (pages done, pages in all). A failure removes the file.
    @discardableResult
    public func backup(to path: String, compact: Bool = false, compression: BackupCompression = .none,
                       progress: ((Int, Int) -> Void)? = nil) throws -> BackupReport {
        let environment = self.environment
        if let target = EnvironmentRegistry.key(forPath: path), target == EnvironmentRegistry.key(forPath: self.path) {
            throw MapStoreError.invalidArgument(reason: "backup target \(path) is the database \(self.path) itself")
        }
        return try read { txn in
            let base = txn.base
            let pageSize = environment.pageSize
            let bytes = Int(base.pageCount) * pageSize
            environment.mapping.advise(.sequential, bytes: bytes)
            txn.pages.tracer?.advised(.sequential, from: 0, bytes: bytes)
            defer {
                environment.mapping.advise(environment.options.accessPattern, bytes: bytes)
                txn.pages.tracer?.advised(environment.options.accessPattern, from: 0, bytes: bytes)
            }
            let plan = compact ? try CompactionPlan(base: base, source: txn.pages) : nil
            var meta = base
            if let plan {
                meta.main = plan.main
                meta.catalog = TreeRoot()
                meta.oldestSnapshot = 0
                meta.freeListRoot = 0
                meta.pageCount = plan.pageCount
            }
            let sink = try BackupSink(path: path, compression: compression)
            let total = Int(meta.pageCount)
            try withUnsafeTemporaryAllocation(byteCount: 2 * pageSize, alignment: pageSize) { (metas) throws(MapStoreError) in
                metas.initializeMemory(as: UInt8.self, repeating: 0)
                let slot = Int(meta.txnID % 2)
                meta.encode(into: Page(metas.baseAddress! + slot * pageSize, size: pageSize))
                if meta.txnID == 0 { meta.encode(into: Page(metas.baseAddress! + pageSize, size: pageSize)) }
                try sink.write(UnsafeRawBufferPointer(metas))
            }
            progress?(2, total)
            if let plan {
                try plan.write(to: sink, source: txn.pages, progress: { progress?($0, total) })
            } else {
                // Pages 2..<pageCount from the map, in 1 MiB pieces, with only the bytes a
                // reader uses (BackupPages): free pages no snapshot reaches are zeros, and so are
                // the free gaps and removed cells of tree pages (deleted data does not live on in
                // backups, and zeros compress to nothing).
                let kept = try BackupPages(base, source: txn.pages)
                let step = max(1, (1 << 20) / pageSize)
                let staging = UnsafeMutableRawPointer.allocate(byteCount: step * pageSize, alignment: pageSize)
                defer { staging.deallocate() }
                var page = 2
                while page < total {
                    let count = min(step, total - page)
                    let start = environment.mapping.base + page * pageSize
                    txn.pages.tracer?.pagesRead(UInt64(page), count: count)
                    try kept.copy(page..<(page + count), from: start, into: staging)
                    try sink.write(UnsafeRawBufferPointer(start: staging, count: count * pageSize))
                    page += count
                    progress?(page, total)
                }
            }
            try sink.finish()
            return BackupReport(transactionID: meta.txnID, pages: total, bytes: sink.bytesWritten)
        }
    }

    /// Restores the backup at `backup` (plain or gzip, told apart by gzip's magic bytes) as the
    /// database `path`. The backup is decoded into a temporary file beside `path`, opened and
    /// checked with ``check()``; only a sound copy is renamed into place, so a damaged backup
    /// creates or changes nothing. An existing `path` is replaced only with `overwrite`.
    /// Restore into a database no process has open.
    @discardableResult
    public static func restoreBackup(from backup: String, to path: String, overwrite: Bool = false,
                                     progress: ((Int, Int) -> Void)? = nil) throws -> RestoreReport {
        if !overwrite, access(path, F_OK) == 0 {
            throw MapStoreError.invalidArgument(reason: "\(path) exists; restore replaces it only when told to (--force)")
        }
        let source = try BackupSource(path: backup)
        let pageSize = Syscalls.pageSize
        let temporary = path + ".restore-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MapStoreError.io(errno: errno, operation: "open", path: temporary) }
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
            // The check opened the copy under its temporary name: its lock file goes either way.
            unlink(temporary + "-lock")
        }
        let written: Int
        do {
            defer { close(fd) }
            let file = FileDescriptor(rawValue: fd)
            let chunk = 1 << 20
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: pageSize)
            defer { buffer.deallocate() }
            var offset = 0
            let expected = source.isGzip ? 0 : source.fileSize
            while true {
                let count = try source.read(into: buffer, pageSize: pageSize)
                if count == 0 { break }
                try Syscalls.pwriteAll(file, temporary, UnsafeRawBufferPointer(rebasing: buffer[..<count]), at: offset)
                offset += count
                progress?(offset / pageSize, expected / pageSize)
            }
            guard offset >= 2 * pageSize, offset % pageSize == 0 else {
                throw MapStoreError.corrupted(page: UInt64(offset / pageSize), reason: "backup \(backup) holds \(offset) bytes, not a whole number of \(pageSize)-byte pages (at least 2)")
            }
            try Syscalls.fsync(file, temporary)
            written = offset
        }
        var options = Options()
        options.readOnly = true
        options.create = false
        options.verifyChecksums = true
        let transactionID: UInt64
        do {
            let restored = try Database(path: temporary, options: options)
            if let problem = try restored.check().first {
                throw MapStoreError.corrupted(page: problem.page, reason: "backup \(backup) fails check: \(problem.message)")
            }
            transactionID = try restored.read { $0.transactionID }
        }
        guard rename(temporary, path) == 0 else { throw MapStoreError.io(errno: errno, operation: "rename to \(path)", path: temporary) }
        renamed = true
        return RestoreReport(transactionID: transactionID, pages: written / pageSize, wasGzip: source.isGzip)
    }
}

