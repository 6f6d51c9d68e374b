import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// The free list's working part inline in the meta page (format version 4; docs/format.md,
/// "Free list"): covered by the meta's checksums, carried by confirmation copies, and read by
/// whoever needs a commit's list before the commit two later overwrites its meta page.
@Suite struct InlineFreeListTests {
    static let pageSize = Int(getpagesize())

    /// A database whose last commits freed pages: small commits after a bigger one.
    static func makeDatabase(_ path: String, durability: Durability) throws {
        let db = try Database(path: path, options: .testing(durability: durability))
        try db.write { txn in for i in 0..<2000 { try txn.put("key\(i)", "value \(i)") } }
        for i in 0..<20 { try db.write { txn in try txn.put("key\(i * 13)", "changed \(i)") } }
    }

    /// The newest commit's id and its meta's inline word count, read from the file.
    static func newest(_ path: String) throws -> (txn: UInt64, words: Int) {
        try Database(path: path, options: .testing()).read { ($0.transactionID, $0.base.freeListWordCount) }
    }

    /// Flips one byte of the first inline word in meta slot `slot` (the record and its XXH64
    /// stay whole: only the list checksum can tell).
    static func damageWords(_ path: String, slot: Int) throws {
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        let base = slot * pageSize
        let runs = bytes.withUnsafeBytes { Int($0.loadUnaligned(fromByteOffset: base + 120, as: UInt32.self).littleEndian) }
        bytes[base + Meta.listOffset + runs * Meta.listEntrySize] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A database made with `durability` whose newest commit's inline words were then damaged
    /// in its own meta slot; returns that commit's id and word count.
    static func damagedNewest(_ path: String, durability: Durability) throws -> (txn: UInt64, words: Int) {
        try makeDatabase(path, durability: durability)
        let (txn, words) = try newest(path)
        #expect(words > 0)
        try damageWords(path, slot: Int(txn % 2))
        return (txn, words)
    }

    /// ``makeDatabase(_:durability:)`` with `.none` in `dir`, opened.
    static func openedDatabase(in dir: TemporaryDirectory) throws -> Database {
        let path = dir.file()
        try makeDatabase(path, durability: .none)
        return try Database(path: path, options: .testing())
    }

    @Test func smallCommitsWriteTheirFreeListInline() throws {
        let dir = TemporaryDirectory()
        let db = try Self.openedDatabase(in: dir)
        try db.read { txn in
            #expect(txn.base.freeListWordCount > 0)
            let words = try txn.freeListWords()
            #expect(words.count == txn.base.freeListWordCount)
            // Whole records, of pages inside the file, and the pages the last commit freed among them.
            let records = try #require(FreeList.parsePage(words[...], pageCount: txn.base.pageCount))
            #expect(records.contains { $0.txn == txn.transactionID && !$0.pages.isEmpty })
        }
        #expect(try db.check() == [])
    }

    @Test func tornInlineWordsFailTheirMetaAndOpenFallsBack() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let (txn, _) = try Self.damagedNewest(path, durability: .none)
        let db = try Database(path: path, options: .testing())
        #expect(try db.read { $0.transactionID } == txn - 1, "the damaged meta is passed over")
        #expect(try db.read { try $0.get("key234") } == Array("changed 18".utf8))
        #expect(try db.read { try $0.get("key247") } == Array("value 247".utf8))
        #expect(try db.check() == [])
        try db.write { try $0.put("after", "fallback") }
        #expect(try db.check() == [])
    }

    /// A `.full` commit's confirmation copy carries the words: with its own slot damaged, the
    /// commit opens from the copy, whole, and the next writer takes its free list from there.
    @Test func aConfirmationCopyCarriesTheInlineFreeList() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let (txn, words) = try Self.damagedNewest(path, durability: .full)
        let db = try Database(path: path, options: .testing(durability: .full))
        #expect(try db.read { $0.transactionID } == txn, "the confirmation copy stands for the commit")
        #expect(try db.read { try $0.freeListWords().count } == words)
        #expect(try db.check() == [])
        for i in 0..<10 { try db.write { try $0.put("after\(i)", "\(i)") } }
        #expect(try db.check() == [])
        #expect(try db.read { try $0.get("key247") } == Array("changed 19".utf8))
    }

    /// A reader asks for its commit's list at the start; asked two commits too late, it is
    /// told so, while `check` and `stat` start again by themselves.
    @Test func aReaderReadsTheWordsBeforeTheirMetaPageIsOverwritten() throws {
        let dir = TemporaryDirectory()
        let db = try Self.openedDatabase(in: dir)
        try db.read { early in
            let words = try early.freeListWords()
            try db.read { late in
                for i in 0..<2 { try db.write { try $0.put("moved\(i)", "on") } }
                #expect(try early.freeListWords() == words, "kept from the first read")
                let (list, _) = try FreeListChain.load(of: early.base, inline: words, source: early.pages)
                #expect(list.count > 0)
                #expect {
                    _ = try late.freeListWords()
                } throws: { error in
                    (error as? MapStoreError)?.code == "locked"
                }
            }
        }
        let writing = Thread {
            for i in 0..<400 { _ = try? db.write { try $0.put("busy\(i % 20)", "\(i)") } }
        }
        writing.start()
        for _ in 0..<20 {
            #expect(try db.check() == [])
            #expect(try db.stat().freePages >= 0)
        }
        while writing.isExecuting || !writing.isFinished { usleep(1000) }
        #expect(try db.check() == [])
    }
}
