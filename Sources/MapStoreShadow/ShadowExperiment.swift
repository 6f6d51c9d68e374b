import MapStore
import MapStoreVM

#if canImport(Glibc)
import Glibc
#endif

/// The workloads `mapstore vm compare` runs under shadow mode.
public enum ShadowWorkload: String, CaseIterable, Sendable {
    /// Point lookups of random keys (`.readOnly` map, MADV_RANDOM).
    case readrandom
    /// One full scan in key order.
    case readseq
    /// `.writeMap` puts in several commits, each ending with msync(MS_SYNC) and fdatasync.
    case writemapCommit = "writemap-commit"
    /// `.privateCopyOnWrite` puts: each written page becomes a private anonymous copy and
    /// the file never changes.
    case cowWrite = "cow-write"
    /// `.writeMap` commits without syncs (dirty pages pile up), then one durable commit
    /// whose msync and fdatasync clean them all.
    case msync
    /// `.privateCopyOnWrite` puts, then MADV_DONTNEED over the file's pages, then a read of
    /// every written page: the copies are gone and the reads see the file again.
    case dontneed
    /// readrandom while a second process (``ShadowExperiment/peerCommand``) maps the same
    /// file and has read every 32nd page of its first half: shared page-cache frames.
    case twoProcess = "two-process"

    /// Whether the workload puts (runs write transactions). ``ShadowExperiment`` runs such a
    /// workload on a copy of the database unless told to run it in place; the others open
    /// the database read-only.
    public var writes: Bool {
        switch self {
        case .readrandom, .readseq, .twoProcess: false
        case .writemapCommit, .cowWrite, .msync, .dontneed: true
        }
    }
}

/// One shadowed run: opens the database with a ``ShadowRecorder``, runs a workload, reads
/// what the kernel did (``KernelProbe``), feeds the events to the model (``ShadowFeed``)
/// and compares (``ShadowReport``).
///
/// A workload that writes (``ShadowWorkload/writes``) never changes the database at ``path``:
/// it runs on a copy in a new directory beside it (`DB.vm-compare-XXXXXX/`, on the same file
/// system), removed when the run ends, unless ``inPlace`` is set. The read workloads open
/// ``path`` itself, read-only. ``ShadowReport/file`` names the file the workload ran on.
///
/// Fault counts are the calling thread's (`RUSAGE_THREAD`): the workload runs on it, so
/// other threads of the process (a test runner's, say) do not blur them.
/// The measured window starts after the open, once the page cache's state (mincore, and
/// as root its large folios) is read, and ends before the probe reads pagemap, so the
/// getrusage fault counts cover the workload only. Keys and values are prepared before it.
public struct ShadowExperiment {
    /// The data file (it must exist and hold keys).
    public var path: String
    /// What to run.
    public var workload: ShadowWorkload
    /// The map reservation (``Options/maxSize``).
    public var maxSize: Int = 1 << 40
    /// Lookups (read workloads) or puts (write workloads); nil picks a size from the file.
    public var operations: Int?
    /// Seed of the key choice.
    public var seed: UInt64 = 1
    /// Start from a cold page cache: the file's pages are written back and dropped from the
    /// cache (`fdatasync` + `posix_fadvise(POSIX_FADV_DONTNEED)`, this file only) before the
    /// run, so first touches are major faults.
    public var coldCache = false
    /// The command (argv) that runs ``ShadowPeer/serve(path:)`` on the file path appended to
    /// it, for `two-process`: `mapstore vm shadow-peer` (the CLI passes its own executable).
    public var peerCommand: [String]?
    /// Run a workload that writes on ``path`` itself, committing its puts there (random
    /// values over existing keys). Off by default: such a workload runs on a scratch copy.
    public var inPlace = false

    /// An experiment on `path` running `workload`.
    public init(path: String, workload: ShadowWorkload) {
        self.path = path
        self.workload = workload
    }

    /// Runs it and returns the comparison. Throws when the database cannot be opened or
    /// copied, is empty, or is already open in this process (shadow mode needs its own mapping).
    public func run() throws -> ShadowReport {
        guard workload.writes, !inPlace else { return try run(on: path) }
        return try ScratchCopy.with(of: path) { copy in
            var report = try run(on: copy)
            report.copyOf = path
            return report
        }
    }

