import Foundation
import MapStoreTestSupport
import Synchronization
import Testing
@testable import MapStore

/// Named snapshots against a model: every snapshot must read exactly the state it pinned,
/// whatever commits, restores, deletes and reopens follow, and `check()` must stay clean.
@Suite struct SnapshotTests {
    typealias Model = [[UInt8]: [UInt8]]

    static func contents(_ txn: ReadTransaction) throws -> Model {
        var result: Model = [:]
        for entry in try txn.entries() { result[entry.key] = entry.value }
        #expect(result.count == (try txn.count()))
        return result
    }

    static func mutate(_ db: Database, _ model: inout Model, _ rng: inout SeededGenerator, commits: Int) throws {
        for _ in 0..<commits {
            try db.write { txn throws in
                for _ in 0..<Int.random(in: 1...40, using: &rng) {
                    let key = ModelTests.randomKey(&rng, space: 600)
                    if Int.random(in: 0..<10, using: &rng) < 7 {
                        let value = ModelTests.randomValue(&rng)
                        try txn.put(key, value)
                        model[key] = value
                    } else {
                        _ = try txn.delete(key)
                        model.removeValue(forKey: key)
                    }
                }
            }
        }
    }

    static func expectSnapshots(_ db: Database, _ snapshots: [String: Model], _ context: String) throws {
        for (name, expected) in snapshots {
            let found = try db.read(snapshot: name) { try contents($0) }
            #expect(found == expected, "snapshot \(name) \(context)")
        }
        #expect(try db.snapshots().map(\.name) == snapshots.keys.sorted(), "\(context)")
        #expect(try db.check() == [], "\(context)")
    }

    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func snapshotsReadTheirModelStateThroughCommitsRestoresAndReopens(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        var rng = SeededGenerator(seed: 7 + UInt64(mode == .writeMap ? 1 : 0))
        var model: Model = [:]
        var snapshots: [String: Model] = [:]
        do {
            let db = try Database(path: path, options: .testing(mode))
            for round in 0..<6 {
                try Self.mutate(db, &model, &rng, commits: 15)
                let info = try db.createSnapshot("s\(round)")
                #expect(info.entries == model.count)
                snapshots["s\(round)"] = model
                try Self.expectSnapshots(db, snapshots, "after round \(round)")
            }
            #expect(throws: MapStoreError.self) { try db.createSnapshot("s0") }
            try Self.mutate(db, &model, &rng, commits: 40)
            try Self.expectSnapshots(db, snapshots, "after 40 more commits")
            #expect(try db.read { try Self.contents($0) } == model)
            #expect(try db.stat().snapshots == 6)
        }
        do {
            let db = try Database(path: path, options: .testing(mode))
            try Self.expectSnapshots(db, snapshots, "after reopen")
            // Restore an old snapshot: current state becomes it, the others stay intact.
            try db.restore(snapshot: "s2")
            model = snapshots["s2"]!
            #expect(try db.read { try Self.contents($0) } == model)
            try Self.expectSnapshots(db, snapshots, "after restore")
            try Self.mutate(db, &model, &rng, commits: 20)
            try Self.expectSnapshots(db, snapshots, "after changes on the restored state")
            #expect(try db.read { try Self.contents($0) } == model)
            // Delete some; the rest still read right.
            #expect(try db.deleteSnapshot("s0"))
            #expect(try db.deleteSnapshot("s4"))
            #expect(try !db.deleteSnapshot("s4"))
            snapshots["s0"] = nil
            snapshots["s4"] = nil
            try Self.mutate(db, &model, &rng, commits: 20)
            try Self.expectSnapshots(db, snapshots, "after deletes")
            #expect(throws: MapStoreError.self) { try db.read(snapshot: "s0") { _ in 0 } }
        }
        do {
            let db = try Database(path: path, options: .testing(mode))
            try Self.expectSnapshots(db, snapshots, "after second reopen")
            #expect(try db.read { try Self.contents($0) } == model)
        }
    }

