/// Pages no commit reaches any more, and when each may be reused.
///
/// A page freed by transaction F is still reachable from every snapshot older than F, so it
/// is reused only once the oldest live reader is at F or newer. `reusable` holds pages no
/// reader can see; `pending` holds the rest, tagged with the transaction that freed them.
///
/// On disk the list is a chain of free-list pages (docs/format.md): each page's
/// payload is `next` (u64, 0 ends the chain) followed by `count - 1` u64 words forming records
/// `tag, n, page1 ... pageN`; tag 0 marks reusable pages.
///
/// A commit does not rewrite the whole list. `reusable` and `pending` are the *working* part,
/// written by every commit into fresh chain pages at the head of the chain; `frozen` holds
/// full chain pages that earlier commits wrote and that later chains link to unchanged.
/// When the working part outgrows a page, its full pages are frozen; when a transaction
/// needs a page and the working part has none, it thaws frozen pages from the newest down to
/// one that holds a page no reader can see (freeing their chain pages like any page the last
/// commit reaches). A commit so writes about one
/// chain page however long the list is.
@usableFromInline
struct FreeList: Sendable {
    /// Pages free for any transaction, sorted descending so `popLast` yields the lowest.
    @usableFromInline var reusable: [UInt64] = []
    /// Pages freed by a recent transaction, by ascending transaction id.
    @usableFromInline var pending: [(txn: UInt64, pages: [UInt64])] = []
    /// Chain pages written by earlier commits and linked to unchanged, oldest first: the
    /// chain runs working pages -> `frozen.last` -> ... -> `frozen.first` -> 0.
    var frozen: [FrozenPage] = []
    /// Records tagged at or before this transaction are free for the current writer (the
    /// oldest live reader when it began); what thawing a frozen page may release.
    var horizon: UInt64 = 0 { didSet { nothingToThaw = false } }
    /// Set when ``thaw(noting:)`` found no frozen page holding a free page.
    private var nothingToThaw = false

    /// A chain page of an earlier commit and the whole records it holds.
    struct FrozenPage: Sendable {
        let number: UInt64
        let records: [(txn: UInt64, pages: [UInt64])]
        /// The smallest tag among the records: the page holds a free page when it is at or
        /// before the horizon.
        let oldest: UInt64
        /// The smallest tag other than 0 (.max when none): the page holds pages a commit freed
        /// that are free for everyone now when it is at or before the horizon
        /// (``thawForErasing(noting:)``).
        let oldestFreed: UInt64

        init(number: UInt64, records: [(txn: UInt64, pages: [UInt64])]) {
            self.number = number
            self.records = records
            self.oldest = records.lazy.map(\.txn).min() ?? .max
            self.oldestFreed = records.lazy.map(\.txn).filter { $0 != 0 }.min() ?? .max
        }
    }

    /// Whether every part is empty (no page, no record, no frozen page).
    var isEmpty: Bool { reusable.isEmpty && pending.isEmpty && frozen.isEmpty }

    /// Pages counted in every part.
    var count: Int {
        reusable.count + pending.reduce(0) { $0 + $1.pages.count }
            + frozen.reduce(0) { total, page in page.records.reduce(total) { $0 + $1.pages.count } }
    }

    /// Moves pages freed by transactions at or before `oldestReader` to `reusable`, noting
    /// them in `released` unless it is nil (``Options/secureDelete``: the commit zeroes them).
    mutating func release(upTo oldestReader: UInt64, noting released: inout [UInt64]?) {
        var unused: [UInt64] = []
        release(upTo: oldestReader, spare: &unused, noting: &released)
    }

