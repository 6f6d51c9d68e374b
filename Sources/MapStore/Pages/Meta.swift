/// The root of one B+tree: its root page (0 for an empty tree), its depth and entry count.
@usableFromInline
struct TreeRoot: Equatable, Sendable {
    @usableFromInline var root: UInt64 = 0
    @usableFromInline var depth: Int = 0
    @usableFromInline var entries: UInt64 = 0

    @inlinable init(root: UInt64 = 0, depth: Int = 0, entries: UInt64 = 0) {
        self.root = root
        self.depth = depth
        self.entries = entries
    }

    @inlinable var isEmpty: Bool { root == 0 }
}

/// One of the two meta pages (0 and 1), written alternately: the commit record.
///
/// ```
/// 0..<8     checksum      XXH64 of bytes 8..<128 (in every version)
/// 8..<16    magic         "MAPSTORE"
/// 16..<20   version       format version: 1 = XXH64 page checksums, 2 = CRC-32C,
///                         3 = CRC-32C and a page list, 4 = also the free list's working part,
///                         5 = also a commit record run
/// 20..<24   pageSize      bytes per page
/// 24..<32   txnID         the commit this meta records
/// 32..<40   main root     root page of the main tree (0 = empty)
/// 40..<44   main depth
/// 44..<48   flags         bit 0: a confirmation copy (``Meta/Decoded/confirmation(_:)``);
///                         bit 1 (version 5): the list's one entry is the commit record run
/// 48..<56   main entries
/// 56..<64   catalog root  root of the snapshot catalog (0 = none)
/// 64..<72   free list     first page of the free-list chain (0 = none)
/// 72..<80   pageCount     pages 0..<pageCount are in use or free; the rest of the file is unused
/// 80..<88   maxSize       the address space reserved by the writer that created the file
/// 88..<96   commitTime    nanoseconds since 1970 (CLOCK_REALTIME) of the commit
/// 96..<100  catalog depth depth of the snapshot catalog tree (0 = none)
/// 100..<104 inline words  version 4: words of the free list's working part after the list (else zero)
/// 104..<112 catalog entries  named snapshots in the catalog
/// 112..<120 oldest snapshot  the smallest transaction id a snapshot pins (meaningful when entries > 0)
/// 120..<124 listed runs   versions 3...5: entries in the page list (0 = none)
/// 124..<128 list checksum versions 3...5: CRC-32C of the list's bytes, then the inline words'
/// 128...    page list     versions 3...5: 16 bytes per run of pages the commit wrote:
///                         first page u64, pages u32, low 32 bits of its stored checksum u32
/// then      inline words  versions 4, 5: the free list's working part, 8 bytes per word
/// ```
///
/// The working part of the free list (``FreeListChain``) goes inline when it fits
/// ``Meta/inlineCapacity(pageSize:)``: a commit then writes no free-list page of its own, and
/// the words share the record's fate (a torn meta fails the list checksum, which covers them).
///
/// A commit whose meta has a page list was made durable by one sync of its pages and its
/// meta together (``Writer/makeDurable(_:durability:)``): at open the list is checked
/// against the pages (``CommitVerification``), and a commit whose pages did not all reach
/// the disk is passed over for the one before. A meta without a list was written after a
/// sync of its pages.
///
/// A commit that wrote more runs than the meta page lists (``listCapacity(pageSize:)``) puts
/// its list in a commit record run (``CommitRecord``, version 5), and its meta lists that one
/// run, with the record flag: the record is verified like any listed run, then the runs it
/// lists. The record's pages are on the commit's own free list, freed under a later
/// transaction id, so no commit reuses them while an open may still need them.
@usableFromInline
struct Meta: Equatable, Sendable {
    static let magic: UInt64 = 0x4552_4F54_5350_414D  // "MAPSTORE" read little-endian
    /// The format versions this build reads and writes; they differ only in the data pages'
    /// checksum (``PageChecksum``).
    static let xxh64Version: UInt32 = 1
    static let crc32cVersion: UInt32 = 2
    /// CRC-32C page checksums and a page list.
    static let pageListVersion: UInt32 = 3
    /// Version 3 with the free list's working part inline; version-2 and version-3 files are
    /// written as version 4 from their first commit on.
    static let inlineFreeListVersion: UInt32 = 4
    /// Version 4 with the commit record (``CommitRecord``); files of versions 2 to 4 are
    /// written as version 5 from their first commit on.
    static let commitRecordVersion: UInt32 = 5
    /// Where the page list starts, and the bytes of one entry.
    static let listOffset = 128
    static let listEntrySize = 16
    /// Bit 0 of the flags: this record is a copy of the commit in the other slot, written
    /// after that commit's sync returned.
    static let confirmationFlag: UInt32 = 1
    /// Bit 1 of the flags (version 5): the page list's one entry is the commit's record run,
    /// the last ``recordPages`` pages, which lists the runs the commit wrote.
    static let recordFlag: UInt32 = 2
    /// Bytes covered by the meta record; well inside one 512-byte sector, so a torn write
    /// of it is caught by the checksum rather than half-applied.
    static let length = 128

