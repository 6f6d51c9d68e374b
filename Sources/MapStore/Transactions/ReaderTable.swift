import Atomics
import Logging
import CShims
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One reader slot as `mapstore readers` lists it.
public struct ReaderSlot: Sendable, Equatable {
    /// The slot's index in the lock file.
    public var index: Int
    /// The process that claimed it.
    public var pid: Int32
    /// The thread that claimed it (its Linux thread id).
    public var thread: UInt64
    /// The commit the reader reads, or nil while the slot is claimed but not yet reading.
    public var transactionID: UInt64?
    /// Whether the owning process is gone (the slot is stale and will be reclaimed).
    public var isStale: Bool
}

/// The reader table: a fixed array of slots in the lock file, mapped MAP_SHARED by every
/// process that opens the database, so a writer in any process can see every reader's
/// snapshot before it reuses a freed page (the lecture's "shared data structure" use of mmap).
///
/// ```
/// lock file header (128 bytes)
/// 0   magic "MSLOCK\0\u{1}" u64     8  version u32 (2)     12 slot count u32
/// 16  last committed txn id u64 (atomic: the fast publication of new commits)
/// 24  slots in use u64 (atomic: one past the highest slot ever claimed; writers scan no further)
/// 32  the sync record: which commit's meta is known to be on disk (SyncRecord.swift)
/// 64  the writer mutex: a process-shared, robust pthread mutex (at most 56 bytes)
/// 120 commit waiters u32 (atomic: threads of every process waiting for a commit, CommitSignal.swift)
/// slot i at 128 + 64 * i
/// 0   owner pid u64 (atomic; 0 = free)    8  snapshot txn id + 1 u64 (atomic; 0 = not reading)
/// 16  thread id u64                       24 start time (ns since 1970) u64
/// ```
///
/// Each process also holds an OFD read lock on byte `livenessBase + pid` of the lock file for
/// as long as it has the database open; the kernel drops it when the process dies, which is
/// how a writer tells a stale slot (killed reader) from a live one, even if the pid is reused
/// by a process that does not have the database open.
final class ReaderTable: @unchecked Sendable {
    static let magic: UInt64 = 0x0100_4B43_4F4C_534D  // "MSLOCK\0\u{1}" little-endian
    /// 2: the writer lock is the mutex in the header (1 used an OFD lock on byte 0).
    static let version: UInt32 = 2
    static let headerSize = 128
    /// Where the writer mutex lives in the header.
    static let writerMutexOffset = 64
    /// Where the count of threads waiting for a commit lives (past the mutex: 40 bytes on
    /// x86-64, 48 on arm64; zero in lock files of builds before it).
    static let commitWaitersOffset = 120
    static let slotSize = 64
    /// Byte offset of the liveness locks: past anything the file holds.
    static let livenessBase: Int64 = 1 << 32
    /// The byte the lock file's initialisation is serialised on (byte 0 is the writer lock).
    static let initByte: Int64 = 1

    let base: UnsafeMutableRawPointer
    let length: Int
    let slotCount: Int
    let file: FileDescriptor
    let path: String
    let pid: Int32
    let logger: Logger?
    /// Whether no other process had the database open when this one mapped the table: then
    /// the last published commit it holds may be stale (a writer killed between its meta and
    /// its publication, a machine that crashed), and the opener publishes the commit it finds.
    let openedAlone: Bool
    /// The published id (byte 16) and the count of its waiters, shared by every process.
    let commitSignal: CommitSignal

