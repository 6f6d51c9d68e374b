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
    /// Writes a consistent copy of the newest commit to `path`, from one read transaction:
    /// writers go on meanwhile and the copy holds exactly one commit.
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
    /// The commit is verified first, as ``check()`` does; a damaged one is refused
    /// (``MapStoreError/corrupted(page:reason:)`` naming the page) before anything is written.
    /// `path` is replaced only once the copy is complete and synced (``OutputFile``): on any
    /// failure it is exactly as it was. The copy gets the database file's permission bits, or
    /// narrower. `progress` is called with (pages done, pages in all).
    @discardableResult
    public func backup(to path: String, compact: Bool = false, compression: BackupCompression = .none,
                       progress: ((Int, Int) -> Void)? = nil) throws -> BackupReport {
        for own in [self.path, self.path + "-lock"] {
            if let target = EnvironmentRegistry.key(forPath: path), target == EnvironmentRegistry.key(forPath: own) {
                throw MapStoreError.invalidArgument(reason: "backup target \(path) is \(own) itself")
            }
        }
        let output = try OutputFile(path: path, permissions: try fileMode(), io: environment.io)
        return try backup(to: output, compact: compact, compression: compression, progress: progress)
    }

    /// Writes a consistent copy of the newest commit to `output` and commits it (see
    /// ``backup(to:compact:compression:progress:)-(String,_,_,_)``): a file, a device, or
    /// standard output (``OutputFile/standardOutput()``), where a refused or failed backup
    /// leaves what was written so far (a gzip stream without its trailer, which no reader
    /// takes for whole).
    @discardableResult
    public func backup(to output: OutputFile, compact: Bool = false, compression: BackupCompression = .none,
                       progress: ((Int, Int) -> Void)? = nil) throws -> BackupReport {
        try readWithFreeList { txn in try backup(of: txn, to: output, compact: compact, compression: compression, progress: progress) }
    }

    /// The backup of ``backup(to:compact:compression:progress:)-(OutputFile,_,_,_)`` taken of
    /// the commit `txn` reads (a read transaction of this database), so a caller can copy the
    /// same commit it also reads otherwise (replication ships a base copy and a commit object
    /// of one snapshot).
    @discardableResult
    package func backup(of txn: ReadTransaction, to output: OutputFile, compact: Bool = false, compression: BackupCompression = .none,
                        progress: ((Int, Int) -> Void)? = nil) throws -> BackupReport {
        let environment = self.environment
        try txn.checkActive()
        guard txn.environment === environment else {
            throw MapStoreError.invalidArgument(reason: "a backup of \(path) was given a read transaction of \(txn.environment.path)")
        }
        do {
            let base = txn.base
            let inline = try txn.freeListWords()
            let pageSize = environment.pageSize
            let bytes = Int(base.pageCount) * pageSize
            environment.mapping.advise(.sequential, bytes: bytes)
            txn.pages.tracer?.advised(.sequential, from: 0, bytes: bytes)
            defer {
                environment.mapping.advise(environment.options.accessPattern, bytes: bytes)
                txn.pages.tracer?.advised(environment.options.accessPattern, from: 0, bytes: bytes)
            }
            // A backup is what a user restores after losing the database: it must never be a
            // copy of damage. The same checks as check(), on the commit being copied.
            if let problem = Database.problems(in: txn).first {
                throw MapStoreError.corrupted(page: problem.page, reason: "\(self.path) fails check, so no backup was written: \(problem.message)")
            }
            let plan = compact ? try CompactionPlan(base: base, source: txn.pages) : nil
            // The copy holds no record run: only an open of this file checks it.
            var meta = base.withoutRecord
            if let plan {
                meta.main = plan.main
                meta.catalog = TreeRoot()
                meta.oldestSnapshot = 0
                meta.freeListRoot = 0
                meta.freeListWordCount = 0
                meta.pageCount = plan.pageCount
            }
            let sink = try BackupSink(output: output, compression: compression)
            let total = Int(meta.pageCount)
            try withUnsafeTemporaryAllocation(byteCount: 2 * pageSize, alignment: pageSize) { (metas) throws(MapStoreError) in
                metas.initializeMemory(as: UInt8.self, repeating: 0)
                let slot = Int(meta.txnID % 2)
                let words = plan == nil ? inline : []
                meta.encode(into: Page(metas.baseAddress! + slot * pageSize, size: pageSize), words: words)
                if meta.txnID == 0 { meta.encode(into: Page(metas.baseAddress! + pageSize, size: pageSize), words: words) }
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
    /// checked with ``check()``; only a sound copy is renamed into place (and the directory
    /// synced), so a damaged backup creates or changes nothing. An existing `path` is replaced
    /// only with `overwrite`, and never while a process has it open
    /// (``MapStoreError/locked(reason:)``, "in use"). The restored file gets the backup's
    /// permission bits, or narrower. `progress` is called with (bytes of the backup read so
    /// far, the backup's size in bytes): compressed bytes for a gzip backup, so the two
    /// always measure the same thing; the size is 0 when it is unknown (a pipe).
    @discardableResult
    public static func restoreBackup(from backup: String, to path: String, overwrite: Bool = false,
                                     progress: ((Int, Int) -> Void)? = nil) throws -> RestoreReport {
        try restoreBackup(from: backup, to: path, overwrite: overwrite, io: SystemIO(), progress: progress)
    }

    /// ``restoreBackup(from:to:overwrite:progress:)`` writing, syncing and renaming through
    /// `io` (the tests' faults), as a handle does through ``Options/storageIO``.
    @discardableResult
    static func restoreBackup(from backup: String, to path: String, overwrite: Bool = false, io: any StorageIO,
                              progress: ((Int, Int) -> Void)? = nil) throws -> RestoreReport {
        if !overwrite, access(path, F_OK) == 0 {
            throw MapStoreError.invalidArgument(reason: "\(path) exists; restore replaces it only when told to (--force)")
        }
        return try restore(from: try BackupSource(path: backup), to: path, overwrite: overwrite, io: io, progress: progress)
    }

    /// Restores a backup read from `descriptor` (standard input, say: plain or gzip), named
    /// `name` in messages, as the database `path`, like ``restoreBackup(from:to:overwrite:progress:)``.
    /// The descriptor stays open.
    @discardableResult
    public static func restoreBackup(fromDescriptor descriptor: Int32, name: String, to path: String, overwrite: Bool = false,
                                     progress: ((Int, Int) -> Void)? = nil) throws -> RestoreReport {
        if !overwrite, access(path, F_OK) == 0 {
            throw MapStoreError.invalidArgument(reason: "\(path) exists; restore replaces it only when told to (--force)")
        }
        return try restore(from: try BackupSource(descriptor: descriptor, name: name, owns: false), to: path, overwrite: overwrite,
                           io: SystemIO(), progress: progress)
    }

    private static func restore(from source: BackupSource, to path: String, overwrite: Bool, io: any StorageIO,
                                progress: ((Int, Int) -> Void)?) throws -> RestoreReport {
        let pageSize = Syscalls.pageSize
        let output = try OutputFile(path: path, permissions: source.permissions, io: io)
        guard case let .replacing(target) = output.destination, let temporary = output.temporaryPath else {
            throw MapStoreError.invalidArgument(reason: "\(path) is not a regular file; a database is restored only as one")
        }
        // The check below opens the copy under its temporary name: its lock file goes either way.
        defer { unlink(temporary + "-lock") }
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: pageSize)
        defer { buffer.deallocate() }
        while true {
            let count = try source.read(into: buffer, pageSize: pageSize)
            if count == 0 { break }
            try output.write(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            progress?(source.consumed, source.fileSize)
        }
        let written = output.bytesWritten
        guard written >= 2 * pageSize, written % pageSize == 0 else {
            throw MapStoreError.corrupted(page: UInt64(written / pageSize), reason: "backup \(source.path) holds \(written) bytes, not a whole number of \(pageSize)-byte pages (at least 2)")
        }
        var options = Options()
        options.readOnly = true
        options.create = false
        options.verifyChecksums = true
        options.storageIO = io
        let transactionID: UInt64
        do {
            let restored = try Database(path: temporary, options: options)
            if let problem = try restored.check().first {
                throw MapStoreError.corrupted(page: problem.page, reason: "backup \(source.path) fails check: \(problem.message)")
            }
            transactionID = try restored.read { $0.transactionID }
        }
        // Nobody may register as having `target` open between the check and the rename: an
        // opener that got the old file finds out when it registers (ReaderTable.init).
        try ReaderTable.whileNobodyCanOpen(lockFile: target + "-lock") { (lock) throws(MapStoreError) in
            if overwrite { try refuseIfOpen(target, lockFile: lock) }
            try output.commit()
        }
        return RestoreReport(transactionID: transactionID, pages: written / pageSize, wasGzip: source.isGzip)
    }

    /// Throws ``MapStoreError/locked(reason:)`` when a process (this one included) has the
    /// database at `path` open: replacing its file would leave that process writing a file no
    /// path names any more. Every process that has a database open holds a liveness lock on its
    /// lock file (ReaderTable.swift), which the kernel drops when it exits.
    static func refuseIfOpen(_ path: String, lockFile lock: FileDescriptor) throws(MapStoreError) {
        if let key = EnvironmentRegistry.key(forPath: path), EnvironmentRegistry.open.withLock({ $0[key] != nil }) {
            throw MapStoreError.locked(reason: "\(path) is in use: this process has it open")
        }
        if !ReaderTable.nobodyHasItOpen(lock) {
            throw MapStoreError.locked(reason: "\(path) is in use: another process has it open")
        }
    }
}