    @usableFromInline var txnID: UInt64
    @usableFromInline var main: TreeRoot
    /// The snapshot catalog (Snapshots/SnapshotCatalog.swift): name -> snapshot record.
    @usableFromInline var catalog: TreeRoot
    /// The transaction id of the oldest named snapshot (valid when the catalog is not empty).
    @usableFromInline var oldestSnapshot: UInt64
    @usableFromInline var freeListRoot: UInt64
    @usableFromInline var pageCount: UInt64
    @usableFromInline var maxSize: UInt64
    @usableFromInline var commitTime: UInt64
    /// The data pages' checksum, fixed at creation; written as the format version.
    @usableFromInline var pageChecksum: PageChecksum
    // The counts below and the page size are stored in 32 bits, beside `pageChecksum`: the
    // whole meta then takes 128 bytes and copies in registers. (Past 128 bytes each of the 13
    // copies a one-put transaction makes became a memcpy call: 376 instructions per transaction.)
    /// The low 32 bits of the record run's stored checksum (with ``recordPages``).
    @usableFromInline var recordChecksum: UInt32 = 0
    @usableFromInline var listedRunCount: UInt32 = 0
    @usableFromInline var inlineWordCount: UInt32 = 0
    @usableFromInline var recordPageCount: UInt32 = 0
    /// Bytes per page (``pageSize``).
    @usableFromInline var pageBytes: UInt32 = 0

    /// Entries in the meta page's page list, as decoded (version 3; 0 when the commit's pages
    /// were synced before its meta was written). ``encode(into:listing:confirmation:)`` lists
    /// only the runs it is given.
    @usableFromInline var listedRuns: Int {
        get { Int(listedRunCount) }
        set { listedRunCount = UInt32(newValue) }
    }
    /// Words of the free list's working part inline in the meta page (version 4), after the
    /// page list: records in the chain's word format, `tag n page_1 ... page_n`, ahead of the
    /// chain at ``freeListRoot`` (which then holds only frozen pages); 0 when the working part
    /// is in chain pages. Only the count is kept here, so a meta stays plain data that copies
    /// for free: the writer hands the words to ``encode(into:listing:words:confirmation:)``,
    /// and a reader copies them from the meta page (``Environment/freeListWords(of:)``).
    @usableFromInline var freeListWordCount: Int {
        get { Int(inlineWordCount) }
        set { inlineWordCount = UInt32(newValue) }
    }
    @usableFromInline var pageSize: Int {
        get { Int(pageBytes) }
        set { pageBytes = UInt32(newValue) }
    }

    /// The first page of this commit's record run (``CommitRecord``), when ``recordPages`` is not 0.
    @usableFromInline var recordStart: UInt64 = 0

    /// Pages of this commit's record run (``CommitRecord``), `recordStart ..< recordStart +
    /// recordPages`; 0 when the page list, if any, is in the meta page.
    /// ``encode(into:listing:words:confirmation:)`` lists the record run, with
    /// ``recordChecksum``, whenever this is not 0.
    @usableFromInline var recordPages: Int {
        get { Int(recordPageCount) }
        set { recordPageCount = UInt32(newValue) }
    }

    /// This commit as a copy of its pages carries it (a backup, a replica): without its
    /// record run, which only an open of this file checks. The record's pages are on the
    /// commit's own free list, so the copy holds them as free pages.
    var withoutRecord: Meta {
        var meta = self
        meta.recordStart = 0
        meta.recordPages = 0
        meta.recordChecksum = 0
        return meta
    }