    /// Moves pages freed by transactions at or before `oldestReader` to `reusable`, noting
    /// them in `released` unless it is nil. When the newest released record's array is small,
    /// it is left in `spare`, emptied, for the next transaction to collect its freed pages in
    /// (no allocation).
    mutating func release(upTo oldestReader: UInt64, spare: inout [UInt64], noting released: inout [UInt64]?) {
        var records = 0
        var pages = 0
        while records < pending.count, pending[records].txn <= oldestReader {
            pages += pending[records].pages.count
            records += 1
        }
        guard records > 0 else { return }
        if released != nil {
            for index in 0..<records { released!.append(contentsOf: pending[index].pages) }
        }
        if pages <= 16 {
            // A few pages (the usual commit): inserted one by one, no array built.
            for index in 0..<records { for page in pending[index].pages { insertReusable(page) } }
        } else {
            var released: [UInt64] = []
            released.reserveCapacity(pages)
            for index in 0..<records { released += pending[index].pages }
            addReleased(&released)
        }
        if records == pending.count {
            // Usually one record: popped in place (removeAll and removeFirst go through replaceSubrange).
            // Its emptied array is kept for the next transaction's freed pages (no allocation).
            var kept = pending.removeLast().pages
            if kept.capacity <= 4096 {
                kept.empty()
                swap(&kept, &spare)
            }
            while !pending.isEmpty { pending.removeLast() }
        } else {
            pending.removeFirst(records)
        }
    }

    /// Moves the pages of `young` (``PageList/young``: pages no commit a crash may fall back
    /// to reaches) freed by transactions at or before `oldestReader` from their records in
    /// `pending` to `reusable`, noting them in `released` unless it is nil; removes those
    /// entries from `young`. An entry whose record is pending no more (released already, or
    /// frozen into a chain page) is dropped: its pages wait for the usual horizon.
    mutating func releaseYoung(_ young: inout [(txn: UInt64, pages: [UInt64])], upTo oldestReader: UInt64, noting released: inout [UInt64]?) {
        var entries = 0
        while entries < young.count, young[entries].txn <= oldestReader {
            let (txn, pages) = young[entries]
            entries += 1
            guard let record = pending.firstIndex(where: { $0.txn == txn }) else { continue }
            for page in pages {
                guard let index = pending[record].pages.firstIndex(of: page) else { continue }
                pending[record].pages.remove(at: index)
                insertReusable(page)
                released?.append(page)
            }
            if pending[record].pages.isEmpty { pending.remove(at: record) }
        }
        if entries == young.count { young.removeAll(keepingCapacity: true) } else { young.removeFirst(entries) }
    }

    /// Adds `released` (any order; reordered in place) to `reusable`.
    mutating func addReleased(_ released: inout [UInt64]) {
        guard !released.isEmpty else { return }
        if released.count <= 16 {
            // A few pages (the usual commit): binary-search insertion beats rebuilding the list.
            for page in released { insertReusable(page) }
            return
        }
        // Many: merge two descending runs rather than sorting the whole list again.
        // A radix sort ascending, then reversed (the standard sort's comparisons were
        // most of this function's cost after a big commit).
        PageOrder.sort(&released)
        released.reverse()
        if reusable.isEmpty {
            reusable = released
            return
        }
        var merged: [UInt64] = []
        merged.reserveCapacity(reusable.count + released.count)
        var a = 0, b = 0
        while a < reusable.count, b < released.count {
            if reusable[a] > released[b] { merged.append(reusable[a]); a += 1 } else { merged.append(released[b]); b += 1 }
        }
        merged += reusable[a...]
        merged += released[b...]
        reusable = merged
    }

    /// Inserts one page into the descending `reusable` list.
    mutating func insertReusable(_ page: UInt64) {
        // Searched through a buffer pointer: no bounds check per probe (the list can hold
        // hundreds of pages, and a commit inserts a few every time).
        let index = reusable.withUnsafeBufferPointer { (list) -> Int in
            var low = 0
            var high = list.count
            while low < high {
                let mid = (low &+ high) >> 1
                if list[mid] > page { low = mid &+ 1 } else { high = mid }
            }
            return low
        }
        reusable.insert(page, at: index)
    }

