/// Pages no commit reaches any more, and when each may be reused.
///
/// A page freed by transaction F is still reachable from every snapshot older than F, so it
/// is reused only once the oldest live reader is at F or newer. `reusable` holds pages no
/// reader can see; `pending` holds the rest, tagged with the transaction that freed them.
///
/// On disk the list is a chain of free-list pages (DESIGN.md 2, docs/format.md): each page's
/// payload is `next` (u64, 0 ends the chain) followed by `count - 1` u64 words forming records
/// `tag, n, page1 ... pageN`; tag 0 marks reusable pages.
@usableFromInline
struct FreeList: Sendable {
    /// Pages free for any transaction, sorted descending so `popLast` yields the lowest.
    @usableFromInline var reusable: [UInt64] = []
    /// Pages freed by a recent transaction, by ascending transaction id.
    @usableFromInline var pending: [(txn: UInt64, pages: [UInt64])] = []

    /// Pages counted in both parts.
    var count: Int { reusable.count + pending.reduce(0) { $0 + $1.pages.count } }

    /// Moves pages freed by transactions at or before `oldestReader` to `reusable`.
    mutating func release(upTo oldestReader: UInt64) {
        var released: [UInt64] = []
        while let first = pending.first, first.txn <= oldestReader {
            released += first.pages
            pending.removeFirst()
        }
        guard !released.isEmpty else { return }
        if released.count <= 16 {
            // A few pages (the usual commit): binary-search insertion beats rebuilding the list.
            for page in released { insertReusable(page) }
            return
        }
        // Many: merge two descending runs rather than sorting the whole list again.
        // Ascending sort then reverse: the sort's comparisons inline, where sort(by: >)
        // calls a closure per comparison (most of this function's cost after a big commit).
        released.sort()
        released.reverse()
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
        var low = 0
        var high = reusable.count
        while low < high {
            let mid = (low + high) / 2
            if reusable[mid] > page { low = mid + 1 } else { high = mid }
        }
        reusable.insert(page, at: low)
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

    // MARK: Encoding

    /// How many words ``words(adding:tag:)`` returns, without building them.
    func wordCount(adding freedNow: [UInt64]) -> Int {
        var total = reusable.isEmpty ? 0 : 2 + reusable.count
        for record in pending where !record.pages.isEmpty { total += 2 + record.pages.count }
        if !freedNow.isEmpty { total += 2 + freedNow.count }
        return total
    }

    /// The u64 words of the records, without the chain's `next` links.
    func words(adding freedNow: [UInt64], tag: UInt64) -> [UInt64] {
        var words: [UInt64] = []
        words.reserveCapacity(count + freedNow.count + 2 * (pending.count + 2))
        if !reusable.isEmpty {
            words.append(0)
            words.append(UInt64(reusable.count))
            words += reusable
        }
        for record in pending where !record.pages.isEmpty {
            words.append(record.txn)
            words.append(UInt64(record.pages.count))
            words += record.pages
        }
        if !freedNow.isEmpty {
            words.append(tag)
            words.append(UInt64(freedNow.count))
            words += freedNow
        }
        return words
    }

    /// Words of payload one free-list page holds (after its `next` link).
    static func wordsPerPage(pageSize: Int) -> Int { (pageSize - PageLayout.headerSize) / 8 - 1 }

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