    /// The meta of a new, empty database whose pages carry `pageChecksum`.
    static func empty(pageSize: Int, maxSize: Int, pageChecksum: PageChecksum = .current) -> Meta {
        var meta = Meta(txnID: 0, main: TreeRoot(), catalog: TreeRoot(), oldestSnapshot: 0, freeListRoot: 0,
                        pageCount: PageLayout.firstDataPage, maxSize: UInt64(maxSize), commitTime: 0, pageChecksum: pageChecksum)
        meta.pageSize = pageSize
        return meta
    }

    /// The format version that records `pageChecksum`.
    var version: UInt32 { pageChecksum == .xxh64 ? Meta.xxh64Version : Meta.commitRecordVersion }

    /// Whether this meta's version carries a page list and inline free-list words.
    var hasPageList: Bool { version >= Meta.pageListVersion }

    /// The most free-list words a meta page of `pageSize` bytes takes inline: a quarter of
    /// the page after the record, at most a chain page's working words (124 words with 4 KiB
    /// pages), so the page list keeps room beside them.
    static func inlineCapacity(pageSize: Int) -> Int { min(FreeList.frozenPageWords, (pageSize - listOffset) / 8 / 4) }

    /// How many page-list entries a commit lists in a meta page of `pageSize` bytes: what the
    /// page holds beside the record and the largest inline free list (186 with 4 KiB pages).
    static func listCapacity(pageSize: Int) -> Int { (pageSize - listOffset - 8 * inlineCapacity(pageSize: pageSize)) / listEntrySize }

    /// Bytes of the meta page this meta occupies when it lists `runs` runs: the record, the
    /// list and the inline free-list words (what the writer writes).
    /// (A meta with a record run lists that one run whatever `runs` is.)
    func encodedLength(listing runs: Int) -> Int {
        Meta.listOffset + (recordPages > 0 ? 1 : runs) * Meta.listEntrySize + 8 * freeListWordCount
    }

    /// Writes this meta's record into the first ``length`` bytes of `page`, then its list and
    /// inline free-list words (the caller writes only ``encodedLength(listing:)`` bytes: the
    /// rest of a meta page is never read).
    ///
    /// Every byte of the record is stored, the reserved fields as zeros, so nothing is zeroed
    /// first (zeroing the whole record was a fifth of this function's cost per commit).
    ///
    /// With `list`, a meta lists those runs: they are written at ``Meta/listOffset`` (`page`
    /// must hold them) and their checksum goes into the record. Without, the record lists
    /// nothing, whatever ``listedRuns`` a meta it was derived from had. The inline free-list
    /// words (``freeListWordCount`` of them) follow the list, or the record, under the same
    /// checksum. `confirmation` marks the record as a copy of the other slot's commit
    /// (``Meta/Decoded/confirmation(_:)``). A meta with a record run (``recordPages``) lists
    /// that run instead, and `list` must be nil.
    func encode(into page: Page, listing list: PageList? = nil, words freeListWords: [UInt64], confirmation: Bool = false) {
        freeListWords.withUnsafeBufferPointer { encode(into: page, listing: list, words: $0, confirmation: confirmation) }
    }

