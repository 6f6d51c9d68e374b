import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// The one-sync commit (Commit.swift, ``Writer/makeDurable(_:durability:)``): a `.full` commit
/// writes its pages and a meta that lists them, then syncs once. These tests pin the rules that
/// make that safe, each on a real file.
@Suite struct OneSyncCommitTests {
    static let pageSize = Int(getpagesize())

    static func bytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

    /// The decoded record of each meta slot of `file`.
    static func slots(_ file: [UInt8]) -> [Meta.Decoded] {
        var copy = Array(file.prefix(2 * pageSize))
        return copy.withUnsafeMutableBytes { raw in
            (0..<2).map { slot in Meta.decode(Page(raw.baseAddress! + slot * pageSize, size: pageSize), slot: UInt64(slot)) }
        }
    }

    /// The file at `path` as a power cut before commit `txn`'s confirmation copy reached the
    /// disk leaves it: that copy's slot holds what it held in `earlier` (the commit before's meta).
    static func withoutConfirmation(of txn: UInt64, at path: String, earlier: [UInt8]) -> [UInt8] {
        var file = bytes(path)
        let slot = Int(1 - txn % 2) * pageSize
        file.replaceSubrange(slot..<(slot + pageSize), with: earlier[slot..<(slot + pageSize)])
        return file
    }

    /// `file` written as a database of its own in `dir`, opened.
    static func open(_ file: [UInt8], in dir: TemporaryDirectory) throws -> Database {
        let image = dir.file("image.mapstore")
        try Data(file).write(to: URL(fileURLWithPath: image))
        return try Database(path: image, options: .testing(durability: .full))
    }

    static func fill(_ db: Database, keys: Range<Int>) throws {
        try db.write { txn in for i in keys { try txn.put("key\(i)", "value \(i)") } }
    }