    /// Maps (creating and initialising if needed) the reader table of `file`, the open lock file.
    ///
    /// `dataFile`, the data file this process opened, is checked to still be the file at its
    /// path once this process's liveness lock is held, under the initialisation lock: a restore
    /// that renames a new file into place holds that lock while it checks that nobody has the
    /// database open and renames (``Database/refuseIfOpen(_:)``), so an opener that got the old
    /// file is told (``MapStoreError/locked(reason:)``) rather than left writing a file no path names.
    ///
    /// Laying the file out (its size, its header) goes through `io`, the handle's
    /// ``Options/storageIO``; the slots are stored through the map.
    init(file: FileDescriptor, path: String, slots requested: Int, logger: Logger? = nil,
         dataFile: (descriptor: FileDescriptor, path: String)? = nil, io: any StorageIO = SystemIO()) throws(MapStoreError) {
        self.logger = logger
        guard requested >= 1, requested <= 65_536 else {
            throw MapStoreError.invalidArgument(reason: "maxReaders \(requested) is outside 1...65536")
        }
        self.file = file
        self.path = path
        self.pid = getpid()
        while cshim_ofd_setlk(file.rawValue, cshim_f_wrlck(), ReaderTable.initByte, 1, 1) != 0 {
            let code = errno
            if code != EINTR { throw MapStoreError.io(errno: code, operation: "fcntl(F_OFD_SETLKW) init lock", path: path) }
        }
        defer { _ = cshim_ofd_setlk(file.rawValue, cshim_f_unlck(), ReaderTable.initByte, 1, 0) }
        var size = try Syscalls.fileSize(file, path)
        let header = UnsafeMutableRawBufferPointer.allocate(byteCount: ReaderTable.headerSize, alignment: 8)
        defer { header.deallocate() }
        header.initializeMemory(as: UInt8.self, repeating: 0)
        if size >= ReaderTable.headerSize {
            _ = try Syscalls.pread(file, path, into: header, at: 0)
        }
        let page = Page(header.baseAddress!, size: ReaderTable.headerSize)
        var slots: Int
        var layOut = size < ReaderTable.headerSize || header.allSatisfy({ $0 == 0 })
        // No other process has the database open, so no live thread holds the writer mutex.
        let alone = !layOut && page.u64(0) == ReaderTable.magic && ReaderTable.nobodyElseHasItOpen(file)
        if alone, page.u32(8) < ReaderTable.version {
            // A lock file of an older build that no process uses any more: lay it out anew.
            layOut = true
        }
        if layOut {
            // A new (or never initialised) lock file: lay it out for `requested` slots.
            slots = requested
            let needed = ReaderTable.headerSize + slots * ReaderTable.slotSize
            size = (needed + Syscalls.pageSize - 1) / Syscalls.pageSize * Syscalls.pageSize
            try Syscalls.truncate(io, file, path, to: 0, file: .lock)
            try Syscalls.truncate(io, file, path, to: size, file: .lock)
            page.setU64(0, ReaderTable.magic)
            page.setU32(8, ReaderTable.version)
            page.setU32(12, UInt32(slots))
            try Syscalls.pwriteAll(io, file, path, UnsafeRawBufferPointer(header), at: 0, file: .lock)
        } else {
            guard page.u64(0) == ReaderTable.magic else {
                throw MapStoreError.versionMismatch(reason: "\(path) is not a MapStore lock file (bad magic)")
            }
            guard page.u32(8) == ReaderTable.version else {
                throw MapStoreError.versionMismatch(reason: "\(path) has lock-file version \(page.u32(8)), this build uses \(ReaderTable.version)")
            }
            slots = Int(page.u32(12))
            guard slots >= 1, ReaderTable.headerSize + slots * ReaderTable.slotSize <= size else {
                throw MapStoreError.versionMismatch(reason: "\(path) declares \(slots) reader slots but holds \(size) bytes")
            }
        }
        self.slotCount = slots
        self.length = size
        self.openedAlone = layOut || alone
        self.base = try Syscalls.mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, file.rawValue, 0, path)
        self.commitSignal = CommitSignal(transaction: base + 16, waiters: base + ReaderTable.commitWaitersOffset)
        if layOut || alone {
            // Still under the initialisation lock: nobody can use the mutex before it exists.
            // When nobody else has the file open the mutex is initialised again: a machine
            // that crashed (power cut, kernel panic) while a writer held it left it marked as
            // held by a thread that no longer exists, which no robust-list walk will ever
            // release (LMDB resets its lock file on first open for the same reason). The
            // slots stay, so `mapstore readers` can still show and clear stale ones.
            ReaderTable.initializeWriterMutex(base + ReaderTable.writerMutexOffset)
            // Nobody waits either: a count left by a process killed while it waited goes.
            commitSignal.resetWaiters()
        }
        // This process is alive for as long as it holds this lock (dropped by the kernel at exit).
        _ = cshim_ofd_setlk(file.rawValue, cshim_f_rdlck(), ReaderTable.livenessBase + Int64(pid), 1, 0)
        if let dataFile {
            let opened = try Syscalls.deviceAndInode(dataFile.descriptor, dataFile.path)
            var named = stat()
            guard stat(dataFile.path, &named) == 0, UInt64(named.st_dev) == opened.0, UInt64(named.st_ino) == opened.1 else {
                throw MapStoreError.locked(reason: "\(dataFile.path) " + ReaderTable.replacedWhileOpening)
            }
        }
    }

    /// The end of the reason of the error an open gets when its file was renamed over meanwhile.
    static let replacedWhileOpening = "was replaced (restored) while it was being opened"

    /// Runs `body` holding the initialisation lock of the lock file at `path` (created when
    /// missing): no process can register as having the database open meanwhile.
    static func whileNobodyCanOpen<R>(lockFile path: String, _ body: (FileDescriptor) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
        let file = try Syscalls.open(path, create: true, writable: true)
        defer { try? file.close() }
        while cshim_ofd_setlk(file.rawValue, cshim_f_wrlck(), ReaderTable.initByte, 1, 1) != 0 {
            let code = errno
            if code != EINTR { throw MapStoreError.io(errno: code, operation: "fcntl(F_OFD_SETLKW) init lock", path: path) }
        }
        defer { _ = cshim_ofd_setlk(file.rawValue, cshim_f_unlck(), ReaderTable.initByte, 1, 0) }
        return try body(file)
    }

    deinit {
        Syscalls.munmap(base, length)
    }

    /// The writer mutex in the lock file, shared by every process that maps it.
    var writerMutex: UnsafeMutablePointer<pthread_mutex_t> {
        (base + ReaderTable.writerMutexOffset).assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// Initialises the writer mutex in place: shared between processes, robust (a holder
    /// that dies hands the next locker EOWNERDEAD instead of a lock held for ever), and
    /// error-checking (a nested write on one thread gets EDEADLK instead of hanging).
    private static func initializeWriterMutex(_ address: UnsafeMutableRawPointer) {
        precondition(MemoryLayout<pthread_mutex_t>.size <= ReaderTable.commitWaitersOffset - ReaderTable.writerMutexOffset,
                     "pthread_mutex_t does not fit the lock file's header")
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutexattr_setpshared(&attributes, Int32(PTHREAD_PROCESS_SHARED))
        pthread_mutexattr_setrobust(&attributes, Int32(PTHREAD_MUTEX_ROBUST))
        let result = pthread_mutex_init(address.assumingMemoryBound(to: pthread_mutex_t.self), &attributes)
        pthread_mutexattr_destroy(&attributes)
        precondition(result == 0, "pthread_mutex_init of the writer mutex failed: \(result)")
    }

    /// Whether no other open file description holds a liveness lock on the lock file (no
    /// process, this one included, has the database open through it).
    private static func nobodyElseHasItOpen(_ file: FileDescriptor) -> Bool {
        nobodyHasItOpen(file)
    }

    /// Whether no process holds a liveness lock on the lock file open as `file` (its own
    /// description's locks aside): nobody has the database open.
    static func nobodyHasItOpen(_ file: FileDescriptor) -> Bool {
        cshim_ofd_getlk(file.rawValue, cshim_f_wrlck(), ReaderTable.livenessBase, 1 << 32) == Int32(cshim_f_unlck())
    }

    // MARK: Atomic fields

    private func atomic(_ offset: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (base + offset).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    private func owner(_ slot: Int) -> UnsafeAtomic<UInt64> { atomic(ReaderTable.headerSize + slot * ReaderTable.slotSize) }
    private func snapshot(_ slot: Int) -> UnsafeAtomic<UInt64> { atomic(ReaderTable.headerSize + slot * ReaderTable.slotSize + 8) }
    private var lastCommitted: UnsafeAtomic<UInt64> { atomic(16) }
    private var slotsUsedWord: UnsafeAtomic<UInt64> { atomic(24) }

    /// One past the highest slot ever claimed (clamped to the table): no reader is beyond it.
    var slotsInUse: Int { Int(min(slotsUsedWord.load(ordering: .sequentiallyConsistent), UInt64(slotCount))) }

    /// The id of the newest commit, as the last writer published it.
    var lastTransaction: UInt64 { lastCommitted.load(ordering: .sequentiallyConsistent) }

    /// Publishes a new commit (after its meta is written), waking processes that wait for one.
    func publish(_ txnID: UInt64) {
        commitSignal.publish(txnID)
    }

    // MARK: Readers

    /// Claims a free slot for a reader of this thread; throws when all are taken by live readers.
    func claim() throws(MapStoreError) -> Int {
        for attempt in 0..<2 {
            // The lowest free slot, as LMDB does: the slots in use stay few, and so do the
            // slots every writer scans.
            for slot in 0..<slotCount {
                let owner = owner(slot)
                if owner.load(ordering: .relaxed) == 0,
                   owner.compareExchange(expected: 0, desired: UInt64(pid), ordering: .sequentiallyConsistent).exchanged {
                    let fields = Page(base + ReaderTable.headerSize + slot * ReaderTable.slotSize, size: ReaderTable.slotSize)
                    fields.setU64(16, UInt64(cshim_gettid()))
                    var now = timespec()
                    clock_gettime(CLOCK_REALTIME, &now)
                    fields.setU64(24, UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec))
                    // Before the reader stores its snapshot: a writer that reads the count
                    // before this raise scans before that store, which the reader protocol covers.
                    var used = slotsUsedWord.load(ordering: .sequentiallyConsistent)
                    while used < UInt64(slot + 1) {
                        let (exchanged, found) = slotsUsedWord.compareExchange(expected: used, desired: UInt64(slot + 1), ordering: .sequentiallyConsistent)
                        if exchanged { break }
                        used = found
                    }
                    return slot
                }
            }
            // Full: stale slots of dead processes may be what fills it.
            if attempt == 0, clearStale() == 0 { break }
        }
        throw MapStoreError.locked(reason: "all \(slotCount) reader slots of \(path) are in use (raise Options.maxReaders for a new lock file)")
    }

    /// Marks `slot` as reading the snapshot `txnID`.
    func setSnapshot(_ slot: Int, _ txnID: UInt64) {
        snapshot(slot).store(txnID + 1, ordering: .sequentiallyConsistent)
    }

    /// Frees `slot`.
    func release(_ slot: Int) {
        snapshot(slot).store(0, ordering: .sequentiallyConsistent)
        owner(slot).store(0, ordering: .sequentiallyConsistent)
    }

    /// Whether process `pid` still has this database open: it holds its liveness lock.
    func isAlive(_ pid: Int32) -> Bool {
        if pid == self.pid { return true }
        if pid <= 0 { return false }
        let blocking = cshim_ofd_getlk(file.rawValue, cshim_f_wrlck(), ReaderTable.livenessBase + Int64(pid), 1)
        if blocking == -1 { return kill(pid, 0) == 0 || errno != ESRCH }  // cannot probe: fall back to the pid
        return blocking != Int32(cshim_f_unlck())
    }

    /// The oldest snapshot any live reader reads, or nil when nobody reads. Slots of dead
    /// processes that pin an older snapshot than `newest` are reclaimed on the way.
    func oldestReader(newest: UInt64) -> UInt64? {
        var oldest: UInt64?
        // Runs at every write transaction over every slot: the snapshot word first (most
        // slots are not reading), then the owner of those that are. A slot is released
        // snapshot first, then owner, so a reading slot always has its owner set.
        var snapshotWord = base + ReaderTable.headerSize + 8
        for slot in 0..<slotsInUse {
            defer { snapshotWord += ReaderTable.slotSize }
            let value = UnsafeAtomic<UInt64>(at: snapshotWord.assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
                .load(ordering: .sequentiallyConsistent)
            guard value != 0 else { continue }
            let pid = owner(slot).load(ordering: .sequentiallyConsistent)
            guard pid != 0 else { continue }
            let txn = value - 1
            // Only a slot that holds pages back is worth a liveness probe.
            if txn < newest, !isAlive(Int32(truncatingIfNeeded: pid)) {
                reclaim(slot, pid: pid)
                continue
            }
            oldest = min(oldest ?? txn, txn)
        }
        return oldest
    }

    private func reclaim(_ slot: Int, pid: UInt64) {
        let snapshot = snapshot(slot)
        let value = snapshot.load(ordering: .sequentiallyConsistent)
        if owner(slot).compareExchange(expected: pid, desired: 0, ordering: .sequentiallyConsistent).exchanged {
            _ = snapshot.compareExchange(expected: value, desired: 0, ordering: .sequentiallyConsistent)
            logger?.warning("reclaimed the reader slot of a dead process",
                            metadata: ["lockFile": "\(path)", "slot": "\(slot)", "pid": "\(pid)", "txn": "\(value == 0 ? "-" : "\(value - 1)")"])
        }
    }

    /// Reclaims every slot whose process is gone; returns how many.
    @discardableResult
    func clearStale() -> Int {
        var cleared = 0
        for slot in 0..<slotCount {
            let pid = owner(slot).load(ordering: .sequentiallyConsistent)
            if pid != 0, !isAlive(Int32(truncatingIfNeeded: pid)) {
                reclaim(slot, pid: pid)
                cleared += 1
            }
        }
        return cleared
    }

    /// Slots reading a snapshot right now (no liveness probes: cheap enough for every commit).
    func readingCount() -> Int {
        (0..<slotsInUse).reduce(0) { count, slot in
            snapshot(slot).load(ordering: .relaxed) != 0 ? count + 1 : count
        }
    }

    /// Every claimed slot.
    func slots() -> [ReaderSlot] {
        var result: [ReaderSlot] = []
        for slot in 0..<slotCount {
            let pid = owner(slot).load(ordering: .sequentiallyConsistent)
            guard pid != 0 else { continue }
            let value = snapshot(slot).load(ordering: .sequentiallyConsistent)
            let fields = Page(base + ReaderTable.headerSize + slot * ReaderTable.slotSize, size: ReaderTable.slotSize)
            let owner = Int32(truncatingIfNeeded: pid)
            result.append(ReaderSlot(index: slot, pid: owner, thread: fields.u64(16),
                                     transactionID: value == 0 ? nil : value - 1, isStale: !isAlive(owner)))
        }
        return result
    }
}