    /// ``encode(into:listing:words:confirmation:)`` with the words in a buffer (the writer's,
    /// ``InlineWords``), or none.
    func encode(into page: Page, listing list: PageList? = nil, words freeListWords: UnsafeBufferPointer<UInt64> = UnsafeBufferPointer(start: nil, count: 0),
                confirmation: Bool = false) {
        precondition(page.size >= Meta.length, "meta page shorter than its record")
        precondition(recordPages == 0 || list == nil && version >= Meta.commitRecordVersion, "a meta with a record run lists only that run")
        page.setU32(44, (confirmation ? Meta.confirmationFlag : 0) | (recordPages > 0 ? Meta.recordFlag : 0))
        let runs = recordPages > 0 ? 1 : hasPageList ? list?.count ?? 0 : 0
        let words = freeListWords.count
        precondition(words == freeListWordCount, "the meta counts \(freeListWordCount) free-list words, \(words) given")
        precondition(words == 0 || hasPageList, "a version-\(version) meta holds no free-list words")
        page.setU32(100, UInt32(words))
        page.setU32(120, UInt32(runs))
        if runs + words > 0 {
            precondition(page.size >= encodedLength(listing: runs), "meta page shorter than its list and words")
            if recordPages > 0 {
                page.setU64(Meta.listOffset, recordStart)
                page.setU32(Meta.listOffset + 8, UInt32(recordPages))
                page.setU32(Meta.listOffset + 12, recordChecksum)
            } else if runs > 0 {
                list!.write(into: page)
            }
            let wordsOffset = Meta.listOffset + runs * Meta.listEntrySize
            #if _endian(little)
            page.write(UnsafeRawBufferPointer(freeListWords), at: wordsOffset)
            #else
            for (index, word) in freeListWords.enumerated() { page.setU64(wordsOffset + 8 * index, word) }
            #endif
            page.setU32(124, page.crc32c(Meta.listOffset, runs * Meta.listEntrySize + 8 * words))
        } else {
            page.setU32(124, 0)
        }
        page.setU64(8, Meta.magic)
        page.setU32(16, version)
        page.setU32(20, UInt32(pageSize))
        page.setU64(24, txnID)
        page.setU64(32, main.root)
        page.setU32(40, UInt32(main.depth))
        page.setU64(48, main.entries)
        page.setU64(56, catalog.root)
        page.setU32(96, UInt32(catalog.depth))
        page.setU64(104, catalog.entries)
        page.setU64(112, oldestSnapshot)
        page.setU64(64, freeListRoot)
        page.setU64(72, pageCount)
        page.setU64(80, maxSize)
        page.setU64(88, commitTime)
        page.setU64(0, page.xxh64(8, Meta.length - 8))
    }

    /// What reading one meta slot found.
    enum Decoded {
        case valid(Meta)
        /// A copy of the commit in the other slot, written there after that commit's sync
        /// returned (``Writer/makeDurable(_:durability:)``): proof that the commit is on disk.
        /// The next commit overwrites it; readers never need it.
        case confirmation(Meta)
        /// Not a MapStore meta at all (wrong magic).
        case foreign
        /// A MapStore meta that fails its checksum or a field check; `reason` says which.
        case damaged(String)
        /// A meta of another version or page size.
        case incompatible(String)
    }

    /// The inline free-list words of `meta`, which ``decode(_:slot:)`` found in `page` (it has
    /// checked that they fit and match the list checksum).
    static func freeListWords(in page: Page, of meta: Meta) -> [UInt64] {
        let offset = listOffset + meta.listedRuns * listEntrySize
        return (0..<meta.freeListWordCount).map { page.u64(offset + 8 * $0) }
    }

