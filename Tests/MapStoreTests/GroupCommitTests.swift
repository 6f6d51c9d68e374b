import Dispatch
import Foundation
import MapStoreTestSupport
import MetricsTestKit
import Testing
@testable import MapStore

/// Group commit (``Options/groupCommit``): concurrent durable writers share their syncs,
/// each is answered only once durable, and a crash before a group's meta finds the last
/// durable commit intact.
@Suite struct GroupCommitTests {
    static let sharedModes: [MappingMode] = [.readOnly, .writeMap]

    /// Keeps the database's writer thread busy, holding the writer lock, until ``letGo()``, so
    /// that async writers all queue up and the writer thread then takes them as one group.
    /// (The lock too: a lazy or `.none` write that finds it free commits on its own task.)
    final class WriterThreadHolder: @unchecked Sendable {
        let held = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)

        init(_ db: Database) {
            db.environment.writerQueue.async { [self] in
                try? db.environment.withWriter(timeout: nil) { _ in
                    held.signal()
                    release.wait()
                }
            }
            held.wait()
        }

        func letGo() { release.signal() }
    }

    /// Waits (without a deadline: a hang is a failure the test runner reports) until
    /// `count` callers are queued on the group-commit queue.
    static func waitForQueued(_ db: Database, _ count: Int) async {
        while db.environment.groupCommits.unanswered < count { await Task.yield() }
    }

    /// 64 concurrent durable writers cost a handful of syncs, not two each, and every
    /// acknowledged write is in the file when it is opened again.
    @Test(arguments: sharedModes)
    func concurrentWritersShareSyncs(mode: MappingMode) async throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let writers = 64
        let metrics = TestMetrics()
        var options = Options.testing(mode, durability: .full)
        options.groupCommit = true
        options.metricsFactory = metrics
        do {
            let db = try Database(path: path, options: options)
            let holder = WriterThreadHolder(db)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask { try await db.write { try $0.put("key\(writer)", "value\(writer)") } }
                }
                await Self.waitForQueued(db, writers)
                holder.letGo()
                try await group.waitForAll()
            }
            let dimensions = [("db", path)]
            let syncs = try metrics.expectCounter("mapstore_syncs_total", dimensions).totalValue
            // One group: one sync of its pages and its meta together (an msync in a write map).
            #expect(syncs == 1, "\(syncs) syncs for \(writers) durable commits")
            #expect(try metrics.expectCounter("mapstore_commits_total", dimensions).totalValue == Int64(writers))
        }
        let reopened = try Database(path: path, options: .testing(mode))
        for writer in 0..<writers {
            #expect(try await reopened.read { try $0.getString("key\(writer)") } == "value\(writer)")
        }
        #expect(try reopened.check() == [])
    }

    /// Without group commit the same writers sync once each: the comparison the test above
    /// relies on, so its bound means something.
    @Test func withoutGroupCommitEachWriterSyncs() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let metrics = TestMetrics()
        var options = Options.testing(.readOnly, durability: .full)
        options.metricsFactory = metrics
        options.groupCommit = false
        let db = try Database(path: path, options: options)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask { try await db.write { try $0.put("key\(writer)", "value") } }
            }
            try await group.waitForAll()
        }
        #expect(try metrics.expectCounter("mapstore_syncs_total", [("db", path)]).totalValue == 8)
    }

    struct Refused: Error {}

    /// A transaction that throws is rolled back alone; the rest of its group commits.
    @Test func aFailingTransactionIsRolledBackAlone() async throws {
        let dir = TemporaryDirectory()
        var options = Options.testing(.readOnly, durability: .full)
        options.groupCommit = true
        let db = try Database(path: dir.file(), options: options)
        let holder = WriterThreadHolder(db)
        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for writer in 0..<10 {
                group.addTask {
                    do {
                        try await db.write { txn in
                            try txn.put("key\(writer)", "value")
                            if writer % 3 == 0 { throw Refused() }
                        }
                        return (writer, true)
                    } catch is Refused {
                        return (writer, false)
                    }
                }
            }
            await Self.waitForQueued(db, 10)
            holder.letGo()
            return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        for writer in 0..<10 {
            #expect(outcomes[writer] == (writer % 3 != 0))
            let stored = try await db.read { try $0.getString("key\(writer)") }
            #expect(stored == (writer % 3 == 0 ? nil : "value"))
        }
        #expect(try db.check() == [])
    }

    /// The two meta slots of the file: the transaction id in each, nil where invalid.
    static func metaSlots(_ path: String, pageSize: Int) throws -> [UInt64?] {
        metaSlots(try Data(contentsOf: URL(fileURLWithPath: path)), pageSize: pageSize)
    }

    /// The two meta slots at the start of `bytes`.
    static func metaSlots(_ bytes: Data, pageSize: Int) -> [UInt64?] {
        bytes.withUnsafeBytes { raw in
            (0..<2).map { slot -> UInt64? in
                let page = Page(UnsafeMutableRawPointer(mutating: raw.baseAddress! + slot * pageSize), size: pageSize)
                if case let .valid(meta) = Meta.decode(page, slot: UInt64(slot)) { return meta.txnID }
                return nil
            }
        }
    }

    /// A group's meta never lands in the slot of the last durable commit (an even group
    /// ends with an empty commit), and a crash before that meta is written — the file with
    /// every page the group wrote and the metas as they were before it — opens at the last
    /// durable commit, intact: the group reused none of its pages although its transactions
    /// freed and took many. (Once the group is durable its confirmation copy replaces that
    /// commit's meta.)
    @Test(arguments: sharedModes)
    func aCrashBeforeTheGroupsMetaFindsTheDurableCommit(mode: MappingMode) async throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        var options = Options.testing(mode, durability: .full)
        options.groupCommit = true
        let value = String(repeating: "d", count: 300)
        var durableTxn: UInt64 = 0
        var metasBefore = Data()
        var pageSize = 0
        do {
            let db = try Database(path: path, options: options)
            pageSize = db.pageSize
            try await db.write { txn in
                for key in 0..<400 { try txn.put("key\(key)", value) }
            }
            durableTxn = try db.stat().transactionID
            metasBefore = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(2 * pageSize)
            let holder = WriterThreadHolder(db)
            let writers = 6  // even: the group needs its empty closing commit
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        try await db.write { txn in
                            // Each rewrites every leaf: pages freed here are what the next one would take.
                            for key in 0..<400 { try txn.put("key\(key)", "w\(writer)") }
                        }
                    }
                }
                await Self.waitForQueued(db, writers)
                holder.letGo()
                try await group.waitForAll()
            }
            #expect(try await db.read { try $0.getString("key7") }?.hasPrefix("w") == true)
        }
        let slots = try Self.metaSlots(path, pageSize: pageSize)
        let newest = try #require(slots.compactMap { $0 }.max())
        #expect(newest > durableTxn)
        #expect(newest % 2 != durableTxn % 2)
        #expect(Self.metaSlots(Data(metasBefore), pageSize: pageSize).contains(durableTxn))

        let crashed = dir.file("crashed.mapstore")
        var image = try Data(contentsOf: URL(fileURLWithPath: path))
        image.replaceSubrange(0..<(2 * pageSize), with: metasBefore)
        try image.write(to: URL(fileURLWithPath: crashed))
        let db = try Database(path: crashed, options: .testing(mode))
        #expect(try db.stat().transactionID == durableTxn)
        #expect(try db.check() == [])
        for key in 0..<400 {
            #expect(try await db.read { try $0.getString("key\(key)") } == value)
        }
    }
}