    /// Adds the record of the pages transaction `txn` freed: appended, unless a commit record's
    /// pages wait under a later id (Commit.swift), which stay after it. (Inlined: a call that
    /// takes the record cost a retain and a release of its array, and an insert at the end the
    /// generic replaceSubrange path.)
    @inline(__always)
    mutating func addPending(_ txn: UInt64, _ pages: [UInt64]) {
        if pending.isEmpty || pending[pending.count - 1].txn <= txn {
            pending.append((txn, pages))
        } else {
            insertPending((txn, pages))
        }
    }

    /// Inserts a record into `pending`, keeping it ordered by transaction.
    mutating func insertPending(_ record: (txn: UInt64, pages: [UInt64])) {
        var index = pending.count
        while index > 0, pending[index - 1].txn > record.txn { index -= 1 }
        pending.insert(record, at: index)
    }

    /// Adds pages that no reader can see (allocated and freed within one transaction).
    mutating func addReusable(_ first: UInt64, count: Int) {
        for page in first..<(first + UInt64(count)) { insertReusable(page) }
    }

    /// Takes the lowest reusable page.
    mutating func takeOne() -> UInt64? { reusable.popLast() }

    /// Takes `count` consecutive reusable pages, the lowest such run; nil when there is none.
    mutating func takeRun(_ count: Int) -> UInt64? {
        if count == 1 { return takeOne() }
        guard reusable.count >= count else { return nil }
        // Descending order: a run of n consecutive pages is n entries each one less than the previous.
        var index = reusable.count - 1
        while index >= count - 1 {
            let low = reusable[index]
            let high = reusable[index - (count - 1)]
            if high - low == UInt64(count - 1) {
                reusable.removeSubrange((index - (count - 1))...index)
                return low
            }
            index -= 1
        }
        return nil
    }

    // MARK: Frozen pages

    /// Thaws frozen pages, newest first, down to the newest one that holds a page free under
    /// ``horizon``: their records move into the working part (pages free under the horizon
    /// to `reusable`, the rest to `pending`). Returns the thawed chain pages, which the last
    /// commit reaches (the caller frees them); empty when no frozen page holds a free page.
    ///
    /// Pages above the one wanted are thawed with it because the chain links each frozen page
    /// to the one below: taking a page out of the middle would mean rewriting every page above
    /// it anyway. A reader that keeps the horizon a few dozen commits behind the writer makes
    /// the newest frozen pages hold only records it may still see, while older ones below are
    /// free; stopping at the newest page, as this once did, grew the file instead.
    /// The pages released are noted in `released` unless it is nil.
    mutating func thaw(noting released: inout [UInt64]?) -> [UInt64] {
        // The horizon is fixed for a transaction and frozen pages are only added at its
        // commit: once nothing is found, nothing will be until the next transaction.
        guard !nothingToThaw else { return [] }
        guard let index = frozen.lastIndex(where: { $0.oldest <= horizon }) else {
            nothingToThaw = true
            return []
        }
        return thaw(from: index, noting: &released)
    }

    /// With ``Options/secureDelete``, at the start of a write transaction: thaws (as
    /// ``thaw(noting:)``) down to the oldest frozen page holding pages a commit freed that are
    /// free under ``horizon`` now, so they are released (noted in `released`) in this
    /// transaction and its commit zeroes them, rather than when a transaction next runs out of
    /// pages. Frozen pages that hold only reusable records (tag 0, zeroed when they were
    /// released) stay frozen, so a commit after that pays one comparison per frozen page.
    /// Returns the thawed chain pages.
    mutating func thawForErasing(noting released: inout [UInt64]?) -> [UInt64] {
        guard let index = frozen.firstIndex(where: { $0.oldestFreed <= horizon }) else { return [] }
        return thaw(from: index, noting: &released)
    }

