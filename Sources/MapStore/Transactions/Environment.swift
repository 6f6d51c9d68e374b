import Synchronization
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
    let limits: NodeLimits
    let file: FileDescriptor
    let lockFile: FileDescriptor?
    let mapping: FileMapping
    let gate: WriterGate

    /// What readers and the writer share, behind one lock.
    struct Shared {
        /// The newest commit this process knows of.
        var meta: Meta
        /// Live read transactions by snapshot id: the writer reuses no page they can reach.
        var readers: [UInt64: Int] = [:]
        /// Set when a commit failed part-way: the handle refuses writes until reopened.
        var poisoned: String?
    }
    let shared: Mutex<Shared>

    // Owned by the writer (only touched while the writer lock is held).
    /// Bytes of the data file (or, in private mode, of the file-backed part of the map).
    @exclusivity(unchecked) var fileSize: Int
    /// The free list as of `freeListTxn`, and the pages of its chain, kept between commits.
    /// Heap page buffers for write transactions in `.readOnly` mode, reused between commits.
    lazy var bufferPool = PageBufferPool(pageSize: pageSize)
    @exclusivity(unchecked) var freeListCache: (txn: UInt64, list: FreeList, chain: [UInt64])?

    init(path: String, options: Options) throws(MapStoreError) {
        let pageSize = Syscalls.pageSize
        guard options.maxSize >= 4 * pageSize else {
            throw MapStoreError.invalidArgument(reason: "maxSize \(options.maxSize) is smaller than four pages")
        }
        let writable = !options.readOnly
        let file = try Syscalls.open(path, create: options.create && writable, writable: writable)
        var lockFile: FileDescriptor?
        do throws(MapStoreError) {
            lockFile = try Syscalls.open(path + "-lock", create: writable, writable: writable)
        } catch {
            // A read-only user of a read-only directory has no lock file, and needs none.
            if writable { try? file.close(); throw error }
        }
        do throws(MapStoreError) {
            let size = try Environment.initializeIfEmpty(file: file, lockFile: lockFile, path: path, pageSize: pageSize, options: options)
            let meta = try Environment.readMetaForOpen(file: file, path: path, pageSize: pageSize, fileSize: size)
            guard Int(meta.pageCount) <= options.maxSize / pageSize else {
                throw MapStoreError.mapFull(limit: options.maxSize)
            }
            let mode = options.readOnly ? MappingMode.readOnly : options.mappingMode
            self.mapping = try FileMapping(fd: file.rawValue, path: path, length: options.maxSize, fileSize: size, mode: mode, pageSize: pageSize)
            self.path = path
            self.options = options
            self.pageSize = pageSize
            self.limits = NodeLimits(pageSize: pageSize)
            self.file = file
            self.lockFile = lockFile
            self.fileSize = mode == .privateCopyOnWrite ? (size + pageSize - 1) / pageSize * pageSize : size
            self.gate = WriterGate(lockFile: mode == .privateCopyOnWrite ? nil : lockFile?.rawValue, path: path + "-lock")
            self.shared = Mutex(Shared(meta: meta))
            options.shadow?.mapped(base: UInt(bitPattern: mapping.base), length: options.maxSize, fileBytes: size, pageSize: pageSize, mode: mode)
            mapping.advise(options.accessPattern, bytes: size)
            options.shadow?.advised(options.accessPattern, from: 0, bytes: size)
        } catch {
            try? file.close()
            try? lockFile?.close()
            throw error
        }
    }

    deinit {
        try? file.close()
        try? lockFile?.close()
    }

    var mode: MappingMode { mapping.mode }

    // MARK: Creating and opening

    /// Writes the two meta pages of an empty database into an empty file; returns the file size.
    private static func initializeIfEmpty(file: FileDescriptor, lockFile: FileDescriptor?, path: String, pageSize: Int, options: Options) throws(MapStoreError) -> Int {
        var size = try Syscalls.fileSize(file, path)
        guard size == 0, !options.readOnly else { return size }
        // Another process may be creating it too: decide under the writer lock.
        let gate = WriterGate(lockFile: lockFile?.rawValue, path: path + "-lock")
        try gate.lock()
        defer { gate.unlock() }
        size = try Syscalls.fileSize(file, path)
        guard size == 0 else { return size }
        let meta = Meta.empty(pageSize: pageSize, maxSize: options.maxSize)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        meta.encode(into: Page(buffer.baseAddress!, size: pageSize))
        meta.encode(into: Page(buffer.baseAddress! + pageSize, size: pageSize))
        try Syscalls.pwriteAll(file, path, UnsafeRawBufferPointer(buffer), at: 0)
        try Syscalls.fsync(file, path)
        return 2 * pageSize
    }

    /// Reads both meta slots with pread (before the map exists, to learn the page size) and picks the newest valid one.
    private static func readMetaForOpen(file: FileDescriptor, path: String, pageSize: Int, fileSize: Int) throws(MapStoreError) -> Meta {
        guard fileSize >= 2 * pageSize else {
            throw MapStoreError.corrupted(page: 0, reason: "file \(path) of \(fileSize) bytes is shorter than its two meta pages (\(2 * pageSize) bytes)")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        _ = try Syscalls.pread(file, path, into: buffer, at: 0)
        let slots = [
            Meta.decode(Page(buffer.baseAddress!, size: pageSize), slot: 0),
            Meta.decode(Page(buffer.baseAddress! + pageSize, size: pageSize), slot: 1),
        ]
        let meta = try chooseMeta(slots, pageSize: pageSize, path: path)
        guard Int(meta.pageCount) * pageSize <= fileSize else {
            throw MapStoreError.corrupted(page: meta.pageCount - 1, reason: "file holds \(fileSize / pageSize) pages but commit \(meta.txnID) uses \(meta.pageCount) (truncated file)")
        }
        return meta
    }

    /// The newest valid meta of the two slots, or the error that best explains why there is none.
    static func chooseMeta(_ slots: [Meta.Decoded], pageSize: Int, path: String) throws(MapStoreError) -> Meta {
        var best: Meta?
        var reasons: [String] = []
        var foreign = 0
        for (slot, decoded) in slots.enumerated() {
            switch decoded {
            case let .valid(meta):
                if meta.pageSize != pageSize {
                    throw MapStoreError.versionMismatch(reason: "\(path) has \(meta.pageSize)-byte pages, this machine uses \(pageSize)")
                }
                if best == nil || meta.txnID > best!.txnID { best = meta }
            case .foreign:
                foreign += 1
                reasons.append("meta \(slot): not a MapStore meta page (bad magic)")
            case let .damaged(reason):
                reasons.append("meta \(slot): \(reason)")
            case let .incompatible(reason):
                throw MapStoreError.versionMismatch(reason: "\(path): \(reason)")
            }
        }
        if let best { return best }
        if foreign == slots.count {
            throw MapStoreError.corrupted(page: 0, reason: "\(path) is not a MapStore database (bad magic in both meta pages)")
        }
        throw MapStoreError.corrupted(page: 0, reason: "no valid meta page: " + reasons.joined(separator: "; "))
    }

    /// The newest commit in the map (another process may have committed since `known`).
    /// A meta being written right now fails its checksum and the older one is used: a reader
    /// never sees a half-written commit.
    func newestMeta(known: Meta) -> Meta {
        let first = Page(mapping.base, size: pageSize)
        let second = Page(mapping.base + pageSize, size: pageSize)
        if let tracer = options.shadow { tracer.pagesRead(0, count: 2) }
        guard max(first.u64(24), second.u64(24)) > known.txnID else { return known }
        var best = known
        for (slot, page) in [first, second].enumerated() {
            if case let .valid(meta) = Meta.decode(page, slot: UInt64(slot)), meta.txnID > best.txnID, meta.pageSize == pageSize,
               Int(meta.pageCount) <= options.maxSize / pageSize {
                best = meta
            }
        }
        return best
    }

    // MARK: Readers

    /// Registers a reader at the newest commit and returns that commit's meta.
    func beginRead() -> Meta {
        shared.withLock { state in
            state.meta = newestMeta(known: state.meta)
            state.readers[state.meta.txnID, default: 0] += 1
            return state.meta
        }
    }

    /// Ends a reader registered at `txnID`.
    func endRead(_ txnID: UInt64) {
        shared.withLock { state in
            if let count = state.readers[txnID], count > 1 {
                state.readers[txnID] = count - 1
            } else {
                state.readers.removeValue(forKey: txnID)
            }
        }
    }

    // MARK: Growth

    /// Grows the file (in writable shared modes) so that pages `0..<pages` are backed by blocks.
    /// Grows by the current size (at least 1 MiB, at most 64 MiB) per step, so growth is rare.
    func ensureFileCapacity(pages: UInt64) throws(MapStoreError) {
        let needed = Int(pages) * pageSize
        guard needed > fileSize else { return }
        if mode == .privateCopyOnWrite { return }  // past the file's end the private map is anonymous memory
        let step = min(max(fileSize, 1 << 20), 64 << 20)
        var target = max(needed, fileSize + step)
        target = (target + (1 << 20) - 1) / (1 << 20) * (1 << 20)
        target = min(target, options.maxSize)
        guard target >= needed else { throw MapStoreError.mapFull(limit: options.maxSize) }
        try Syscalls.allocate(file, path, from: fileSize, length: target - fileSize)
        mapping.adviseReadHint(options.accessPattern, from: fileSize, bytes: target - fileSize)
        options.shadow?.fileGrew(toBytes: target)
        options.shadow?.advised(options.accessPattern, from: fileSize, bytes: target - fileSize)
        fileSize = target
    }

    /// Marks the handle unusable for writes after a failed commit.
    func poison(_ error: MapStoreError) {
        shared.withLock { $0.poisoned = error.description }
    }
}
