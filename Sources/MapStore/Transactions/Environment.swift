import Dispatch
import Logging
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One open data file: its descriptor, its map, the writer lock and the readers' snapshots.
///
/// The map is reserved at ``Options/maxSize`` when the file is opened and never moves, so a
/// pointer into a page stays valid as long as a transaction that can reach the page is open.
final class Environment: @unchecked Sendable {
    let path: String
    let options: Options
    let pageSize: Int
    /// The data pages' checksum, from the meta found at open (format version 1 or 2).
    let pageChecksum: PageChecksum
    let limits: NodeLimits
    let file: FileDescriptor
    /// Makes every write and sync of `file` (``Options/storageIO``: the system calls, unless a test swaps them).
    let io: any StorageIO
    let lockFile: FileDescriptor?
    /// The reader table in the lock file, shared by every process; nil when the lock file
    /// cannot be written (then only this process's readers are known, as with LMDB's NOLOCK).
    let readerTable: ReaderTable?
    /// A private copy-on-write handle's slot in the reader table, pinning the commit it was
    /// opened at so no other process reuses a page its map still shows from the file.
    let pinnedSlot: Int?
    let mapping: FileMapping
    let gate: WriterGate
    /// Logging and metrics (swift-log, swift-metrics).
    let observer: Observer
    /// Where commits are published for waiters: the lock file's word when readers are shared,
    /// else a word of this process (no other process sees this handle's commits).
    private let localCommits: LocalCommitWord?
    /// The thread that waits for commits for this file's observers (DatabaseObservation.swift).
    let commitWatch: CommitWatch
    /// Where this database is a read replica of, from its marker (``ReplicaMarker``) as found
    /// at open; nil for an ordinary database. Write transactions are then refused, except on
    /// the follower's handle.
    let replicaSource: String?

    /// What readers and the writer share, behind one lock.
    struct Shared {
        /// The newest commit this process knows of.
        var meta: Meta
        /// Live read transactions by snapshot id: the writer reuses no page they can reach.
        var readers: [UInt64: Int] = [:]
        /// Set when a commit failed part-way: the handle refuses writes until reopened.
        var poisoned: String?

        /// The oldest commit a live reader of this process reads, nil without any. (Without
        /// readers, the usual write after write, no keys view is built: that retained and
        /// released the dictionary and called `min()` on every write transaction.)
        var oldestLocalReader: UInt64? { readers.isEmpty ? nil : readers.keys.min() }
    }
    let shared: Lock<Shared>

    /// The thread async write transactions run on (a serial queue outside Swift's cooperative
    /// pool, so waiting for the writer lock or an fdatasync never blocks a task's thread).
    /// Created with the environment: tasks of any thread reach for it at once.
    let writerQueue: DispatchQueue
    /// Async write transactions waiting to commit as a group (``Options/groupCommit``); it
    /// has a lock of its own, since callers queue up while a group holds the writer lock.
    let groupCommits = GroupCommitQueue()
    /// The write side (``Writer``), reached only through ``withWriter(timeout:_:)``. Set once,
    /// at the end of `init` (it refers back to this environment).
    private var writer: Writer!