    /// Thaws frozen pages `index...` (the newest ones): records free under ``horizon`` go to
    /// `reusable` (noted in `noted` unless it is nil), the rest to `pending`. Returns the
    /// thawed chain pages.
    private mutating func thaw(from index: Int, noting noted: inout [UInt64]?) -> [UInt64] {
        var released: [UInt64] = []
        var chain: [UInt64] = []
        for page in frozen[index...] {
            for record in page.records {
                if record.txn <= horizon {
                    released += record.pages
                    // Tag 0: reusable already when it was frozen, and zeroed then.
                    if record.txn != 0, noted != nil { noted!.append(contentsOf: record.pages) }
                } else {
                    insertPending(record)
                }
            }
            chain.append(page.number)
        }
        frozen.removeSubrange(index...)
        addReleased(&released)
        return chain
    }

    /// Moves every frozen page's records into the working part with their tags (for code that
    /// needs the whole list in hand: snapshots); returns the thawed chain pages.
    mutating func thawAll() -> [UInt64] {
        guard !frozen.isEmpty else { return [] }
        var released: [UInt64] = []
        var chain: [UInt64] = []
        for page in frozen.reversed() {
            chain.append(page.number)
            for record in page.records {
                if record.txn == 0 { released += record.pages } else { insertPending(record) }
            }
        }
        frozen = []
        addReleased(&released)
        return chain
    }

    // MARK: Encoding

    /// Payload words the writer puts in a chain page while it freezes pages (no snapshots):
    /// a quarter of a 4 KiB page, so the working page every commit rewrites stays small.
    static let frozenPageWords = 128

    /// Words of payload one free-list page holds (after its `next` link).
    static func wordsPerPage(pageSize: Int) -> Int { (pageSize - PageLayout.headerSize) / 8 - 1 }

    /// Chain pages the working part plus `freedNow` needs, each page holding whole records of
    /// at most `perPage` words (a record that does not fit is split in two under the same tag).
    func workingPagesNeeded(adding freedNow: [UInt64], perPage: Int) -> Int {
        var pages = 0
        var room = 0
        func add(_ size: Int) {
            var left = size
            while left > 0 {
                if room < 3 { pages += 1; room = perPage }
                let take = min(left, room - 2)
                left -= take
                room -= take + 2
            }
        }
        add(reusable.count)
        for record in pending { add(record.pages.count) }
        add(freedNow.count)
        return pages
    }

    /// Parses the records of one chain page's words; nil when they are not whole records.
    static func parsePage(_ words: ArraySlice<UInt64>, pageCount: UInt64) -> [(txn: UInt64, pages: [UInt64])]? {
        var records: [(txn: UInt64, pages: [UInt64])] = []
        var index = words.startIndex
        while index < words.endIndex {
            guard index + 2 <= words.endIndex else { return nil }
            let tag = words[index]
            let n = words[index + 1]
            index += 2
            guard n <= UInt64(words.endIndex - index) else { return nil }
            let pages = Array(words[index..<(index + Int(n))])
            index += Int(n)
            for page in pages where page < PageLayout.firstDataPage || page >= pageCount { return nil }
            records.append((tag, pages))
        }
        return records
    }

    /// Decodes the records read from a chain, checking every page number against `pageCount`.
    static func decode(words: [UInt64], pageCount: UInt64, chainStart: UInt64) throws(MapStoreError) -> FreeList {
        var list = FreeList()
        var index = 0
        func damaged(_ reason: String) -> MapStoreError { .corrupted(page: chainStart, reason: "free list: \(reason)") }
        while index < words.count {
            guard index + 2 <= words.count else { throw damaged("record header cut short") }
            let tag = words[index]
            let n = words[index + 1]
            index += 2
            guard n <= UInt64(words.count - index) else { throw damaged("record of \(n) pages runs past the list") }
            let pages = Array(words[index..<(index + Int(n))])
            index += Int(n)
            for page in pages where page < PageLayout.firstDataPage || page >= pageCount {
                throw damaged("page \(page) outside pages 2..<\(pageCount)")
            }
            if tag == 0 { list.reusable += pages } else { list.pending.append((tag, pages)) }
        }
        list.reusable.sort(by: >)
        list.pending.sort { $0.txn < $1.txn }
        return list
    }
}
