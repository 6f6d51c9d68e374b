/// One entry of a meta page's page list: a run of pages a commit wrote (one page, or an
/// overflow run), with the low 32 bits of the checksum stored in its header.
struct ListedRun: Equatable, Sendable {
    var page: UInt64
    var pages: Int
    var checksum: UInt32
}

/// The runs of pages one durable commit writes (under group commit, every commit of the
/// group), collected as they are sealed, for the meta page's list (``Meta``, version 3).
///
/// The list lets one sync cover a commit's pages and its meta together: at open, a meta whose
/// listed pages are not all on disk as written is passed over for the commit before
/// (``CommitVerification``). A commit that writes more runs than a meta page holds
/// (`capacity`) puts them in a commit record run (``CommitRecord``) that its meta lists.
struct PageList {
    /// The runs so far; its buffer is kept from one commit to the next (unless a big commit
    /// made it large).
    private(set) var runs: [ListedRun] = []
    /// Pages of listed runs that a later commit of the list freed, by the transaction that
    /// freed them (ascending). No commit a crash may fall back to reaches them: the list's
    /// start cannot, since they were written after it, and a later commit whose listed pages
    /// are not all intact is passed over at open. So they wait only for readers, not for the
    /// next sync like the other pages freed since the start (``FreeList/releaseYoung(_:upTo:noting:)``).
    var young: [(txn: UInt64, pages: [UInt64])] = []
    let capacity: Int

    init(pageSize: Int) {
        capacity = Meta.listCapacity(pageSize: pageSize)
        runs.reserveCapacity(min(capacity, 32))
    }

    var count: Int { runs.count }

    /// Whether there is a list to write: at least one run.
    var isUsable: Bool { !runs.isEmpty }

    /// Whether the runs need a commit record: more than the meta page lists.
    var needsRecord: Bool { runs.count > capacity }

    /// Adds the run of `pages` pages at `page` whose sealed header stores `storedChecksum`.
    mutating func add(_ page: UInt64, pages: Int, storedChecksum: UInt64) {
        runs.append(ListedRun(page: page, pages: pages, checksum: UInt32(truncatingIfNeeded: storedChecksum)))
    }

    /// Drops the runs that start at a page of `freed` or `alsoFreed`, which transaction
    /// `txn` freed: under group commit, pages a later commit of the group freed; after a lazy
    /// commit, pages a later lazy commit freed. No later commit of the list reaches them, and
    /// the next commit may reuse them, so they must not be checked as part of it. Their pages
    /// are noted in ``young``.
    ///
    /// A commit usually frees a few pages (lazy commits call this every commit, on a list that
    /// grows to a few hundred runs): those are searched in place; a set is built only for many.
    mutating func remove(freed: [UInt64], _ alsoFreed: [UInt64], by txn: UInt64) {
        guard !runs.isEmpty, !freed.isEmpty || !alsoFreed.isEmpty else { return }
        let many = freed.count + alsoFreed.count > 16 ? Set(freed).union(alsoFreed) : nil
        func isFreed(_ page: UInt64) -> Bool { many?.contains(page) ?? (freed.contains(page) || alsoFreed.contains(page)) }
        var removed: [UInt64] = []
        runs.removeAll { run in
            guard isFreed(run.page) else { return false }
            for page in run.page..<(run.page + UInt64(run.pages)) where isFreed(page) { removed.append(page) }
            return true
        }
        if !removed.isEmpty { young.append((txn, removed)) }
    }

    /// Forgets every run (the buffer stays).
    @inline(__always)
    mutating func removeAll() {
        // (Emptying an empty array still cost a hundred instructions: the usual
        // non-durable commit lists nothing.)
        if !runs.isEmpty { forgetRuns() }
        if !young.isEmpty { forgetYoung() }
    }

    /// Empties ``runs``, keeping a buffer the size of a meta page's list.
    @inline(never)
    private mutating func forgetRuns() {
        if runs.capacity > 4 * capacity {
            runs = []
            runs.reserveCapacity(min(capacity, 32))
        } else {
            runs.removeAll(keepingCapacity: true)
        }
    }

    /// Empties ``young`` (out of line: ``removeAll()`` is inlined into every commit, and the
    /// usual one has none).
    @inline(never)
    private mutating func forgetYoung() {
        young.removeAll()
    }

    /// Writes the runs at ``Meta/listOffset`` of `page`, a meta page's buffer of at least
    /// ``Meta/listOffset`` + 16 bytes per run.
    func write(into page: Page) {
        var offset = Meta.listOffset
        for run in runs {
            page.setU64(offset, run.page)
            page.setU32(offset + 8, UInt32(run.pages))
            page.setU32(offset + 12, run.checksum)
            offset += Meta.listEntrySize
        }
    }

    /// Entry `index` of the list in the meta page `page` (whose record says how many there
    /// are and has checked their checksum, ``Meta/decode(_:slot:)``).
    static func run(_ index: Int, in page: Page) -> ListedRun {
        let offset = Meta.listOffset + index * Meta.listEntrySize
        return ListedRun(page: page.u64(offset), pages: Int(page.u32(offset + 8)), checksum: page.u32(offset + 12))
    }
}