    init(path: String, options: Options) throws(MapStoreError) {
        let pageSize = Syscalls.pageSize
        guard options.maxSize >= 4 * pageSize else {
            throw MapStoreError.invalidArgument(reason: "maxSize \(options.maxSize) is smaller than four pages")
        }
        let writable = !options.readOnly
        let file = try Syscalls.open(path, create: options.create && writable, writable: writable)
        var lockFile: FileDescriptor?
        do throws(MapStoreError) {
            // Readers write their slot in the lock file too, so even a read-only handle opens it for writing.
            lockFile = try Syscalls.open(path + "-lock", create: true, writable: true)
        } catch {
            // A read-only user of a read-only directory has no lock file: its readers are known to this process only.
            if writable { try? file.close(); throw error }
        }
        var table: ReaderTable?
        var pinned: Int?
        do throws(MapStoreError) {
            if let lockFile { table = try ReaderTable(file: lockFile, path: path + "-lock", slots: options.maxReaders, logger: options.logger,
                                                         dataFile: (file, path), io: options.storageIO) }
            let witness = try SyncWitness.current(file: file, path: path)
            var size = try Environment.initializeIfEmpty(file: file, readerTable: table, witness: witness, path: path, pageSize: pageSize, options: options)
            let mode = options.readOnly ? MappingMode.readOnly : options.mappingMode
            // With other processes on the file, a meta past the published commit may be one
            // whose sync has not returned: it is not opened at. Alone, the opener is the one
            // that publishes what it finds, under the writer lock so no writer is mid-commit.
            let published: () -> UInt64? = { table.flatMap { $0.openedAlone ? nil : $0.lastTransaction } }
            let aloneGate = table.flatMap { $0.openedAlone ? WriterGate(shared: $0.writerMutex, path: path + "-lock") : nil }
            try aloneGate?.lock()
            var (meta, damaged): (Meta, [String])
            do throws(MapStoreError) {
                (meta, damaged) = try Environment.readMetaForOpen(file: file, path: path, pageSize: pageSize, fileSize: &size, limit: published)
            } catch {
                aloneGate?.unlock()
                throw error
            }
            if let table, table.openedAlone { table.publish(meta.txnID) }
            aloneGate?.unlock()
            if mode == .privateCopyOnWrite, let table {
                // Pin the commit this private view starts from (the reader protocol of beginRead).
                let slot = try table.claim()
                pinned = slot
                var seen: UInt64
                repeat {
                    seen = table.lastTransaction
                    (meta, damaged) = try Environment.readMetaForOpen(file: file, path: path, pageSize: pageSize, fileSize: &size, limit: { seen })
                    table.setSnapshot(slot, meta.txnID)
                } while table.lastTransaction != seen
            }
            guard Int(meta.pageCount) <= options.maxSize / pageSize else {
                throw MapStoreError.mapFull(limit: options.maxSize)
            }
            self.mapping = try FileMapping(fd: file.rawValue, path: path, length: options.maxSize, fileSize: size, mode: mode, pageSize: pageSize)
            self.path = path
            self.options = options
            self.pageSize = pageSize
            self.pageChecksum = meta.pageChecksum
            self.limits = NodeLimits(pageSize: pageSize)
            self.file = file
            self.io = options.storageIO
            self.lockFile = lockFile
            self.writerQueue = DispatchQueue(label: "MapStore writer \(path)")
            self.readerTable = table
            self.pinnedSlot = pinned
            self.gate = WriterGate(shared: mode == .privateCopyOnWrite ? nil : table?.writerMutex, path: path + "-lock")
            self.shared = Lock(Shared(meta: meta))
            self.observer = Observer(path: path, options: options)
            let local = table == nil || mode == .privateCopyOnWrite ? LocalCommitWord(transaction: meta.txnID) : nil
            self.localCommits = local
            self.commitWatch = CommitWatch(signal: local?.signal ?? table!.commitSignal, owner: local ?? table!, path: path)
            do throws(MapStoreError) {
                self.replicaSource = try ReplicaMarker.read(databasePath: path)?.source
            } catch {
                // A marker that cannot be read still says the file is a replica.
                self.replicaSource = "an unknown source (\(ReplicaMarker.path(for: path)): \(error))"
            }
            self.writer = Writer(environment: self, fileSize: mode == .privateCopyOnWrite ? (size + pageSize - 1) / pageSize * pageSize : size,
                                 syncWitness: witness)
            if let logger = options.logger {
                let facts: Logger.Metadata = ["path": "\(path)", "mode": "\(mode.rawValue)", "txn": "\(meta.txnID)", "pages": "\(meta.pageCount)"]
                if damaged.isEmpty {
                    logger.info("opened database", metadata: facts)
                } else {
                    // Recovery: the newest commit's meta was torn or damaged; the one before it is intact.
                    logger.warning("a meta page is damaged; opened the newest intact commit",
                                   metadata: facts.merging(["damaged": "\(damaged.joined(separator: "; "))"]) { $1 })
                }
            }
            options.shadow?.mapped(base: UInt(bitPattern: mapping.base), length: options.maxSize, fileBytes: size, pageSize: pageSize, mode: mode)
            mapping.advise(options.accessPattern, bytes: size)
            options.shadow?.advised(options.accessPattern, from: 0, bytes: size)
        } catch {
            if let pinned { table?.release(pinned) }
            try? file.close()
            try? lockFile?.close()
            throw error
        }
    }

