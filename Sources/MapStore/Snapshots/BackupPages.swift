/// What a plain backup writes for each page of one commit: only the bytes a reader of the
/// copy uses (docs/backup.md; docs/format.md, "Erased bytes").
///
/// Built by walking everything the commit keeps: the main tree and its tables, the snapshot
/// catalog, every named snapshot's trees, their overflow runs and the free-list chain. Each
/// page then goes to the backup as:
///
/// - a tree page (branch or leaf): header, slot array and live cells, every other byte zero
///   (``Node/scrubbed(into:)``), re-sealed when removed cells had left bytes behind;
/// - an overflow run: the header and the value, the rest of its last page zero (re-sealed when
///   it was not zero already);
/// - a free-list chain page: header and words, the rest zero;
/// - anything else (a free page no snapshot reaches): all zero.
///
/// A page that needs a new checksum must verify with its old one first: a backup never seals
/// damage as sound, it fails with ``MapStoreError/corrupted(page:reason:)``.
struct BackupPages {
    private enum Role: UInt8 {
        case blank = 0, tree, run, chain
    }

    private let pageSize: Int
    private let scheme: PageChecksum
    /// By page number, what the page is.
    private var roles: [Role]
    /// The last page of each overflow run whose tail was not zero, and where its tail starts.
    private var runTails: [UInt64: Int] = [:]
    /// The first page of each such run, and its checksum once the tail is zero.
    private var runSeals: [UInt64: UInt64] = [:]

    /// Walks commit `base` of `source`.
    init(_ base: Meta, source: TransactionPages) throws(MapStoreError) {
        pageSize = source.pageSize
        scheme = source.pageChecksum
        roles = Array(repeating: .blank, count: Int(base.pageCount))
        try mark(ReachablePages.collect(base.main, source: source, withTables: true), source: source)
        try mark(ReachablePages.collect(base.catalog, source: source, withTables: false), source: source)
        if base.catalog.entries > 0 {
            for (_, record) in try SnapshotCatalog.all(in: base.catalog, source: source, pageCount: base.pageCount) {
                try mark(ReachablePages.collect(record.main, source: source, withTables: true), source: source)
            }
        }
        for page in try FreeListChain.chainPages(of: base, source: source) {
            roles[Int(page)] = .chain
        }
    }

    private mutating func mark(_ reached: ReachablePages, source: TransactionPages) throws(MapStoreError) {
        for page in reached.pages { roles[Int(page)] = .tree }
        for run in reached.runs {
            for page in run.first..<(run.first + UInt64(run.count)) { roles[Int(page)] = .run }
            guard runSeals[run.first] == nil else { continue }  // a run two snapshots share
            let original = try source.readRun(run.first, count: run.count)
            let tail = PageLayout.headerSize + run.valueLength
            guard !original.isZero(from: tail, count: original.size - tail) else { continue }
            try original.verifyChecksum(scheme, number: run.first)
            let seal = try withUnsafeTemporaryAllocation(byteCount: original.size, alignment: 16) { (buffer) throws(MapStoreError) -> UInt64 in
                let copy = Page(buffer.baseAddress!, size: original.size)
                copy.copy(from: original)
                copy.zero(tail, copy.size - tail)
                return copy.computeChecksum(scheme)
            }
            runSeals[run.first] = seal
            runTails[run.first + UInt64(run.count - 1)] = tail - (run.count - 1) * pageSize
        }
    }

    /// Writes into `staging` what the backup holds for pages `pages`, whose bytes in the map
    /// start at `map`.
    func copy(_ pages: Range<Int>, from map: UnsafeRawPointer, into staging: UnsafeMutableRawPointer) throws(MapStoreError) {
        for (index, number) in pages.enumerated() {
            let source = Page(UnsafeMutableRawPointer(mutating: map + index * pageSize), size: pageSize)
            let target = Page(staging + index * pageSize, size: pageSize)
            switch roles[number] {
            case .blank:
                target.zero(0, pageSize)
            case .tree:
                let node = try Node(source, number: UInt64(number))
                if try node.scrubbed(into: target) {
                    try source.verifyChecksum(scheme, number: UInt64(number))
                    target.seal(scheme)
                }
            case .run:
                target.copy(from: source)
                if let tail = runTails[UInt64(number)] { target.zero(tail, pageSize - tail) }
                if let seal = runSeals[UInt64(number)] { target.setU64(PageLayout.checksumOffset, seal) }
            case .chain:
                let end = PageLayout.headerSize + 8 * source.count
                target.write(source.slice(0, end), at: 0)
                target.zero(end, pageSize - end)
            }
        }
    }
}