    /// Runs the workload on the data file `file`: prepares it, opens the database with a
    /// recorder, runs the measured window, reads what the kernel did, and compares it with
    /// what the model predicts from the recorded events.
    private func run(on file: String) throws -> ShadowReport {
        let keys = try keysToWorkOn(file)
        if coldCache { try dropFromPageCache(file) }
        let plan = plan(keys: keys, filePages: max(((try? fileBytes(file)) ?? 0) / 4096, 1))
        let recorder = ShadowRecorder()
        let options = shadowOptions(plan, recorder: recorder)
        var db: Database? = try Database(path: file, options: options)
        guard let mapping = recorder.mapping else {
            throw MapStoreError.invalidArgument(reason: "\(file) is already open in this process: shadow mode needs a mapping of its own")
        }
        let pagesAtOpen = mapping.fileBytes / mapping.pageSize
        let cacheAtOpen = PageCacheAtOpen(file: file, base: mapping.base, pages: pagesAtOpen, pageSize: mapping.pageSize)
        var peer = try startPeer(on: file, pagesAtOpen: pagesAtOpen)
        defer { peer?.process.finish() }

        let observedFaults = try measuredWindow(plan, keys: keys, on: db!, options: options, file: file,
                                                recorder: recorder, base: mapping.base, pages: pagesAtOpen, pageSize: mapping.pageSize)

        let events = recorder.events
        let stripPages = Self.pagesCompared(events, atLeast: pagesAtOpen, pageSize: mapping.pageSize)
        let (observed, probeNotes) = KernelProbe.observe(base: mapping.base, count: stripPages, pageSize: mapping.pageSize)
        let smaps = KernelProbe.smaps(base: mapping.base, length: mapping.length)
        let peerInFeed = peer.map { (base: $0.process.base, fileBytes: mapping.fileBytes, pages: $0.pages) }
        peer?.process.finish()
        peer = nil
        db = nil
        withExtendedLifetime(db) {}
        var notes = cacheAtOpen.notes + probeNotes
        if recorder.overflowCount > 0 { notes.append("\(recorder.overflowCount) events overflowed the recorder's buffer (their appends may have faulted)") }

        var feed = ShadowFeed(cachedPages: cacheAtOpen.cached, largeFolios: cacheAtOpen.largeFolios, dirtyPages: cacheAtOpen.dirtyPages)
        feed.peer = peerInFeed
        let prediction = try feed.predict(events, pages: stripPages)
        var folioPages = Set<UInt64>()
        for folio in cacheAtOpen.largeFolios { for page in folio { folioPages.insert(page) } }
        return ShadowReport(workload: workload.rawValue, mode: plan.mode, predicted: prediction.pages, observed: observed,
                            predictedFaults: (prediction.minorFaults, prediction.majorFaults),
                            observedFaults: observedFaults,
                            knownFolioPages: folioPages, knownLargeFolios: cacheAtOpen.largeFolios.count, smaps: smaps, notes: notes,
                            events: events, file: file)
    }

    /// Every key of `file` and the size of its value, read through a mapping of its own
    /// that is gone before the experiment maps the file; an empty database is refused.
    private func keysToWorkOn(_ file: String) throws -> [(key: [UInt8], valueSize: Int)] {
        var readOptions = Options()
        readOptions.readOnly = true
        readOptions.maxSize = maxSize
        let db = try Database(path: file, options: readOptions)
        let keys = try db.read { txn in
            var keys: [(key: [UInt8], valueSize: Int)] = []
            try txn.forEach { key, value in keys.append((Array(key), value.count)) }
            return keys
        }
        guard !keys.isEmpty else { throw MapStoreError.invalidArgument(reason: "\(file) holds no keys to work on") }
        return keys
    }

    /// What one run does, prepared before the measured window.
    private struct Plan {
        /// How the store maps the file, and how its commits sync.
        var mode: MappingMode
        var durability: Durability
        /// The keys the operations touch, by index, in order.
        var picks: [Int]
        /// For a workload that writes, the new value of each pick (the old one's size).
        var values: [[UInt8]]
    }

