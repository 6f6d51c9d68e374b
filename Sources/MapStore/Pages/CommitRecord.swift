/// The page list of a commit too big for its meta page: a run of pages of kind
/// ``PageKind/commitRecord``, which the meta lists as its only run (``Meta/recordFlag``,
/// format version 5). The commit sets the run aside before it saves its free list and puts
/// it there, pending under the id two transactions later (Commit.swift, `reserveRecord`):
/// it stays intact as long as an open may fall back to the commit.
///
/// ```
/// 0..<32    page header   kind 6; runLength (28..<32) = pages in the run
/// 32..<40   runs          entries that follow
/// 40...     entries       16 bytes per run, as in a meta page's list:
///                         first page u64, pages u32, low 32 bits of its stored checksum u32
/// ```
///
/// The checksum covers the whole run. The record's header carries the commit's transaction
/// id and its own page number, and the meta lists its checksum, so an older record (or any
/// older page) at the same place never passes for this one.
enum CommitRecord {
    /// Where the run count and the entries start.
    static let countOffset = PageLayout.headerSize
    static let entriesOffset = PageLayout.headerSize + 8

    /// Pages of `pageSize` bytes a record of `runs` entries takes.
    static func pages(forRuns runs: Int, pageSize: Int) -> Int {
        (entriesOffset + runs * Meta.listEntrySize + pageSize - 1) / pageSize
    }

    /// Writes the record of `list` for commit `txnID` into `run`, a zeroed buffer of
    /// ``pages(forRuns:pageSize:)`` pages that goes to page `first`, and seals it (CRC-32C);
    /// returns its stored checksum.
    static func write(_ list: PageList, txnID: UInt64, first: UInt64, into run: Page, pages: Int) -> UInt64 {
        run.initialize(kind: .commitRecord, number: first, txnID: txnID)
        run.setU32(PageLayout.runLengthOffset, UInt32(pages))
        run.setU64(countOffset, UInt64(list.count))
        var offset = entriesOffset
        for entry in list.runs {
            run.setU64(offset, entry.page)
            run.setU32(offset + 8, UInt32(entry.pages))
            run.setU32(offset + 12, entry.checksum)
            offset += Meta.listEntrySize
        }
        let checksum = run.computeChecksum(.crc32c)
        run.setU64(PageLayout.checksumOffset, checksum)
        return checksum
    }

    /// Why the run `run` (read from page `first`, `pages` pages, its checksum already found
    /// whole) is not the record of commit `txnID`, or nil when it is.
    static func problem(in run: Page, first: UInt64, pages: Int, txnID: UInt64) -> String? {
        guard run.kind == PageKind.commitRecord.rawValue else { return "not a commit record (page kind \(run.kind))" }
        guard run.txnID == txnID, run.pageNumber == first else {
            return "the commit record of txn \(run.txnID) at page \(run.pageNumber), not commit \(txnID)'s at page \(first)"
        }
        guard Int(run.u32(PageLayout.runLengthOffset)) == pages else {
            return "a commit record of \(run.u32(PageLayout.runLengthOffset)) pages where its meta lists \(pages)"
        }
        let count = run.u64(countOffset)
        guard count >= 1, count <= UInt64((run.size - entriesOffset) / Meta.listEntrySize) else {
            return "a commit record counting \(count) runs, which its \(pages) pages cannot hold"
        }
        return nil
    }

    /// The runs the record `run` lists (checked by ``problem(in:first:pages:txnID:)``).
    static func count(in run: Page) -> Int { Int(run.u64(countOffset)) }

    /// Entry `index` of the record `run`.
    static func entry(_ index: Int, in run: Page) -> ListedRun {
        let offset = entriesOffset + index * Meta.listEntrySize
        return ListedRun(page: run.u64(offset), pages: Int(run.u32(offset + 8)), checksum: run.u32(offset + 12))
    }
}
