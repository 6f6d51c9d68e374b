import MapStoreTestSupport
import Testing
@testable import MapStore

/// The free list is written incrementally: a commit writes about one chain page, links to the
/// pages earlier commits froze, and thaws them as it needs pages (docs/format.md, "Free list").
@Suite struct FreeListTests {
    /// The chain of the newest commit: each page's number and the transaction that wrote it.
    static func chain(_ db: Database) throws -> [(number: UInt64, txn: UInt64)] {
        try db.read { txn in
            var pages: [(number: UInt64, txn: UInt64)] = []
            var number = txn.base.freeListRoot
            while number != 0 {
                let page = try txn.pages.readPage(number)
                pages.append((number, page.txnID))
                number = page.u64(PageLayout.headerSize)
            }
            return pages
        }
    }

    static func key(_ i: Int) -> String { "key-\(String(i * 7919 % 100_003, radix: 10))-\(i)" }

    /// A database with a long free list: many keys, most of them deleted in big transactions.
    static func databaseWithLongFreeList(_ path: String, mode: MappingMode) throws -> Database {
        let db = try Database(path: path, options: .testing(mode))
        let value = [UInt8](repeating: 0xAB, count: 200)
        for batch in 0..<20 {
            try db.write { txn in for i in (batch * 1000)..<((batch + 1) * 1000) { try txn.put(key(i), value) } }
        }
        for batch in 0..<18 {
            try db.write { txn in for i in (batch * 1000)..<((batch + 1) * 1000) { try txn.delete(key(i)) } }
        }
        return db
    }

    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func singleDeletesWriteAboutOneChainPage(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let db = try Self.databaseWithLongFreeList(dir.file(), mode: mode)
        let before = try Self.chain(db)
        #expect(before.count >= 4, "the list spans \(before.count) chain pages")
        var most = 0
        var inline = 0
        for i in 18_000..<18_400 {
            try db.write { txn throws in #expect(try txn.delete(Self.key(i))) }
            let newest = try db.read { $0.transactionID }
            let chain = try Self.chain(db)
            // Pages this commit wrote, against the whole chain it leaves.
            let written = chain.filter { $0.txn == newest }.count
            most = max(most, written)
            if written == 0, try db.read({ $0.base.freeListWordCount }) > 0 { inline += 1 }
        }
        #expect(most <= 2, "a single-delete commit wrote \(most) chain pages")
        // The working part fits the meta page (format version 4) but after a thaw.
        #expect(inline >= 350, "\(inline) of 400 commits wrote their working part inline and no chain page")
        let after = try Self.chain(db)
        // Only the last big commit's working page leaves the chain (its records go inline).
        #expect(after.count + 1 >= before.count, "the list only grows: \(before.count) -> \(after.count) chain pages")
        #expect(try db.check() == [])
        for i in 18_400..<20_000 { #expect(try db.read { try $0.get(Self.key(i)) } != nil) }
    }

    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func frozenPagesAreReusedAndTheFileStopsGrowing(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let db = try Self.databaseWithLongFreeList(dir.file(), mode: mode)
        let used = try db.stat().usedPages
        let free = try db.stat().freePages
        // Refilling takes the free pages back (thawing frozen chain pages) before the file grows.
        let value = [UInt8](repeating: 0xCD, count: 200)
        for i in 0..<6000 { try db.write { txn in try txn.put(Self.key(i), value) } }
        let stat = try db.stat()
        #expect(stat.usedPages == used, "used pages \(used) -> \(stat.usedPages), \(free) were free")
        #expect(stat.freePages < free)
        #expect(try db.check() == [])
    }

    @Test func aReopenedListIsLinkedToNotRewritten() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do { _ = try Self.databaseWithLongFreeList(path, mode: .readOnly) }
        let db = try Database(path: path, options: .testing())
        let before = try Self.chain(db)
        try db.write { txn throws in #expect(try txn.delete(Self.key(19_999))) }
        let newest = try db.read { $0.transactionID }
        let after = try Self.chain(db)
        #expect(after.filter { $0.txn == newest }.count <= 2)
        // The pages written before the reopen are still in the chain, untouched.
        #expect(Set(before.dropFirst().map(\.number)).isSubset(of: Set(after.map(\.number))))
        #expect(try db.check() == [])
    }

    @Test func aReaderKeepsThePagesOfFrozenRecords() throws {
        let dir = TemporaryDirectory()
        let db = try Self.databaseWithLongFreeList(dir.file(), mode: .readOnly)
        let value = [UInt8](repeating: 0x11, count: 200)
        try db.read { reader in
            // Churn while the reader is open: nothing it reaches may be reused.
            for i in 18_000..<18_300 { try db.write { txn in try txn.put(Self.key(i), value) } }
            for i in 18_000..<18_300 { #expect(try reader.get(Self.key(i)) == [UInt8](repeating: 0xAB, count: 200)) }
        }
        for i in 18_000..<18_300 { #expect(try db.read { try $0.get(Self.key(i)) } == value) }
        #expect(try db.check() == [])
    }

    /// A reader that keeps starting again a few dozen commits behind the writer (the bench's
    /// readwhilewriting) must not make the file grow while the list holds reusable pages:
    /// records freed since the reader began get frozen on top of older, reusable ones, and
    /// those must still be found.
    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func aReaderLaggingBehindTheWriterDoesNotGrowTheFile(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let db = try Self.databaseWithLongFreeList(dir.file(), mode: mode)
        let before = try db.stat()
        let value = [UInt8](repeating: 0x22, count: 200)
        var next = 0
        for _ in 0..<60 {
            try db.read { reader in
                for _ in 0..<40 {
                    let i = 18_000 + (next * 7919) % 2000
                    next += 1
                    try db.write { txn in try txn.put(Self.key(i), value) }
                }
                #expect(try reader.get(Self.key(19_999)) != nil)
            }
        }
        let after = try db.stat()
        // 2,400 commits of a few pages each, never more than 40 behind a reader, against
        // more than a thousand free pages: the list always has room.
        #expect(after.usedPages == before.usedPages,
                "pages in use \(before.usedPages) -> \(after.usedPages) (\(before.freePages) were free)")
        #expect(try db.check() == [])
    }

    @Test func snapshotsTakeTheWholeListInHand() throws {
        let dir = TemporaryDirectory()
        let db = try Self.databaseWithLongFreeList(dir.file(), mode: .readOnly)
        try db.createSnapshot("kept")
        for i in 18_000..<18_200 { try db.write { txn in _ = try txn.delete(Self.key(i)) } }
        #expect(try db.check() == [])
        #expect(try db.deleteSnapshot("kept"))
        for i in 18_200..<18_400 { try db.write { txn in _ = try txn.delete(Self.key(i)) } }
        #expect(try db.check() == [])
        #expect(try db.read { try $0.count() } == 1600)
    }

    @Test func everyChainPageHoldsWholeRecords() throws {
        let dir = TemporaryDirectory()
        let db = try Self.databaseWithLongFreeList(dir.file(), mode: .readOnly)
        for i in 18_000..<18_100 { try db.write { txn throws in #expect(try txn.delete(Self.key(i))) } }
        let (all, perPage) = try db.read { txn in
            let words = try txn.freeListWords()
            #expect(words.count == txn.base.freeListWordCount && !words.isEmpty)
            let (list, _) = try FreeListChain.load(of: txn.base, inline: words, source: txn.pages)
            let inline = try #require(FreeList.parsePage(words[...], pageCount: txn.base.pageCount), "inline words")
            var perPage = inline.reduce(0) { $0 + $1.pages.count }
            var number = txn.base.freeListRoot
            while number != 0 {
                let page = try txn.pages.readPage(number)
                let words = (1..<page.count).map { page.u64(PageLayout.headerSize + 8 * $0) }
                let records = try #require(FreeList.parsePage(words[...], pageCount: txn.base.pageCount), "page \(number)")
                perPage += records.reduce(0) { $0 + $1.pages.count }
                number = page.u64(PageLayout.headerSize)
            }
            return (list.count, perPage)
        }
        #expect(all == perPage && all > 1000, "\(all) free pages, \(perPage) counted page by page")
        // A record cut at a page's end is not a page of whole records.
        #expect(FreeList.parsePage([0, 3, 5, 6][...], pageCount: 20_000) == nil)
        #expect(FreeList.parsePage([0, 2, 5, 6][...], pageCount: 20_000)?.first?.pages == [5, 6])
    }
}
