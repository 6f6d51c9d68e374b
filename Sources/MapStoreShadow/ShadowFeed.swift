import MapStore
import MapStoreVM

/// What the VM model predicts for one page of the shadowed mapping.
public struct PredictedPage: Sendable, Equatable {
    /// A PTE maps the page.
    public var present = false
    /// The PTE maps an anonymous frame (a copy-on-write copy or demand-zero memory).
    public var anonymous = false
    /// The page-cache page is dirty (PG_dirty or a dirty PTE): it differs from the file.
    public var dirty = false
    /// Another mapping (another process) maps the same frame.
    public var shared = false

    /// A prediction with the given fields.
    public init(present: Bool = false, anonymous: Bool = false, dirty: Bool = false, shared: Bool = false) {
        self.present = present
        self.anonymous = anonymous
        self.dirty = dirty
        self.shared = shared
    }
}

/// The model's answer for a shadowed run: per page, and the faults it took.
public struct ShadowPrediction: Sendable {
    /// One entry per page of the mapping compared, from page 0.
    public var pages: [PredictedPage]
    /// Faults getrusage counts as minor: the model's zero, minor and copy-on-write faults.
    public var minorFaults: Int
    /// Faults that had to read the file (the model's major faults).
    public var majorFaults: Int
    /// Every counter of the model after the run.
    public var counters: Counters
}

/// Feeds a shadowed run's events into the VM model (``Kernel``): one process, the data
/// file as a simulated file, the store's mapping with its mode's flags at the same virtual
/// address as the real one (fault-around windows are aligned on the virtual address), then
/// each page touch as a one-byte read or write at the page's address, and each msync,
/// madvise, pwrite, fdatasync and growth as the matching model call.
public struct ShadowFeed {
    /// The page-cache state before the run: the file pages cached (mincore) and its large folios.
    public var cachedPages: [Bool]
    /// Runs of file pages held in large folios before the run (empty when unknown).
    public var largeFolios: [Range<UInt64>]
    /// Cached pages that were dirty before the run.
    public var dirtyPages: [UInt64]
    /// Fault-around window in pages (Linux's default 64 KiB = 16 pages).
    public var faultAround: Int
    /// A second process that mapped the whole file (MAP_SHARED, PROT_READ, MADV_RANDOM) at
    /// `base` and read `pages` after the store opened the file and before its workload.
    /// Its faults are not the store's and are left out of the prediction's fault counts.
    public var peer: (base: UInt, fileBytes: Int, pages: [UInt64])?

    /// A feed starting from the given page-cache state.
    public init(cachedPages: [Bool], largeFolios: [Range<UInt64>] = [], dirtyPages: [UInt64] = [], faultAround: Int = 16) {
        self.cachedPages = cachedPages
        self.largeFolios = largeFolios
        self.dirtyPages = dirtyPages
        self.faultAround = faultAround
    }