    /// A durable commit leaves its meta with a page list in its slot and, in the other, a
    /// confirmation copy: both name the same commit.
    @Test func aDurableCommitListsItsPagesAndIsConfirmed() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing(durability: .full))
        try Self.fill(db, keys: 0..<50)
        let txn = try db.read { $0.transactionID }
        let slots = Self.slots(Self.bytes(path))
        guard case let .valid(meta) = slots[Int(txn % 2)], case let .confirmation(copy) = slots[Int(1 - txn % 2)] else {
            Issue.record("slots: \(slots)")
            return
        }
        #expect(meta.txnID == txn && copy.txnID == txn)
        #expect(meta.listedRuns > 0, "the commit's meta lists the pages it wrote")
        #expect(copy.listedRuns == 0)
    }

    /// A damaged page of a commit that was confirmed on disk is damage, reported by `check` and
    /// by a read through it, never taken for a torn write and rolled back.
    @Test func aDamagedPageOfAConfirmedCommitIsReportedNotRolledBack() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let txn: UInt64
        let root: UInt64
        do {
            let db = try Database(path: path, options: .testing(durability: .full))
            try Self.fill(db, keys: 0..<200)
            (txn, root) = try db.read { ($0.transactionID, $0.base.main.root) }
        }
        var file = Self.bytes(path)
        // The page's last bytes: cells, which its checksum covers (a free gap's bytes are not).
        for offset in 0..<8 { file[Int(root) * Self.pageSize + Self.pageSize - 16 + offset] ^= 0xA5 }
        try Data(file).write(to: URL(fileURLWithPath: path))
        let db = try Database(path: path, options: .testing(durability: .full))
        #expect(try db.read { $0.transactionID } == txn, "opened at the confirmed commit")
        #expect(try db.check().contains { $0.page == root })
    }

    /// Without its confirmation (a power cut before it reached the disk), a commit whose listed
    /// page is stale (an older version) or torn is passed over for the commit before, which
    /// opens whole; with all its pages there it opens.
    @Test(arguments: ["stale", "torn", "whole"])
    func anUnconfirmedCommitOpensOnlyWithAllItsPages(damage: String) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing(durability: .full))
        try Self.fill(db, keys: 0..<100)
        let first = try db.read { $0.transactionID }
        let atFirst = Self.bytes(path)
        try db.write { txn in try txn.put("key7", "changed") }
        let second = try db.read { $0.transactionID }
        let root = try db.read { $0.base.main.root }
        var file = Self.withoutConfirmation(of: second, at: path, earlier: atFirst)
        let page = Int(root) * Self.pageSize
        switch damage {
        case "stale": file.replaceSubrange(page..<page + Self.pageSize, with: atFirst[page..<page + Self.pageSize])
        case "torn":
            // The last sector as it was before (or garbage where the page is new): the cells
            // there are covered by the checksum, unlike a free gap.
            for offset in (Self.pageSize - 512)..<Self.pageSize { file[page + offset] = atFirst.count > page + offset ? atFirst[page + offset] ^ 0xFF : 0xFF }
        default: break
        }
        let opened = try Self.open(file, in: dir)
        #expect(try opened.read { $0.transactionID } == (damage == "whole" ? second : first))
        #expect(try opened.read { try $0.getString("key7") } == (damage == "whole" ? "changed" : "value 7"))
        #expect(try opened.check() == [])
    }

    /// A commit killed in its one sync leaves its meta and pages in the page cache. Its own
    /// handle's readers never adopt it (it was never published), and the next open, finding
    /// every listed page there, does; the next commit takes two syncs, since that commit is
    /// not known to be on disk.
    @Test func aMetaWrittenBeforeItsSyncIsReadOnlyOnceAnOpenVerifiesIt() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        try Self.fill(try Database(path: path, options: .testing(durability: .full)), keys: 0..<20)
        let recorder = RecordingIO()
        var options = Options.testing(durability: .full)
        options.storageIO = recorder
        do {
            let db = try Database(path: path, options: options)
            let before = try db.read { $0.transactionID }
            recorder.failSync(after: 0)
            #expect(throws: MapStoreError.self) { try db.write { try $0.put("new", "value") } }
            #expect(try db.read { $0.transactionID } == before, "a reader does not adopt a commit nobody published")
            #expect(try db.read { try $0.getString("new") } == nil)
            let slots = Self.slots(Self.bytes(path))
            #expect(slots.contains { if case let .valid(meta) = $0 { meta.txnID == before + 1 } else { false } }, "the meta reached the file")
        }
        recorder.revive()
        // The next open must be alone to adopt the commit (with others on the file it opens at
        // the published one): wait out a parallel test's child that still holds our descriptor.
        try waitUntilNobodyHasItOpen(path)
        let reopened = try Database(path: path, options: options)
        #expect(try reopened.read { try $0.getString("new") } == "value")
        let syncsBefore = recorder.operations.filter { $0 == .sync }.count
        try reopened.write { try $0.put("later", "x") }
        #expect(recorder.operations.filter { $0 == .sync }.count - syncsBefore == 2, "pages first, then the meta")
        try reopened.write { try $0.put("later2", "x") }
        #expect(recorder.operations.filter { $0 == .sync }.count - syncsBefore == 3, "then one sync again")
        #expect(try reopened.check() == [])
    }

    /// A failed sync erases the commit's meta, so no later open adopts a commit whose caller
    /// was told it failed, even with every page of it in the page cache.
    @Test func aFailedSyncErasesTheMeta() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        try Self.fill(try Database(path: path, options: .testing(durability: .full)), keys: 0..<20)
        let io = FaultInjectingIO(failAt: 2, errno: EIO)  // the pages' pwritev, the meta's pwrite, then the sync
        var options = Options.testing(durability: .full)
        options.storageIO = io
        do {
            let db = try Database(path: path, options: options)
            #expect(throws: MapStoreError.self) { try db.write { try $0.put("new", "value") } }
            #expect(io.failed?.kind == "fdatasync")
        }
        let reopened = try Database(path: path, options: .testing(durability: .full))
        #expect(try reopened.read { try $0.getString("new") } == nil)
        #expect(try reopened.check() == [])
    }

    /// Growth writes zeros over the new pages for a transaction that syncs (they spare its
    /// fdatasync a journal commit) and not for `.none`, which never syncs: either way the data
    /// reads back whole, since nothing reads a grown page before a commit writes it.
    @Test(arguments: [Durability.none, .full])
    func growthZeroesThePagesOnlyForASyncingTransaction(_ durability: Durability) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let recorder = RecordingIO()
        var options = Options.testing(durability: durability)
        options.storageIO = recorder
        let value = [UInt8](repeating: 7, count: 3000)
        do {
            let db = try Database(path: path, options: options)
            for key in 0..<600 { try db.write { try $0.put(Array("key\(key)".utf8), value) } }
        }
        let kinds = recorder.calls.filter { $0.file == .data }.map(\.kind)
        #expect(kinds.filter { $0 == "fallocate" }.count >= 2, "the file grew past its first step")
        #expect(kinds.contains("zeroFill") == (durability != .none))
        let reopened = try Database(path: path, options: .testing(durability: .full))
        #expect(try reopened.read { try $0.get(Array("key599".utf8)) } == value)
        #expect(try reopened.check() == [])
    }

    /// Overflow values (one run each) that make a commit list more runs than its meta page holds.
    static let manyRuns = Meta.listCapacity(pageSize: pageSize) + 40

    /// Puts `manyRuns` overflow values named `prefix` in one transaction of `db`.
    static func putMany(_ db: Database, _ prefix: String) throws {
        try db.write { txn in
            for i in 0..<manyRuns { try txn.put(Array("\(prefix)-\(i)".utf8), [UInt8](repeating: UInt8(i % 251), count: 3000)) }
        }
    }

    /// A commit that wrote more runs than its meta page lists keeps its list in a record run
    /// and still takes one sync. Its confirmation copy names the record too, and `check` finds
    /// the record whole and its pages on the commit's free list.
    @Test func aCommitOfManyRunsListsThemInARecordRunAndSyncsOnce() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let recorder = RecordingIO()
        var options = Options.testing(durability: .full)
        options.storageIO = recorder
        let db = try Database(path: path, options: options)
        try Self.fill(db, keys: 0..<50)
        let before = recorder.operations.count
        try Self.putMany(db, "many")
        let syncs = recorder.operations[before...].filter { $0 == .sync }.count
        #expect(syncs == 1, "\(syncs) syncs for the commit")
        let txn = try db.read { $0.transactionID }
        let slots = Self.slots(Self.bytes(path))
        guard case let .valid(meta) = slots[Int(txn % 2)], case let .confirmation(copy) = slots[Int(1 - txn % 2)] else {
            Issue.record("slots: \(slots)")
            return
        }
        #expect(meta.recordPages >= 1 && meta.listedRuns == 1, "the meta lists one run, its record")
        #expect(copy.recordPages == meta.recordPages && copy.recordChecksum == meta.recordChecksum)
        let file = Self.bytes(path)
        let record = Int(meta.recordStart) * Self.pageSize
        #expect(file[record + PageLayout.kindOffset] == PageKind.commitRecord.rawValue)
        let count = file.withUnsafeBytes { raw in Int(raw.load(fromByteOffset: record + CommitRecord.countOffset, as: UInt64.self)) }
        #expect(count > Meta.listCapacity(pageSize: Self.pageSize), "the record lists \(count) runs")
        #expect(try db.check() == [])
        // The next commit lists in its meta page, and the record's pages stay accounted for.
        try db.write { try $0.put("after", "the record") }
        let next = try db.read { $0.base }
        #expect(next.recordPages == 0)
        #expect(try db.check() == [])
    }

    /// Without its confirmation, a commit with a record run opens only if the record and every
    /// run it lists are on disk as written: a torn or missing record, one of another commit,
    /// or a torn listed page passes it over for the commit before, which opens whole.
    @Test(arguments: ["record torn", "record missing", "another commit's record", "listed page torn", "whole"])
    func anUnconfirmedCommitWithARecordOpensOnlyWithAllOfIt(damage: String) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing(durability: .full))
        try Self.fill(db, keys: 0..<50)
        let first = try db.read { $0.transactionID }
        let atFirst = Self.bytes(path)
        try Self.putMany(db, "many")
        let second = try db.read { $0.base }
        #expect(second.recordPages >= 1)
        var file = Self.withoutConfirmation(of: second.txnID, at: path, earlier: atFirst)
        let record = Int(second.recordStart) * Self.pageSize
        let recordBytes = second.recordPages * Self.pageSize
        switch damage {
        case "record torn":
            for offset in (recordBytes - 512)..<recordBytes { file[record + offset] ^= 0xFF }
        case "record missing":
            file.replaceSubrange(record..<(record + recordBytes), with: [UInt8](repeating: 0, count: recordBytes))
        case "another commit's record":
            // Whole and a record, but of another transaction: its checksum is not the listed one.
            file.withUnsafeMutableBytes { raw in
                let page = Page(raw.baseAddress! + record, size: recordBytes)
                page.setU64(PageLayout.txnOffset, second.txnID - 2)
                page.setU64(PageLayout.checksumOffset, page.computeChecksum(.crc32c))
            }
        case "listed page torn":
            // An overflow run the record lists (its checksum covers every byte).
            let listed = file.withUnsafeMutableBytes { raw in
                let page = Page(raw.baseAddress! + record, size: recordBytes)
                return (0..<CommitRecord.count(in: page)).map { CommitRecord.entry($0, in: page) }
            }.first { file[Int($0.page) * Self.pageSize + PageLayout.kindOffset] == PageKind.overflow.rawValue }!
            let start = Int(listed.page) * Self.pageSize
            for offset in 0..<64 { file[start + listed.pages * Self.pageSize - 64 + offset] ^= 0x5A }
        default: break
        }
        let opened = try Self.open(file, in: dir)
        #expect(try opened.read { $0.transactionID } == (damage == "whole" ? second.txnID : first))
        #expect(try opened.read { try $0.get(Array("many-0".utf8)) } == (damage == "whole" ? [UInt8](repeating: 0, count: 3000) : nil))
        #expect(try opened.check() == [])
        // The writer goes on from there, and the next commit frees the record (when it was kept).
        try opened.write { try $0.put("next", "commit") }
        #expect(try opened.check() == [])
    }

    /// A backup or a replica's copy holds no record run: its meta lists none, and the record's
    /// pages, free in the commit's list, are free (zeros) in the copy, which checks clean.
    @Test func aCopyOfACommitWithARecordLeavesTheRecordOut() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing(durability: .full))
        try Self.fill(db, keys: 0..<50)
        try Self.putMany(db, "many")
        let base = try db.read { $0.base }
        #expect(base.recordPages >= 1)
        let copy = dir.file("backup.mapstore")
        try db.backup(to: copy)
        #expect(Self.bytes(copy).count == Int(base.pageCount) * Self.pageSize)
        let restored = try Database(path: copy, options: .testing(durability: .full))
        #expect(try restored.check() == [])
        #expect(try restored.read { $0.base.recordPages } == 0)
        #expect(try restored.read { try $0.get(Array("many-\(Self.manyRuns - 1)".utf8)) } == [UInt8](repeating: UInt8((Self.manyRuns - 1) % 251), count: 3000))
        let meta = try db.read { try $0.metaPageBytes() }
        #expect(meta[44] & UInt8(Meta.recordFlag) == 0)
        #expect(try db.read { $0.pageLayout.pageCount } == base.pageCount)
    }

    /// A file of format version 4 (the page list in the meta page only) opens as it is; its
    /// first commit writes a version-5 meta.
    @Test func aVersion4FileIsWrittenAsVersion5() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do {
            let db = try Database(path: path, options: .testing(durability: .full))
            try Self.fill(db, keys: 0..<50)
        }
        // Both slots rewritten as version 4 (their checksums with them): what a version-4 build left.
        var file = Self.bytes(path)
        file.withUnsafeMutableBytes { raw in
            for slot in 0..<2 {
                let page = Page(raw.baseAddress! + slot * Self.pageSize, size: Self.pageSize)
                page.setU32(16, Meta.inlineFreeListVersion)
                page.setU64(0, page.xxh64(8, Meta.length - 8))
            }
        }
        try Data(file).write(to: URL(fileURLWithPath: path))
        #expect(Self.slots(file).allSatisfy { if case .valid = $0 { true } else if case .confirmation = $0 { true } else { false } })
        let db = try Database(path: path, options: .testing(durability: .full))
        #expect(try db.read { try $0.getString("key7") } == "value 7")
        try Self.putMany(db, "many")
        let written = Self.bytes(path)
        let txn = try db.read { $0.transactionID }
        #expect(written.withUnsafeBytes { $0.load(fromByteOffset: Int(txn % 2) * Self.pageSize + 16, as: UInt32.self) } == Meta.commitRecordVersion)
        #expect(try db.check() == [])
    }

    /// A meta's record run round-trips through its encoding, and a record flag whose list is not
    /// one run inside the page count is damage, never a read past the list.
    @Test func aRecordFlagMustNameOneRunInsideThePageCount() {
        // (A meta is copied a dozen times per transaction: past 128 bytes each copy is a call.)
        #expect(MemoryLayout<Meta>.size <= 128, "\(MemoryLayout<Meta>.size) bytes")
        var meta = Meta.empty(pageSize: Self.pageSize, maxSize: 1 << 30)
        meta.txnID = 9
        meta.pageCount = 40
        meta.recordStart = 37
        meta.recordPages = 3
        meta.recordChecksum = 0xDEAD_BEEF
        var bytes = [UInt8](repeating: 0, count: Self.pageSize)
        bytes.withUnsafeMutableBytes { raw in
            let page = Page(raw.baseAddress!, size: Self.pageSize)
            meta.encode(into: page)
            guard case let .valid(decoded) = Meta.decode(page, slot: 1) else { Issue.record("not valid"); return }
            #expect(decoded.recordPages == 3 && decoded.recordStart == 37 && decoded.recordChecksum == 0xDEAD_BEEF && decoded.listedRuns == 1)
            // The page count moved below the run's end.
            page.setU64(72, 39)
            page.setU64(0, page.xxh64(8, Meta.length - 8))
            guard case .damaged = Meta.decode(page, slot: 1) else { Issue.record("a record past the page count passed"); return }
            // No list at all under the flag, in a page only as long as the record.
            page.setU64(72, 40)
            page.setU32(120, 0)
            page.setU32(124, 0)
            page.setU64(0, page.xxh64(8, Meta.length - 8))
            guard case .damaged = Meta.decode(Page(raw.baseAddress!, size: Meta.length), slot: 1) else { Issue.record("a flag without a list passed"); return }
            // A version-4 meta knows no record flag.
            page.setU32(16, Meta.inlineFreeListVersion)
            page.setU64(0, page.xxh64(8, Meta.length - 8))
            guard case .damaged = Meta.decode(page, slot: 1) else { Issue.record("a version-4 record flag passed"); return }
        }
    }

    /// Commits of many runs, one after another, keep the file's size bounded: each record's
    /// pages come back to the free list two commits later and are reused, as the pages of the
    /// values they replace are.
    @Test func recordsDoNotGrowTheFile() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing(durability: .full))
        var counts: [UInt64] = []
        for _ in 0..<40 {
            try Self.putMany(db, "many")
            let base = try db.read { $0.base }
            #expect(base.recordPages >= 1)
            counts.append(base.pageCount)
        }
        #expect(counts[39] == counts[9], "page counts after 10 and 40 commits: \(counts[9]), \(counts[39])")
        #expect(try db.check() == [])
    }
}