    deinit {
        // Lazy commits since the last sync reach the disk before the file is closed. (No sync
        // record: that is written only under the writer lock, which another process may hold.)
        if let writer, writer.lazyCommits != nil { try? writer.syncFile(recording: false) }
        if let pinnedSlot { readerTable?.release(pinnedSlot) }
        try? file.close()
        try? lockFile?.close()
    }

    /// Whether readers register in the shared reader table (else in this process only).
    /// A private copy-on-write world's readers read its own pages, which no other process sees.
    var sharesReaders: Bool { readerTable != nil && mode != .privateCopyOnWrite }

    var mode: MappingMode { mapping.mode }

    // MARK: Creating and opening

    /// Writes the two meta pages of an empty database into an empty file, or into the file
    /// a creation cut short by a crash left (``isUnfinishedCreation(file:path:pageSize:size:)``);
    /// returns the file size.
    private static func initializeIfEmpty(file: FileDescriptor, readerTable: ReaderTable?, witness: SyncWitness, path: String,
                                          pageSize: Int, options: Options) throws(MapStoreError) -> Int {
        var size = try Syscalls.fileSize(file, path)
        guard !options.readOnly, try isUnfinishedCreation(file: file, path: path, pageSize: pageSize, size: size) else { return size }
        // Another process may be creating it too: decide under the writer lock.
        let gate = WriterGate(shared: readerTable?.writerMutex, path: path + "-lock")
        try gate.lock()
        defer { gate.unlock() }
        size = try Syscalls.fileSize(file, path)
        guard try isUnfinishedCreation(file: file, path: path, pageSize: pageSize, size: size) else { return size }
        if size > 0 {
            options.logger?.notice("completing a database creation a crash cut short", metadata: ["path": "\(path)", "bytes": "\(size)"])
        }
        let meta = Meta.empty(pageSize: pageSize, maxSize: options.maxSize, pageChecksum: options.newFilePageChecksum)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)  // encode writes only the 128-byte records
        meta.encode(into: Page(buffer.baseAddress!, size: pageSize))
        meta.encode(into: Page(buffer.baseAddress! + pageSize, size: pageSize))
        try Syscalls.pwriteAll(options.storageIO, file, path, UnsafeRawBufferPointer(buffer), at: 0)
        try Syscalls.fsync(options.storageIO, file, path)
        // The file's name is an entry of its directory, which a power cut may lose unless the
        // directory is synced too: then the first acknowledged commit would vanish with it.
        try Syscalls.fsyncDirectory(options.storageIO, of: path)
        readerTable?.recordSynced(0, witness: witness)
        return 2 * pageSize
    }

    /// Whether the file is empty or holds only what a creation cut short by a crash can leave:
    /// at most two pages, each meta page present either all zero or as the valid meta of a new
    /// database (transaction 0, nothing past its record). No commit can have happened in such
    /// a file, so writing its metas again loses nothing; anything else (a foreign file, a torn
    /// meta, a truncated database) is left alone for ``readMetaForOpen`` to report.
    static func isUnfinishedCreation(file: FileDescriptor, path: String, pageSize: Int, size: Int) throws(MapStoreError) -> Bool {
        if size == 0 { return true }
        guard size <= 2 * pageSize else { return false }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        _ = try Syscalls.pread(file, path, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<size]), at: 0)
        var validMetas = 0
        for slot in 0..<2 {
            let page = UnsafeRawBufferPointer(rebasing: buffer[(slot * pageSize)..<((slot + 1) * pageSize)])
            if page.allSatisfy({ $0 == 0 }) { continue }
            // Bytes beyond the file's end read as zero here, so a meta page cut short passes
            // only when its whole record landed.
            guard case let .valid(meta) = Meta.decode(Page(UnsafeMutableRawPointer(mutating: page.baseAddress!), size: pageSize), slot: UInt64(slot)),
                  meta.txnID == 0, meta.pageCount == PageLayout.firstDataPage,
                  page[Meta.length...].allSatisfy({ $0 == 0 }) else { return false }
            validMetas += 1
        }
        // Both metas in a file of two pages: the creation finished.
        return !(size == 2 * pageSize && validMetas == 2)
    }

    /// Reads both meta slots with pread (before the map exists, to learn the page size) and
    /// picks the commit to open at: the newest valid meta at or below `limit()` (the lock
    /// file's published commit, when other processes have the file open: a meta past it may
    /// belong to a commit whose sync has not returned), once its page list checks out.
    ///
    /// A meta with a page list that is not confirmed (``Meta/Decoded/confirmation(_:)``) was
    /// written before its sync: its listed pages are checked (``CommitVerification``) and, if
    /// any did not reach the disk as written, the commit is passed over for the one before,
    /// whose pages no later commit overwrote. A failed check is looked at again when the slots
    /// changed meanwhile (a writer in another process moved on and may have reused the pages).
    /// `damaged` says what was found wrong, a passed-over commit included.
    ///
    /// `fileSize` was taken before the metas were read; another process may have grown the file
    /// and committed in between, so a meta that needs more pages makes it look again (growth
    /// happens before a commit's meta is written) and updates it.
    static func readMetaForOpen(file: FileDescriptor, path: String, pageSize: Int, fileSize: inout Int,
                                limit: () -> UInt64? = { nil }) throws(MapStoreError) -> (Meta, damaged: [String]) {
        guard fileSize >= 2 * pageSize else {
            throw MapStoreError.corrupted(page: 0, reason: "file \(path) of \(fileSize) bytes is shorter than its two meta pages (\(2 * pageSize) bytes)")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        let again = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * pageSize, alignment: pageSize)
        defer { again.deallocate() }
        var attempts = 0
        while true {
            attempts += 1
            let settled = attempts > 100  // give up on a moving target: take what is there
            if attempts > 1 { usleep(100) }
            _ = try Syscalls.pread(file, path, into: buffer, at: 0)
            let slots = [
                Meta.decode(Page(buffer.baseAddress!, size: pageSize), slot: 0),
                Meta.decode(Page(buffer.baseAddress! + pageSize, size: pageSize), slot: 1),
            ]
            let ceiling = settled ? nil : limit()
            guard var choice = try chooseMeta(slots, pageSize: pageSize, path: path, limit: ceiling) else { continue }
            var damaged: [String] = []
            for (slot, decoded) in slots.enumerated() {
                if case let .damaged(reason) = decoded { damaged.append("meta \(slot): \(reason)") }
            }
            if !choice.confirmed, choice.meta.listedRuns > 0,
               let problem = try CommitVerification.firstProblem(of: choice.meta, metaPage: Page(buffer.baseAddress! + choice.slot * pageSize, size: pageSize),
                                                                 file: file, path: path, pageSize: pageSize) {
                _ = try Syscalls.pread(file, path, into: again, at: 0)
                if !settled, memcmp(buffer.baseAddress!, again.baseAddress!, 2 * pageSize) != 0 { continue }
                guard let previous = choice.previous else {
                    throw MapStoreError.corrupted(page: problem.page, reason: "\(problem.reason); no older commit's meta to fall back to")
                }
                damaged.append("commit \(choice.meta.txnID) passed over, its pages did not all reach the disk: page \(problem.page): \(problem.reason)")
                choice = (previous, 1 - choice.slot, true, nil)
            }
            let meta = choice.meta
            if Int(meta.pageCount) * pageSize > fileSize {
                fileSize = try Syscalls.fileSize(file, path)
            }
            guard Int(meta.pageCount) * pageSize <= fileSize else {
                throw MapStoreError.corrupted(page: meta.pageCount - 1, reason: "file holds \(fileSize / pageSize) pages but commit \(meta.txnID) uses \(meta.pageCount) (truncated file)")
            }
            return (meta, damaged)
        }
    }

    /// The newest valid meta of the two slots at or below `limit`, with its slot, whether a
    /// second record of it (a confirmation copy, or creation's two metas) proves it on disk,
    /// and the other slot's older meta to fall back to. Nil when every valid meta is past
    /// `limit` (a commit is being published: look again); throws the error that best explains
    /// why there is none at all.
    static func chooseMeta(_ slots: [Meta.Decoded], pageSize: Int, path: String, limit: UInt64? = nil) throws(MapStoreError)
        -> (meta: Meta, slot: Int, confirmed: Bool, previous: Meta?)? {
        var candidates: [(meta: Meta, slot: Int, copy: Bool)] = []
        var reasons: [String] = []
        var foreign = 0
        for (slot, decoded) in slots.enumerated() {
            switch decoded {
            case let .valid(meta), let .confirmation(meta):
                if meta.pageSize != pageSize {
                    throw MapStoreError.versionMismatch(reason: "\(path) has \(meta.pageSize)-byte pages, this machine uses \(pageSize)")
                }
                let copy = if case .confirmation = decoded { true } else { false }
                candidates.append((meta, slot, copy))
            case .foreign:
                foreign += 1
                reasons.append("meta \(slot): not a MapStore meta page (bad magic)")
            case let .damaged(reason):
                reasons.append("meta \(slot): \(reason)")
            case let .incompatible(reason):
                throw MapStoreError.versionMismatch(reason: "\(path): \(reason)")
            }
        }
        guard !candidates.isEmpty else {
            if foreign == slots.count {
                throw MapStoreError.corrupted(page: 0, reason: "\(path) is not a MapStore database (bad magic in both meta pages)")
            }
            throw MapStoreError.corrupted(page: 0, reason: "no valid meta page: " + reasons.joined(separator: "; "))
        }
        let allowed = candidates.filter { limit == nil || $0.meta.txnID <= limit! }
        // The commit's own record (with its list) before a copy of it.
        guard let best = allowed.max(by: { ($0.meta.txnID, $0.copy ? 0 : 1) < ($1.meta.txnID, $1.copy ? 0 : 1) }) else { return nil }
        let other = allowed.first { $0.slot != best.slot }
        let confirmed = other?.meta.txnID == best.meta.txnID
        let previous = other.flatMap { $0.meta.txnID < best.meta.txnID && !$0.copy ? $0.meta : nil }
        return (best.meta, best.slot, confirmed, previous)
    }

    /// The inline free-list words of commit `meta` (format version 4, ``Meta/freeListWordCount``),
    /// copied from its meta page in the map: from its own slot, or, for a meta an open took
    /// from a confirmation copy, the other one. Nil when neither slot holds that commit any
    /// more: two commits were made since (a reader asks early, ``ReadTransaction/freeListWords()``).
    ///
    /// The page is copied before it is decoded, so a writer overwriting it meanwhile leaves a
    /// copy that fails its checksums, never words of another commit.
    func freeListWords(of meta: Meta) -> [UInt64]? {
        guard meta.freeListWordCount > 0 else { return [] }
        options.shadow?.pagesRead(0, count: 2)
        return withUnsafeTemporaryAllocation(byteCount: pageSize, alignment: 8) { buffer -> [UInt64]? in
            let copy = Page(buffer.baseAddress!, size: pageSize)
            for slot in [meta.txnID % 2, 1 - meta.txnID % 2] {
                buffer.baseAddress!.copyMemory(from: mapping.base + Int(slot) * pageSize, byteCount: pageSize)
                switch Meta.decode(copy, slot: slot) {
                case let .valid(found), let .confirmation(found):
                    if found.txnID == meta.txnID, found.freeListWordCount == meta.freeListWordCount, found.freeListRoot == meta.freeListRoot {
                        return Meta.freeListWords(in: copy, of: found)
                    }
                default:
                    continue
                }
            }
            return nil
        }
    }

    /// The newest commit in the map at or below `limit` (another process may have committed
    /// since `known`). A meta being written right now fails its checksum and the older one is
    /// used: a reader never sees a half-written commit. Readers that share the reader table pass
    /// its last published commit as `limit`: a meta past it is written but not yet durable.
    func newestMeta(known: Meta, limit: UInt64 = .max) -> Meta {
        let first = Page(mapping.base, size: pageSize)
        let second = Page(mapping.base + pageSize, size: pageSize)
        if let tracer = options.shadow { tracer.pagesRead(0, count: 2) }
        guard max(first.u64(24), second.u64(24)) > known.txnID else { return known }
        var best = known
        for (slot, page) in [first, second].enumerated() {
            if case let .valid(meta) = Meta.decode(page, slot: UInt64(slot)), meta.txnID > best.txnID, meta.txnID <= limit,
               meta.pageSize == pageSize, Int(meta.pageCount) <= options.maxSize / pageSize {
                best = meta
            }
        }
        return best
    }

    /// The larger transaction id of the two meta slots in the map, valid or not: two loads, the
    /// writer's check for a meta nobody published (``unpublishedMeta(after:)``).
    var newestTxnInMap: UInt64 {
        max(Page(mapping.base, size: Meta.length).u64(24), Page(mapping.base + pageSize, size: Meta.length).u64(24))
    }

    /// The published commit readers of this process may adopt: the reader table's, when it is shared.
    var publishedLimit: UInt64 {
        sharesReaders ? readerTable!.lastTransaction : .max
    }

    /// Under the writer lock: a meta newer than `published` left in the map by a writer that
    /// died after writing it and before publishing it (its sync may or may not have happened).
    /// Returned when its listed pages are all there (then the caller adopts it); otherwise its
    /// slot is erased, so no later open believes it, and nil is returned.
    func unpublishedMeta(after published: Meta) throws(MapStoreError) -> Meta? {
        for slot in 0..<2 {
            let page = Page(mapping.base + slot * pageSize, size: pageSize)
            guard page.u64(24) > published.txnID else { continue }
            guard case let .valid(meta) = Meta.decode(page, slot: UInt64(slot)), meta.txnID > published.txnID, meta.pageSize == pageSize,
                  Int(meta.pageCount) <= options.maxSize / pageSize else { continue }
            // The pages are checked with pread: the file may be shorter than the meta says.
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
            defer { copy.deallocate() }
            _ = try Syscalls.pread(file, path, into: copy, at: slot * pageSize)
            let record = Page(copy.baseAddress!, size: pageSize)
            guard case let .valid(read) = Meta.decode(record, slot: UInt64(slot)), read == meta else { continue }
            if let problem = try CommitVerification.firstProblem(of: meta, metaPage: record, file: file, path: path, pageSize: pageSize) {
                observer.logger?.warning("erased the meta of a commit nobody published whose pages are not all there",
                                         metadata: ["path": "\(path)", "txn": "\(meta.txnID)", "page": "\(problem.page)", "reason": "\(problem.reason)"])
                try eraseMeta(slot: slot)
                continue
            }
            return meta
        }
        return nil
    }

    /// Overwrites the record of meta slot `slot` with zeros: the commit it held was never
    /// acknowledged, and no open may find it again.
    func eraseMeta(slot: Int) throws(MapStoreError) {
        guard mode != .privateCopyOnWrite else { return }
        try writeMetaRecord(slot: slot, bytes: Meta.length, tracer: options.shadow) { record in record.zero(0, Meta.length) }
    }

    /// Writes `bytes` bytes at the start of meta slot `slot` with one pwrite, filled by `fill`
    /// in scratch memory (a meta's record, its page list, or zeros), and tells the tracer.
    /// The one way a meta page reaches the file through `pwrite`.
    @inline(__always)
    func writeMetaRecord(slot: Int, bytes: Int, tracer: (any AccessTracer)?, _ fill: (Page) -> Void) throws(MapStoreError) {
        try withUnsafeTemporaryAllocation(byteCount: bytes, alignment: 8) { (buffer) throws(MapStoreError) in
            fill(Page(buffer.baseAddress!, size: bytes))
            try Syscalls.pwriteAll(io, file, path, UnsafeRawBufferPointer(buffer), at: slot * pageSize)
        }
        tracer?.pagesStored(UInt64(slot), count: 1)
    }

    // MARK: Readers

    /// A registered reader: the commit it reads and, with a shared table, its slot.
    struct ReaderTicket {
        let meta: Meta
        let slot: Int?
    }

    /// Registers a reader at the newest commit and returns that commit's meta.
    ///
    /// With the shared table (LMDB's protocol): claim a slot, note the last published commit,
    /// read the newest meta, store its id in the slot, and try again if a commit was
    /// published meanwhile. A writer that scans the table after the store sees this reader;
    /// one that scanned before it published nothing newer than what the reader stored, so it
    /// cannot reuse a page the reader's commit reaches.
    func beginRead() throws(MapStoreError) -> ReaderTicket {
        guard sharesReaders, let table = readerTable else {
            let meta = shared.withLock { state in
                state.meta = newestMeta(known: state.meta)
                state.readers[state.meta.txnID, default: 0] += 1
                return state.meta
            }
            return ReaderTicket(meta: meta, slot: nil)
        }
        let slot = try table.claim()
        var seen: UInt64
        var meta: Meta
        repeat {
            seen = table.lastTransaction
            meta = shared.withLock { state in
                state.meta = newestMeta(known: state.meta, limit: seen)
                return state.meta
            }
            table.setSnapshot(slot, meta.txnID)
        } while table.lastTransaction != seen
        return ReaderTicket(meta: meta, slot: slot)
    }

    /// Ends a reader.
    func endRead(_ ticket: ReaderTicket) {
        if let slot = ticket.slot {
            readerTable?.release(slot)
            return
        }
        shared.withLock { state in
            let txnID = ticket.meta.txnID
            if let count = state.readers[txnID], count > 1 {
                state.readers[txnID] = count - 1
            } else {
                state.readers.removeValue(forKey: txnID)
            }
        }
    }

    /// The oldest commit a reader of any process may still read, given the newest commit.
    func oldestReader(newest: UInt64) -> UInt64 {
        oldestReader(newest: newest, local: shared.withLock { $0.oldestLocalReader })
    }

    /// ``oldestReader(newest:)`` given the oldest commit a reader of this process reads
    /// (``Shared/oldestLocalReader``, read under the lock by the caller: a writer
    /// beginning reads it with the newest meta, one lock instead of two).
    func oldestReader(newest: UInt64, local: UInt64?) -> UInt64 {
        var oldest = min(local ?? newest, newest)
        if sharesReaders, let table = readerTable, let shared = table.oldestReader(newest: newest) {
            oldest = min(oldest, shared)
        }
        return oldest
    }

    /// Tells readers and observers of every process about a new commit (after its meta is written).
    func publish(_ meta: Meta) {
        shared.withLock { $0.meta = meta }
        if sharesReaders { readerTable?.publish(meta.txnID) } else { localCommits?.signal.publish(meta.txnID) }
    }

    // MARK: The writer

    /// Runs `body` holding the writer lock (waiting at most `timeout`, nil: for ever), with
    /// the write side it guards: the only way to reach the ``Writer``. (Inlined: see
    /// ``Writer/run(for:_:)``.)
    @inline(__always)
    func withWriter<R>(timeout: Duration?, _ body: (Writer) throws -> R) throws -> R {
        try gate.lock(timeout: timeout)
        defer { gate.unlock() }
        return try body(writer)
    }

    /// ``withWriter(timeout:_:)`` when the writer lock is free now; nil (without waiting and
    /// without calling `body`) when someone holds it, or when `body` returns nil.
    func withWriterIfFree<R>(_ body: (Writer) throws -> R?) throws -> R? {
        guard try gate.tryLock() else { return nil }
        defer { gate.unlock() }
        return try body(writer)
    }

    /// Marks the handle unusable for writes after a failed commit.
    func poison(_ error: MapStoreError) {
        observer.logger?.error("commit failed; the handle refuses writes until the database is reopened",
                               metadata: ["path": "\(path)", "error": "\(error)"])
        shared.withLock { $0.poisoned = error.description }
    }

    /// Why the handle was poisoned (``poison(_:)``); read only once it is known to be, since
    /// poisoning is never undone.
    var poisonReason: String { shared.withLock { $0.poisoned } ?? "unknown" }
}