    /// Replays `events` and predicts the first `pages` pages of the mapping.
    public func predict(_ events: [ShadowEvent], pages: Int) throws -> ShadowPrediction {
        let kernel = Kernel(preset: .coreI7, faultAround: faultAround)
        let pid = try kernel.spawn(name: "store")
        var file = -1
        var base: UInt64 = 0
        var pageSize: UInt64 = 4096
        var faultsBefore = kernel.counters
        var peerPending = peer != nil
        func runPeer() throws {
            guard peerPending, let peer, file >= 0 else { return }
            peerPending = false
            let other = try kernel.spawn(name: "peer")
            let length = (UInt64(peer.fileBytes) + pageSize - 1) / pageSize * pageSize
            try kernel.mmap(pid: other, addr: UInt64(peer.base), length: length, protection: [.read], shared: true, file: file, offset: 0)
            try kernel.madvise(pid: other, addr: UInt64(peer.base), length: length, advice: .random)
            for page in peer.pages where page * pageSize < length {
                _ = kernel.access(pid: other, va: UInt64(peer.base) + page * pageSize, op: .read)
            }
            faultsBefore = kernel.counters
        }
        for event in events {
            switch event {
            case .mapped, .advised: break
            default: try runPeer()
            }
            switch event {
            case let .mapped(mapBase, length, fileBytes, size, mode):
                base = UInt64(mapBase)
                pageSize = UInt64(size)
                file = kernel.addFile(name: "data", size: UInt64(fileBytes))
                for (page, cached) in cachedPages.enumerated() where cached && UInt64(page) * pageSize < UInt64(fileBytes) {
                    kernel.cachePage(file: file, page: UInt64(page))
                }
                for folio in largeFolios { kernel.setLargeFolio(file: file, pages: folio) }
                for page in dirtyPages { kernel.markPageDirty(file: file, page: page) }
                let mapLength = UInt64(length)
                switch mode {
                case .readOnly:
                    try kernel.mmap(pid: pid, addr: base, length: mapLength, protection: [.read], shared: true, file: file, offset: 0)
                case .writeMap:
                    try kernel.mmap(pid: pid, addr: base, length: mapLength, protection: [.read, .write], shared: true, file: file, offset: 0)
                case .privateCopyOnWrite:
                    try kernel.mmap(pid: pid, addr: base, length: mapLength, protection: [.read, .write], shared: false, file: nil, offset: 0)
                    let filePart = min(mapLength, (UInt64(fileBytes) + pageSize - 1) / pageSize * pageSize)
                    if filePart > 0 {
                        try kernel.mmap(pid: pid, addr: base, length: filePart, protection: [.read, .write], shared: false, file: file, offset: 0)
                    }
                }
                faultsBefore = kernel.counters
            case let .advised(pattern, from, bytes):
                guard bytes > 0 else { continue }
                let start = base + UInt64(from), length = UInt64(bytes)
                switch pattern {
                case .random, .automatic: try kernel.madvise(pid: pid, addr: start, length: length, advice: .random)
                case .sequential:
                    try kernel.madvise(pid: pid, addr: start, length: length, advice: .sequential)
                    if from == 0 { try kernel.madvise(pid: pid, addr: start, length: length, advice: .willneed) }
                case .normal: try kernel.madvise(pid: pid, addr: start, length: length, advice: .normal)
                }
            case let .read(first, count):
                for page in first..<(first + UInt64(count)) { _ = kernel.access(pid: pid, va: base + page * pageSize, op: .read) }
            case let .write(first, count):
                for page in first..<(first + UInt64(count)) { _ = kernel.access(pid: pid, va: base + page * pageSize, op: .write) }
            case let .store(first, count):
                guard file >= 0 else { continue }
                for page in first..<(first + UInt64(count)) { kernel.pwrite(file: file, page: page) }
            case let .mapSync(first, count):
                try kernel.msync(pid: pid, addr: base + first * pageSize, length: UInt64(count) * pageSize)
            case .fileSync:
                if file >= 0 { kernel.fdatasync(file: file) }
            case let .grow(bytes):
                if file >= 0 { kernel.growFile(file, toBytes: UInt64(bytes)) }
            case let .dontNeed(first, count):
                try kernel.madvise(pid: pid, addr: base + first * pageSize, length: UInt64(count) * pageSize, advice: .dontneed)
            case .windowStart:
                faultsBefore = kernel.counters
            }
        }
        try runPeer()
        var predicted: [PredictedPage] = []
        predicted.reserveCapacity(pages)
        let shift = UInt64(pageSize.trailingZeroBitCount)
        for page in 0..<UInt64(pages) {
            let pte = kernel.readPTE(pid: pid, vpn: (base >> shift) + page)
            guard pte.isPresent else { predicted.append(PredictedPage()); continue }
            let frame = kernel.memory[pte.ppn]
            predicted.append(PredictedPage(present: true, anonymous: frame.kind == .anonymous,
                                           dirty: frame.kind == .file && kernel.isDirty(pte.ppn), shared: frame.mapCount > 1))
        }
        let after = kernel.counters
        // getrusage counts a COW fault that read the file page in as major.
        let cowReads = after.cowFileReads - faultsBefore.cowFileReads
        let minor = (after.faultsMinor - faultsBefore.faultsMinor) + (after.faultsZero - faultsBefore.faultsZero)
            + (after.faultsCow - faultsBefore.faultsCow) - cowReads
        return ShadowPrediction(pages: predicted, minorFaults: Int(minor),
                                majorFaults: Int(after.faultsMajor - faultsBefore.faultsMajor + cowReads), counters: after)
    }
}
