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
        var model = try ModelRun(feed: self)
        for event in events {
            // The peer maps the file once the store has mapped it and given its advice.
            switch event {
            case .mapped, .advised: break
            default: try model.runPeerOnce()
            }
            try model.apply(event)
        }
        try model.runPeerOnce()
        return model.prediction(pages: pages)
    }
}

/// One replay of a feed's events in a fresh ``Kernel``: the store's process, the data file
/// once the store maps it, and the fault counters as they stood when the measured window began.
private struct ModelRun {
    let feed: ShadowFeed
    let kernel: Kernel
    /// The store's process.
    let pid: Int
    /// The data file in the model (-1 until the store maps it).
    var file = -1
    /// The store's mapping: where it starts, and its page size.
    var base: UInt64 = 0
    var pageSize: UInt64 = 4096
    /// The counters at the start of what the prediction's fault counts cover.
    var faultsBefore: Counters
    /// Whether the feed's peer still has to map the file and read its pages.
    var peerPending: Bool

    init(feed: ShadowFeed) throws {
        self.feed = feed
        kernel = Kernel(preset: .coreI7, faultAround: feed.faultAround)
        pid = try kernel.spawn(name: "store")
        faultsBefore = kernel.counters
        peerPending = feed.peer != nil
    }

    /// Does in the model what the store did.
    mutating func apply(_ event: ShadowEvent) throws {
        switch event {
        case let .mapped(mapBase, length, fileBytes, size, mode):
            try map(base: mapBase, length: length, fileBytes: fileBytes, pageSize: size, mode: mode)
        case let .advised(pattern, from, bytes):
            try advise(pattern, from: from, bytes: bytes)
        case let .read(first, count):
            for page in first..<(first + UInt64(count)) { _ = kernel.access(pid: pid, va: base + page * pageSize, op: .read) }
        case let .write(first, count):
            for page in first..<(first + UInt64(count)) { _ = kernel.access(pid: pid, va: base + page * pageSize, op: .write) }
        case let .store(first, count):
            guard file >= 0 else { return }
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

    /// The store's open: the file with the page-cache state from before the run, and the
    /// mapping its mode makes (a private one: anonymous memory with the file mapped over it).
    private mutating func map(base mapBase: UInt, length: Int, fileBytes: Int, pageSize size: Int, mode: MappingMode) throws {
        base = UInt64(mapBase)
        pageSize = UInt64(size)
        file = kernel.addFile(name: "data", size: UInt64(fileBytes))
        for (page, cached) in feed.cachedPages.enumerated() where cached && UInt64(page) * pageSize < UInt64(fileBytes) {
            kernel.cachePage(file: file, page: UInt64(page))
        }
        for folio in feed.largeFolios { kernel.setLargeFolio(file: file, pages: folio) }
        for page in feed.dirtyPages { kernel.markPageDirty(file: file, page: page) }
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
    }

    /// The store's madvise of `bytes` from offset `from`; the sequential hint it gives at
    /// open (`from` 0) comes with MADV_WILLNEED, as the store's does.
    private func advise(_ pattern: AccessPattern, from: Int, bytes: Int) throws {
        guard bytes > 0 else { return }
        let start = base + UInt64(from), length = UInt64(bytes)
        switch pattern {
        case .random, .automatic: try kernel.madvise(pid: pid, addr: start, length: length, advice: .random)
        case .sequential:
            try kernel.madvise(pid: pid, addr: start, length: length, advice: .sequential)
            if from == 0 { try kernel.madvise(pid: pid, addr: start, length: length, advice: .willneed) }
        case .normal: try kernel.madvise(pid: pid, addr: start, length: length, advice: .normal)
        }
    }

    /// The peer's mapping and reads, once the file exists in the model; its faults are
    /// not the store's, so the fault counts start again after them.
    mutating func runPeerOnce() throws {
        guard peerPending, let peer = feed.peer, file >= 0 else { return }
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

    /// What the model holds for the first `pages` pages of the store's mapping, and the
    /// faults it took since `faultsBefore`, counted the way getrusage counts them.
    func prediction(pages: Int) -> ShadowPrediction {
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
