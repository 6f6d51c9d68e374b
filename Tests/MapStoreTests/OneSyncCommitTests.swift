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
        var file = Self.bytes(path)
        // Drop the confirmation: the slot holds the first commit's meta again, as before the copy.
        let confirmationSlot = Int(1 - second % 2)
        file.replaceSubrange(confirmationSlot * Self.pageSize..<(confirmationSlot + 1) * Self.pageSize,
                             with: atFirst[confirmationSlot * Self.pageSize..<(confirmationSlot + 1) * Self.pageSize])
        let page = Int(root) * Self.pageSize
        switch damage {
        case "stale": file.replaceSubrange(page..<page + Self.pageSize, with: atFirst[page..<page + Self.pageSize])
        case "torn":
            // The last sector as it was before (or garbage where the page is new): the cells
            // there are covered by the checksum, unlike a free gap.
            for offset in (Self.pageSize - 512)..<Self.pageSize { file[page + offset] = atFirst.count > page + offset ? atFirst[page + offset] ^ 0xFF : 0xFF }
        default: break
        }
        let image = dir.file("image.mapstore")
        try Data(file).write(to: URL(fileURLWithPath: image))
        let opened = try Database(path: image, options: .testing(durability: .full))
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
}