    @Test func tablesAreSnapshottedAndRestoredWithTheMainTree() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn throws in
            try txn.put("k", "v1")
            try txn.table("orders").put("o1", "apples")
        }
        try db.createSnapshot("before")
        try db.write { txn throws in
            try txn.put("k", "v2")
            _ = try txn.dropTable("orders")
            try txn.table("people").put("p1", "ann")
        }
        try db.read(snapshot: "before") { txn throws in
            #expect(try txn.getString("k") == "v1")
            #expect(try txn.tableNames() == ["orders"])
            #expect(try txn.table("orders").get("o1") == Array("apples".utf8))
        }
        #expect(try db.check() == [])
        try db.restore(snapshot: "before")
        try db.read { txn throws in
            #expect(try txn.getString("k") == "v1")
            #expect(try txn.tableNames() == ["orders"])
        }
        #expect(try db.check() == [])
    }

    @Test func restoreCopiesNoDataPages() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<2000 { try txn.put("key\(i)", [UInt8](repeating: UInt8(i % 200), count: 100)) } }
        try db.createSnapshot("full")
        try db.write { txn in for i in 0..<2000 where i % 3 == 0 { try txn.delete("key\(i)") } }
        let before = try db.stat().usedPages
        try db.restore(snapshot: "full")
        // A restore writes only the meta and the free list: the file hardly grows.
        #expect(try db.stat().usedPages <= before + 2)
        #expect(try db.read { try $0.count() } == 2000)
        #expect(try db.check() == [])
    }

    @Test func deletingSnapshotsKeepsTheFileBounded() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        func rewriteAll(_ round: Int) throws {
            try db.write { txn in for i in 0..<400 { try txn.put("key\(i)", [UInt8](repeating: UInt8(round % 256), count: 100)) } }
        }
        try rewriteAll(0)
        var sizes: [Int] = []
        for round in 0..<30 {
            try db.createSnapshot("round")
            for commit in 0..<5 { try rewriteAll(round * 10 + commit) }
            // The snapshot pins the whole old tree: every page was rewritten since.
            let pinned = try db.snapshots().first?.pinnedPages ?? 0
            #expect(pinned > 0)
            #expect(try db.deleteSnapshot("round"))
            try rewriteAll(round)
            try rewriteAll(round + 1)
            sizes.append(try db.stat().usedPages)
        }
        // Deleted snapshots' pages are reused: the file stops growing after the first rounds.
        #expect(sizes[29] <= sizes[4], "used pages \(sizes)")
        #expect(try db.check() == [])
    }

    @Test func aSnapshotPinsItsPagesAgainstReuse() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<500 { try txn.put("key\(i)", "first") } }
        try db.createSnapshot("pin")
        // Rewrite everything many times: without the pin the pages would cycle through reuse.
        for round in 0..<20 {
            try db.write { txn in for i in 0..<500 { try txn.put("key\(i)", "round \(round)") } }
        }
        try db.read(snapshot: "pin") { txn throws in
            for i in 0..<500 { #expect(try txn.getString("key\(i)") == "first") }
        }
        #expect(try db.check() == [])
    }

    @Test func aSnapshotCostsOnlyThePagesItReaches() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<2000 { try txn.put("key\(i)", [UInt8](repeating: 1, count: 100)) } }
        let tree = try db.stat().usedPages
        try db.createSnapshot("pin")
        for round in 0..<30 {
            try db.write { txn in for i in 0..<2000 { try txn.put("key\(i)", [UInt8](repeating: UInt8(round), count: 100)) } }
        }
        // The snapshot keeps its own tree; the 29 trees written and freed since are reused.
        let used = try db.stat().usedPages
        #expect(used <= 3 * tree + 20, "used \(used) pages for a tree of \(tree)")
        #expect(try db.snapshots().first?.pinnedPages ?? 0 >= tree - 10)
        try db.read(snapshot: "pin") { txn throws in
            #expect(try txn.get("key7") == [UInt8](repeating: 1, count: 100))
        }
        #expect(try db.check() == [])
    }

    @Test func aReaderOfADeletedSnapshotKeepsItsPagesUntilItEnds() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<1000 { try txn.put("key\(i)", "old \(i)") } }
        try db.createSnapshot("s")
        try db.write { txn in for i in 0..<1000 { try txn.put("key\(i)", "new \(i)") } }
        try db.read(snapshot: "s") { txn throws in
            #expect(try txn.getString("key1") == "old 1")
            // Delete the snapshot and churn while this reader still reads it.
            #expect(try db.deleteSnapshot("s"))
            for round in 0..<10 {
                try db.write { w in for i in 0..<1000 { try w.put("key\(i)", "round \(round) \(i)") } }
            }
            for i in 0..<1000 { #expect(try txn.getString("key\(i)") == "old \(i)") }
        }
        #expect(try db.check() == [])
        #expect(try db.read { try $0.getString("key5") } == "round 9 5")
    }

    @Test func readersOfSnapshotsOnOtherThreadsSeeTheirStateWhileSnapshotsComeAndGo() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        // Snapshot "sN" holds every key with the value "N".
        let live = Mutex<[Int]>([])
        let stop = Atomic<Bool>(false)
        let failures = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        func rewrite(_ round: Int) throws {
            try db.write { txn in for i in 0..<300 { try txn.put("key\(i)", "\(round)") } }
        }
        try rewrite(0)
        var threads: [Thread] = []
        for seed in 0..<2 {
            let thread = Thread {
                var rng = SeededGenerator(seed: UInt64(seed))
                while !stop.load(ordering: .relaxed) {
                    guard let round = live.withLock({ $0.randomElement(using: &rng) }) else { continue }
                    do {
                        let values = try db.read(snapshot: "s\(round)") { txn in
                            Set(try txn.entries().map { String(decoding: $0.value, as: UTF8.self) })
                        }
                        if values != ["\(round)"] { failures.add(1, ordering: .relaxed) }
                        reads.add(1, ordering: .relaxed)
                    } catch MapStoreError.invalidArgument {
                        // Deleted between the choice and the read.
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                }
            }
            threads.append(thread)
            thread.start()
        }
        for round in 1...40 {
            try rewrite(round)
            try db.createSnapshot("s\(round)")
            live.withLock { $0.append(round) }
            if round > 3 {
                let victim = live.withLock { $0.removeFirst() }
                try db.deleteSnapshot("s\(victim)")
            }
        }
        // A hang guard, not a timing assertion: readers that stop making progress fail the
        // test instead of spinning it for ever.
        let deadline = ContinuousClock.now + .seconds(300)
        while reads.load(ordering: .relaxed) < 200, ContinuousClock.now < deadline { usleep(1000) }
        #expect(reads.load(ordering: .relaxed) >= 200, "the readers made 200 reads of live snapshots")
        stop.store(true, ordering: .relaxed)
        while threads.contains(where: { !$0.isFinished }) { usleep(1000) }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(try db.check() == [])
        #expect(try db.snapshots().count == 3)
    }

    @Test func seededDamageToADatabaseWithSnapshotsNeverCrashes() throws {
        let dir = TemporaryDirectory()
        let pristine = dir.file("pristine.mapstore")
        do {
            let db = try Database(path: pristine, options: .testing())
            try db.write { txn in for i in 0..<600 { try txn.put("key\(i)", "value \(i)") } }
            for name in ["a", "b", "c"] {
                try db.createSnapshot(name)
                try db.write { txn in for i in stride(from: 0, to: 600, by: 3) { try txn.put("key\(i)", "\(name) \(i)") } }
            }
            #expect(try db.check() == [])
        }
        let original = [UInt8](FileManager.default.contents(atPath: pristine)!)
        let pageCount = try Database(path: pristine, options: .testing()).read { Int($0.base.pageCount) }
        var rng = SeededGenerator(seed: 42)
        var reported = 0
        for trial in 0..<(longMode ? 2000 : 150) {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let offset = Int.random(in: 0..<(pageCount * Syscalls.pageSize), using: &rng)
                bytes[offset] ^= UInt8.random(in: 1...255, using: &rng)
            }
            let path = dir.file("trial\(trial).mapstore")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            // Data or a MapStoreError: never a trap.
            guard let db = try? Database(path: path, options: .testing()) else { continue }
            if let problems = try? db.check(), !problems.isEmpty { reported += 1 }
            for snapshot in (try? db.snapshots()) ?? [] {
                _ = try? db.read(snapshot: snapshot.name) { txn in _ = try txn.entries() }
            }
            _ = try? db.stat()
        }
        #expect(reported > 0)
    }

    @Test func checkReportsADamagedSnapshotPage() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        var snapshotOnly: UInt64 = 0
        do {
            let db = try Database(path: path, options: .testing())
            try db.write { txn in for i in 0..<300 { try txn.put("key\(i)", "old") } }
            try db.createSnapshot("old")
            try db.write { txn in for i in 0..<300 { try txn.put("key\(i)", "new value") } }
            #expect(try db.check() == [])
            // A page only the snapshot reaches: the snapshot's root.
            snapshotOnly = try db.read { txn throws in
                try SnapshotCatalog.find("old", in: txn.base.catalog, source: txn.pages, pageCount: txn.base.pageCount)!.main.root
            }
            #expect(try db.read { $0.base.main.root } != snapshotOnly)
        }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: (snapshotOnly + 1) * UInt64(Syscalls.pageSize) - 8)  // in the cell area
        try handle.write(contentsOf: Data([0xAB, 0xCD]))
        try handle.close()
        let db = try Database(path: path, options: .testing())
        let problems = try db.check()
        #expect(problems.contains { $0.page == snapshotOnly }, "\(problems)")
        #expect(try db.read { try $0.count() } == 300)
    }
}
