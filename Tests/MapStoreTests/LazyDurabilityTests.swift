import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// ``Durability/lazy``: commits are written and published without a sync, until the bytes
/// written, the time since the last sync, or the page list's size makes one commit sync for
/// all of them. The crash images (CrashImageTests) prove what a power cut leaves; these tests
/// pin the rules on a real file: how many syncs, which meta slot, and what a reopen sees.
@Suite struct LazyDurabilityTests {
    static let pageSize = Int(getpagesize())

    /// Options for a lazy handle that syncs only when `bytes` have been written (never by time).
    static func lazy(_ mode: MappingMode = .readOnly, bytes: Int = 1 << 30, recorder: RecordingIO) -> Options {
        var options = Options.testing(mode, durability: .lazy)
        options.lazySyncBytes = bytes
        options.lazySyncInterval = .seconds(3600)
        options.storageIO = recorder
        return options
    }

    static func syncs(_ recorder: RecordingIO) -> Int { recorder.operations.filter { $0 == .sync }.count }

    /// The slot and transaction id of every meta record written (confirmation copies aside).
    static func metaWrites(_ recorder: RecordingIO) -> [(slot: Int, txn: UInt64)] {
        recorder.operations.compactMap { operation in
            guard case let .write(offset, bytes) = operation, offset < 2 * pageSize, offset % pageSize == 0,
                  bytes.count >= Meta.length, bytes.count <= pageSize, bytes[44] & UInt8(Meta.confirmationFlag) == 0 else { return nil }
            return (offset / pageSize, (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[24 + $1]) << (8 * $1) })
        }
    }

    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func lazyCommitsDoNotSyncUntilSyncIsCalled(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let recorder = RecordingIO()
        let db = try Database(path: path, options: Self.lazy(mode, recorder: recorder))
        try db.write { try $0.put("first", "commit") }
        let afterFirst = Self.syncs(recorder)
        for i in 0..<40 { try db.write { try $0.put("key\(i)", "value \(i)") } }
        #expect(Self.syncs(recorder) == afterFirst, "40 lazy commits made \(Self.syncs(recorder) - afterFirst) syncs")
        // Visible to a reader at once, durable or not.
        #expect(try db.read { try $0.get("key39") } == Array("value 39".utf8))
        try db.sync()
        #expect(Self.syncs(recorder) == afterFirst + 1, "sync() is one fdatasync")
        try db.sync()
        #expect(Self.syncs(recorder) == afterFirst + 2)
        #expect(try db.check() == [])
    }

    /// Between two syncs every lazy meta goes into one slot: the other holds the last synced
    /// commit, which a power cut falls back to.
    @Test func lazyMetasKeepOutOfTheLastSyncedCommitsSlot() throws {
        let dir = TemporaryDirectory()
        let recorder = RecordingIO()
        let db = try Database(path: dir.file(), options: Self.lazy(bytes: 48 << 10, recorder: recorder))
        for i in 0..<60 {
            let promised = try db.write { txn in
                try txn.put("key\(i % 20)", String(repeating: "v", count: 300 + i))
                return txn.committingTransactionID
            }
            #expect(try db.read { $0.transactionID } == promised, "commit \(i) has the id its transaction said it would")
        }
        var windows: [[Int]] = [[]]
        var syncedSlot: Int?
        var checked = 0
        for operation in recorder.operations {
            if operation == .sync {
                if let last = windows[windows.count - 1].last { syncedSlot = last }
                windows.append([])
                continue
            }
            guard case let .write(offset, bytes) = operation, offset < 2 * Self.pageSize, offset % Self.pageSize == 0,
                  bytes.count >= Meta.length, bytes.count <= Self.pageSize, bytes[44] & UInt8(Meta.confirmationFlag) == 0 else { continue }
            let slot = offset / Self.pageSize
            if let syncedSlot {
                #expect(slot != syncedSlot, "a meta written into the slot of the last synced commit")
                checked += 1
            }
            windows[windows.count - 1].append(slot)
        }
        let syncs = windows.count - 1
        #expect(syncs >= 3 && syncs <= 30, "\(syncs) syncs for 60 commits of about 4 KiB each with a 48 KiB limit")
        #expect(checked > 30, "\(checked) metas checked")
        // Ids skip where a lazy commit after a lazy one needed the other slot's parity.
        let txns = Self.metaWrites(recorder).map(\.txn)
        #expect(txns == txns.sorted() && Set(txns).count == txns.count, "ids only grow")
        #expect(try db.read { $0.transactionID } == txns.last!)
    }

    /// The lazy commits a handle made reach the disk when its last handle closes, and a reopen
    /// (another environment, as another process would be) has every one.
    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func closingSyncsAndAReopenHasEveryCommit(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let recorder = RecordingIO()
        var syncsBeforeClose = 0
        do {
            let db = try Database(path: path, options: Self.lazy(mode, recorder: recorder))
            try db.write { try $0.put("first", "commit") }
            for i in 0..<25 { try db.write { try $0.put("key\(i)", "value \(i)") } }
            syncsBeforeClose = Self.syncs(recorder)
        }
        #expect(Self.syncs(recorder) == syncsBeforeClose + 1, "closing syncs the lazy commits")
        let reopened = try Database(path: path, options: .testing(mode))
        #expect(try reopened.read { txn in try txn.count() } == 26)
        #expect(try reopened.check() == [])
    }

    /// A `.full` commit after lazy ones (another handle of the file in this process) makes
    /// all of them durable with its one sync: its page list runs on from theirs.
    @Test func aFullCommitAfterLazyOnesSyncsOnce() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let recorder = RecordingIO()
        let lazy = try Database(path: path, options: Self.lazy(recorder: recorder))
        try lazy.write { try $0.put("first", "commit") }
        for i in 0..<10 { try lazy.write { try $0.put("key\(i)", "value \(i)") } }
        var fullOptions = Options.testing(durability: .full)
        fullOptions.storageIO = recorder
        let full = try Database(path: path, options: fullOptions)
        let before = Self.syncs(recorder)
        try full.write { try $0.put("durable", "now") }
        #expect(Self.syncs(recorder) == before + 1, "one sync for the .full commit and the lazy ones before it")
        let metas = Self.metaWrites(recorder)
        let newest = metas.last!
        let slots = OneSyncCommitTests.slots(OneSyncCommitTests.bytes(path))
        guard case let .valid(meta) = slots[newest.slot] else {
            Issue.record("slot \(newest.slot): \(slots[newest.slot])")
            return
        }
        #expect(meta.txnID == newest.txn)
        // (Only the runs the newest commit still reaches: each lazy commit freed the last one's.)
        #expect(meta.listedRuns > 0, "a listed meta: the one-sync commit")
        #expect(try full.check() == [])
    }

    /// Pages the last synced commit reaches wait for the sync when lazy commits free them;
    /// pages the lazy commits wrote themselves and freed again are reused at once (only
    /// readers hold them back). A burst of overwrites so barely grows the file, and the synced
    /// commit stays whole: with the lazy metas lost, a copy of the file opens at it.
    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func lazyCommitsReuseOnlyPagesTheSyncedCommitNeverReached(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let recorder = RecordingIO()
        let db = try Database(path: path, options: Self.lazy(mode, recorder: recorder))
        try db.write { txn in for i in 0..<200 { try txn.put("key\(i)", String(repeating: "x", count: 100)) } }
        try db.sync()
        let (start, synced) = try db.read { ($0.base.pageCount, $0.transactionID) }
        let syncs = Self.syncs(recorder)
        for round in 0..<300 {
            try db.write { try $0.put("key\(round % 200)", String(repeating: "y", count: 100 + round % 7)) }
        }
        let afterBurst = try db.read { $0.base.pageCount }
        #expect(Self.syncs(recorder) == syncs, "the burst stayed lazy")
        // Each overwrite frees a leaf and its branches: 300 new pages at least if none came back.
        #expect(afterBurst - start < 60, "300 lazy overwrites took \(afterBurst - start) new pages")
        #expect(try db.check() == [])

        // A power cut that kept every page write and lost every lazy meta: the slot of the
        // synced commit is all that is left, and its tree must be there page for page.
        var image = try Data(contentsOf: URL(fileURLWithPath: path))
        let lazySlot = Int(1 - synced % 2)
        image.replaceSubrange(lazySlot * Self.pageSize..<(lazySlot + 1) * Self.pageSize, with: Data(count: Self.pageSize))
        let copy = dir.file("image")
        try image.write(to: URL(fileURLWithPath: copy))
        let reopened = try Database(path: copy, options: .testing(.readOnly))
        let (id, values) = try reopened.read { txn in (txn.transactionID, try (0..<200).map { try txn.get("key\($0)") }) }
        #expect(id == synced)
        #expect(values == Array(repeating: Array(String(repeating: "x", count: 100).utf8), count: 200))
        #expect(try reopened.check() == [])
    }

    /// A reader holds back the pages lazy commits free after its snapshot, young or not: what
    /// it reads stays as it was through a burst of lazy overwrites, checksums verified.
    @Test func aReaderKeepsThePagesOfItsLazyCommit() throws {
        let dir = TemporaryDirectory()
        let recorder = RecordingIO()
        var options = Self.lazy(recorder: recorder)
        options.verifyChecksums = true
        let db = try Database(path: dir.file(), options: options)
        try db.write { txn in for i in 0..<100 { try txn.put("key\(i)", "first \(i)") } }
        try db.sync()
        // Lazy commits before the reader, so that its tree holds pages written since the sync.
        for i in 0..<100 { try db.write { try $0.put("key\(i)", "second \(i)") } }
        let seen = try db.read { reader in
            for round in 0..<300 { try db.write { try $0.put("key\(round % 100)", "third \(round)") } }
            return try (0..<100).map { try reader.get("key\($0)") }
        }
        #expect(seen == (0..<100).map { Array("second \($0)".utf8) })
        try db.write { try $0.put("after", "reader") }
        #expect(try db.check() == [])
    }

    /// Set on the writer queue: read in a transaction, it tells whether that runs there.
    static let onWriterQueue = DispatchSpecificKey<Bool>()

    /// An async lazy (or `.none`) write whose commit will not sync runs on the calling task,
    /// with group commit or without: the writer thread is for waiting on the disk.
    @Test(arguments: [Durability.lazy, .none], [false, true])
    func anAsyncWriteThatWillNotSyncRunsOnTheCallingTask(durability: Durability, groupCommit: Bool) async throws {
        let dir = TemporaryDirectory()
        var options = Options.testing(durability: durability)
        options.groupCommit = groupCommit
        options.lazySyncInterval = .seconds(3600)
        let db = try Database(path: dir.file(), options: options)
        try await db.write { try $0.put("first", "commit") }
        db.environment.writerQueue.setSpecific(key: Self.onWriterQueue, value: true)
        for i in 0..<20 {
            let hopped = try await db.write { txn in
                try txn.put("key\(i)", "value")
                return DispatchQueue.getSpecific(key: Self.onWriterQueue) ?? false
            }
            #expect(!hopped, "write \(i) hopped to the writer thread")
        }
        // One that is due to sync goes to the writer thread.
        if durability == .lazy {
            var due = options
            due.lazySyncInterval = .zero
            let syncing = try Database(path: dir.file(), options: due)
            let hopped = try await syncing.write { txn in
                try txn.put("synced", "value")
                return DispatchQueue.getSpecific(key: Self.onWriterQueue) ?? false
            }
            #expect(hopped, "a write due to sync runs on the writer thread")
        }
        #expect(try await db.read { try $0.count() } == 21 + (durability == .lazy ? 1 : 0))
    }
}