    /// Decodes the meta in `page` (slot `slot`, 0 or 1), checking every field.
    static func decode(_ page: Page, slot: UInt64) -> Decoded {
        guard page.size >= Meta.length else { return .damaged("meta page shorter than \(Meta.length) bytes") }
        guard page.u64(8) == magic else { return .foreign }
        let checksum = page.xxh64(8, Meta.length - 8)
        guard checksum == page.u64(0) else { return .damaged("meta checksum mismatch (torn or damaged write)") }
        let version = page.u32(16)
        let pageChecksum: PageChecksum
        switch version {
        case Meta.xxh64Version: pageChecksum = .xxh64
        case Meta.crc32cVersion, Meta.pageListVersion, Meta.inlineFreeListVersion, Meta.commitRecordVersion: pageChecksum = .crc32c
        default:
            return .incompatible("format version \(version), this build reads versions \(Meta.xxh64Version) to \(Meta.commitRecordVersion)")
        }
        var listedRuns = 0
        var words = 0
        if version >= Meta.pageListVersion {
            listedRuns = Int(page.u32(120))
            words = Int(page.u32(100))
            if version == Meta.pageListVersion, words != 0 {
                return .damaged("reserved bytes 100..<104 are not zero in a version-\(version) meta")
            }
            // Counted in 64-bit arithmetic: damaged counts must not overflow the bound.
            guard Meta.listOffset + listedRuns * Meta.listEntrySize + 8 * words <= page.size else {
                return .damaged("page list of \(listedRuns) entries and \(words) free-list words do not fit a meta page")
            }
            if listedRuns + words > 0, page.crc32c(Meta.listOffset, listedRuns * Meta.listEntrySize + 8 * words) != page.u32(124) {
                return .damaged("page list checksum mismatch (torn or damaged write)")
            }
        } else if page.u64(120) != 0 {
            return .damaged("reserved bytes 120..<128 are not zero in a version-\(version) meta")
        }
        let flags = page.u32(44)
        let known = version >= Meta.commitRecordVersion ? Meta.confirmationFlag | Meta.recordFlag : Meta.confirmationFlag
        guard flags & ~known == 0 else { return .damaged("unknown meta flags \(flags)") }
        var recordStart: UInt64 = 0
        var recordPages = 0
        var recordChecksum: UInt32 = 0
        if flags & Meta.recordFlag != 0 {
            // The list's one entry is the record run (the list's bounds were checked above:
            // read the entry only once the list has it).
            guard listedRuns == 1 else { return .damaged("the record flag is set, but the page list has \(listedRuns) entries") }
            let record = PageList.run(0, in: page)
            let pageCount = page.u64(72)
            guard record.pages >= 1, record.page >= PageLayout.firstDataPage, record.page <= pageCount,
                  UInt64(record.pages) <= pageCount - record.page else {
                return .damaged("the record flag is set, but its run of \(record.pages) page(s) at \(record.page) is outside pages 2..<\(pageCount)")
            }
            recordStart = record.page
            recordPages = record.pages
            recordChecksum = record.checksum
        }
        let depth = Int(page.u32(40))
        let meta = Meta(
            txnID: page.u64(24),
            main: TreeRoot(root: page.u64(32), depth: depth, entries: page.u64(48)),
            catalog: TreeRoot(root: page.u64(56), depth: Int(page.u32(96)), entries: page.u64(104)),
            oldestSnapshot: page.u64(112), freeListRoot: page.u64(64), pageCount: page.u64(72),
            maxSize: page.u64(80), commitTime: page.u64(88), pageChecksum: pageChecksum, recordChecksum: recordChecksum,
            listedRunCount: UInt32(listedRuns), inlineWordCount: UInt32(words), recordPageCount: UInt32(recordPages),
            pageBytes: page.u32(20), recordStart: recordStart)
        if meta.pageCount < PageLayout.firstDataPage { return .damaged("page count \(meta.pageCount) is below 2") }
        if meta.main.root != 0, meta.main.root < PageLayout.firstDataPage || meta.main.root >= meta.pageCount {
            return .damaged("main root \(meta.main.root) outside pages 2..<\(meta.pageCount)")
        }
        if (meta.main.root == 0) != (depth == 0) || depth > TreeLimits.maxDepth {
            return .damaged("main tree depth \(depth) does not fit its root \(meta.main.root)")
        }
        if meta.freeListRoot != 0, meta.freeListRoot < PageLayout.firstDataPage || meta.freeListRoot >= meta.pageCount {
            return .damaged("free-list root \(meta.freeListRoot) outside pages 2..<\(meta.pageCount)")
        }
        if meta.catalog.root != 0, meta.catalog.root < PageLayout.firstDataPage || meta.catalog.root >= meta.pageCount {
            return .damaged("catalog root \(meta.catalog.root) outside pages 2..<\(meta.pageCount)")
        }
        if (meta.catalog.root == 0) != (meta.catalog.depth == 0) || meta.catalog.depth > TreeLimits.maxDepth {
            return .damaged("snapshot catalog depth \(meta.catalog.depth) does not fit its root \(meta.catalog.root)")
        }
        // The slot a commit lands in is its transaction id's parity (its confirmation copy's is
        // the other one); txn 0 (creation) is in both.
        if flags & Meta.confirmationFlag != 0 {
            if meta.txnID == 0 || meta.txnID % 2 == slot { return .damaged("confirmation of txn \(meta.txnID) found in meta slot \(slot)") }
            return .confirmation(meta)
        }
        if meta.txnID != 0, meta.txnID % 2 != slot { return .damaged("txn \(meta.txnID) found in meta slot \(slot)") }
        return .valid(meta)
    }
}

/// Structural limits that hold for every tree.
@usableFromInline
enum TreeLimits {
    /// Deeper than this is a corrupted file (a tree of 4 KiB pages this deep would hold
    /// more entries than a 1 TiB file can).
    @usableFromInline static let maxDepth = 32
    /// The largest value, in bytes: 1 GiB (``Database/maxValueSize``).
    static let maxValueSize = 1 << 30
}