    /// The workload's mapping mode and durability, and its operations (``operations``, or a
    /// number that suits a file of `filePages` pages) on keys picked by ``seed``.
    private func plan(keys: [(key: [UInt8], valueSize: Int)], filePages: Int) -> Plan {
        var random = SplitMix64(seed: seed)
        let mode: MappingMode
        var durability = Durability.full
        let operations: Int
        switch workload {
        case .readrandom, .twoProcess:
            mode = .readOnly
            operations = self.operations ?? max(2000, filePages * 2)
        case .readseq:
            mode = .readOnly
            operations = 1
        case .writemapCommit, .msync:
            mode = .writeMap
            durability = workload == .msync ? .none : .full
            operations = self.operations ?? max(200, min(keys.count, filePages / 10))
        case .cowWrite, .dontneed:
            mode = .privateCopyOnWrite
            operations = self.operations ?? max(200, min(keys.count, filePages / 10))
        }
        let picks = (0..<operations).map { _ in Int(random.next() % UInt64(keys.count)) }
        let values = mode == .readOnly ? [] :
            picks.map { index in (0..<keys[index].valueSize).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        return Plan(mode: mode, durability: durability, picks: picks, values: values)
    }

    /// The options the shadowed database opens with: the plan's mode, `recorder` as its shadow.
    private func shadowOptions(_ plan: Plan, recorder: ShadowRecorder) -> Options {
        var options = Options(mappingMode: plan.mode, durability: plan.durability)
        options.readOnly = !workload.writes
        options.maxSize = maxSize
        options.shadow = recorder
        return options
    }

    /// The page cache's state for the file once the store has opened it: the pages cached
    /// (mincore), and as root its large folios and dirty pages; a note for what is unknown.
    private struct PageCacheAtOpen {
        var cached: [Bool]
        var largeFolios: [Range<UInt64>] = []
        var dirtyPages: [UInt64] = []
        var notes: [String] = []

        /// Reads it for the `pages` file pages mapped at `base`.
        init(file: String, base: UInt, pages: Int, pageSize: Int) {
            if let resident = KernelProbe.resident(base: base, count: pages, pageSize: pageSize) {
                cached = resident
            } else {
                cached = [Bool](repeating: true, count: pages)
                notes.append("mincore failed: the model assumes every page is cached")
            }
            let fd = open(file, O_RDONLY)
            guard fd >= 0 else { return }
            defer { close(fd) }
            if let found = KernelProbe.pageCache(fd: fd, pages: pages, cached: cached, pageSize: pageSize) {
                largeFolios = found.largeFolios
                dirtyPages = found.dirtyPages
            } else {
                notes.append("large folios of the page cache unknown (needs root): the model uses single pages")
            }
        }
    }

    /// For `two-process`: the second process (``peerCommand``), started on `file`, and the
    /// pages it has read (every 32nd of the first half); nil for the other workloads.
    private func startPeer(on file: String, pagesAtOpen: Int) throws -> (process: ShadowPeerProcess, pages: [UInt64])? {
        guard workload == .twoProcess else { return nil }
        guard let peerCommand, !peerCommand.isEmpty else {
            throw MapStoreError.invalidArgument(reason: "two-process needs a peer command (mapstore vm shadow-peer)")
        }
        let pages = stride(from: 0, to: max(1, pagesAtOpen / 2), by: 32).map { UInt64($0) }
        return (try ShadowPeerProcess(command: peerCommand, path: file, pages: pages), pages)
    }

    /// Runs the workload between a `windowStart` event and the end of the window, and
    /// returns the faults this thread took in it.
    private func measuredWindow(_ plan: Plan, keys: [(key: [UInt8], valueSize: Int)], on db: Database, options: Options,
                                file: String, recorder: ShadowRecorder, base: UInt, pages: Int,
                                pageSize: Int) throws -> (minor: Int, major: Int) {
        // One empty read transaction first: a reader's first use of the lock file's reader
        // table faults its pages in, which are not the data map's. Its touches of the map (the
        // meta pages) stay in the events and so in the model's state; fault counts start after it.
        try db.read { _ in }
        recorder.record(.windowStart)
        let before = KernelProbe.faults()
        var sink = try runWorkload(plan, keys: keys, on: db, options: options, file: file)
        if workload == .dontneed {
            sink &+= dropAndReread(recorder: recorder, base: base, pages: pages, pageSize: pageSize)
        }
        let after = KernelProbe.faults()
        KernelProbe.keep(sink)
        return (after.minor - before.minor, after.major - before.major)
    }

    /// The workload's operations; returns a sum of what it read, so the reads stay.
    private func runWorkload(_ plan: Plan, keys: [(key: [UInt8], valueSize: Int)], on db: Database, options: Options,
                             file: String) throws -> Int {
        switch workload {
        case .readrandom, .twoProcess:
            var sink = 0
            for index in plan.picks {
                sink &+= try db.read { txn in try txn.withValue(forKey: keys[index].key) { $0.count } } ?? 0
            }
            return sink
        case .readseq:
            return try db.read { txn in
                var count = 0
                let cursor = try txn.cursor()
                var more = try cursor.first()
                while more { count += 1; more = try cursor.next() }
                return count
            }
        case .writemapCommit, .cowWrite, .dontneed:
            try writeBatches(db, keys: keys, picks: plan.picks, values: plan.values, commits: workload == .dontneed ? 1 : 10)
            return 0
        case .msync:
            try writeBatches(db, keys: keys, picks: plan.picks, values: plan.values, commits: 10)
            var durable = options
            durable.durability = .full
            let second = try Database(path: file, options: durable)
            try second.write { txn in
                for (index, pick) in plan.picks.prefix(max(1, plan.picks.count / 10)).enumerated() { try txn.put(keys[pick].key, plan.values[index]) }
            }
            return 0
        }
    }

    /// The pages the comparison covers: the file's at open, and any the events touched or
    /// grew the file to beyond them.
    private static func pagesCompared(_ events: [ShadowEvent], atLeast pagesAtOpen: Int, pageSize: Int) -> Int {
        var pages = pagesAtOpen
        for event in events {
            switch event {
            case let .grow(bytes): pages = max(pages, bytes / pageSize)
            case let .read(first, count), let .write(first, count), let .store(first, count):
                pages = max(pages, Int(first) + count)
            default: break
            }
        }
        return pages
    }

    /// `commits` write transactions, each putting its share of `picks` (same-size new values).
    private func writeBatches(_ db: Database, keys: [(key: [UInt8], valueSize: Int)], picks: [Int], values: [[UInt8]], commits: Int) throws {
        let perCommit = max(1, (picks.count + commits - 1) / commits)
        var start = 0
        while start < picks.count {
            let end = min(picks.count, start + perCommit)
            try db.write { txn in
                for index in start..<end { try txn.put(keys[picks[index]].key, values[index]) }
            }
            start = end
        }
    }

    /// MADV_DONTNEED over the file's pages of the map, then a one-byte read of every page
    /// written in place before it (recorded as the store's reads would be).
    private func dropAndReread(recorder: ShadowRecorder, base: UInt, pages: Int, pageSize: Int) -> Int {
        var written = Set<UInt64>()
        for case let .write(first, count) in recorder.events {
            for page in first..<(first + UInt64(count)) where page < UInt64(pages) { written.insert(page) }
        }
        guard pages > 0, let start = UnsafeMutableRawPointer(bitPattern: base) else { return 0 }
        recorder.record(.dontNeed(first: 0, count: pages))
        _ = madvise(start, pages * pageSize, MADV_DONTNEED)
        var sink = 0
        for page in written.sorted() {
            recorder.record(.read(first: page, count: 1))
            sink &+= Int(start.load(fromByteOffset: Int(page) * pageSize, as: UInt8.self))
        }
        return sink
    }

    /// Writes back and evicts the file's page-cache pages (dirty pages cannot be dropped).
    private func dropFromPageCache(_ path: String) throws {
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw MapStoreError.io(errno: errno, operation: "open", path: path) }
        defer { close(fd) }
        guard fdatasync(fd) == 0 else { throw MapStoreError.io(errno: errno, operation: "fdatasync", path: path) }
        let rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        guard rc == 0 else { throw MapStoreError.io(errno: rc, operation: "posix_fadvise", path: path) }
    }

    private func fileBytes(_ path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw MapStoreError.io(errno: errno, operation: "stat", path: path) }
        return Int(info.st_size)
    }
}
