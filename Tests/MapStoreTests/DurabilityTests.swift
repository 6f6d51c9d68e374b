import Foundation
import MapStoreTestSupport
import Synchronization
import Testing
@testable import MapStore

@Suite struct DurabilityTests {
    static func fileBytes(_ path: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: path) ?? Data())
    }

    @Test func privateCopyOnWriteNeverChangesTheFile() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do {
            let db = try Database(path: path, options: .testing(.readOnly, durability: .full))
            try db.write { txn in for i in 0..<500 { try txn.put("k\(i)", "original \(i)") } }
        }
        let before = Self.fileBytes(path)
        do {
            let scratch = try Database(path: path, options: .testing(.privateCopyOnWrite))
            try scratch.write { txn throws in
                for i in 0..<500 { try txn.put("k\(i)", "changed \(i)") }
                for i in 0..<3000 { try txn.put("new\(i)", String(repeating: "x", count: 200)) }
            }
            #expect(try scratch.read { try $0.getString("k7") } == "changed 7")
            #expect(try scratch.read { try $0.getString("new2999") }?.count == 200)
            #expect(try scratch.check() == [])
            #expect(Self.fileBytes(path) == before, "the file's bytes are unchanged while the private map is open")
        }
        #expect(Self.fileBytes(path) == before)
        let reopened = try Database(path: path, options: .testing())
        #expect(try reopened.read { try $0.getString("k7") } == "original 7")
        #expect(try reopened.read { try $0.get("new1") } == nil)
    }

    @Test func tornNewestMetaFallsBackToThePreviousCommit() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let pageSize = Int(getpagesize())
        let slot1AtFirst: Data
        do {
            let db = try Database(path: path, options: .testing(durability: .full))
            try db.write { try $0.put("a", "first") }   // txn 1 -> slot 1 (its confirmation -> slot 0)
            slot1AtFirst = try Data(contentsOf: URL(fileURLWithPath: path))[pageSize..<(2 * pageSize)]
            try db.write { try $0.put("a", "second") }  // txn 2 -> slot 0 (its confirmation -> slot 1)
        }
        let garbage = Data((0..<pageSize).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) })
        // Garbage over the newest meta (slot 0, txn 2) of a commit confirmed on disk: its
        // confirmation copy in slot 1 opens it.
        let confirmed = dir.file("confirmed.mapstore")
        var image = try Data(contentsOf: URL(fileURLWithPath: path))
        image.replaceSubrange(0..<pageSize, with: garbage)
        try image.write(to: URL(fileURLWithPath: confirmed))
        #expect(try Database(path: confirmed, options: .testing()).read { try $0.getString("a") } == "second")
        // A torn write of meta 2 before its sync returned: slot 1 still holds commit 1's meta.
        image.replaceSubrange(pageSize..<(2 * pageSize), with: slot1AtFirst)
        try image.write(to: URL(fileURLWithPath: path))
        let db = try Database(path: path, options: .testing())
        #expect(try db.read { try $0.getString("a") } == "first")
        #expect(try db.read { $0.transactionID } == 1)
        #expect(try db.check() == [])
        // The next commit goes to the damaged slot and the database moves on.
        try db.write { try $0.put("a", "third") }
        #expect(try db.read { try $0.getString("a") } == "third")
        #expect(try db.check() == [])
    }

    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func overwritesKeepTheFileBounded(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing(mode))
        var sizes: [Int] = []
        for round in 0..<200 {
            try db.write { txn throws in
                for i in 0..<200 { try txn.put("key\(i)", String(repeating: "v\(round)", count: 20)) }
            }
            sizes.append(try db.stat().usedPages)
        }
        // Freed pages come back once no reader can see them: the file stops growing.
        #expect(sizes[199] == sizes[100], "used pages \(sizes[100]) -> \(sizes[199])")
        #expect(try db.check() == [])
    }

    @Test func aLongLivedReaderPinsItsPages() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<200 { try txn.put("key\(i)", "v0") } }
        try db.read { reader in
            for round in 1...50 {
                try db.write { txn in for i in 0..<200 { try txn.put("key\(i)", "v\(round)") } }
            }
            // Every page the reader can reach is intact after 50 commits that freed them.
            for i in 0..<200 { #expect(try reader.getString("key\(i)") == "v0") }
            let grownWhilePinned = try db.stat().usedPages
            #expect(grownWhilePinned > 50, "pinned pages cannot be reused")
        }
        #expect(try db.read { try $0.getString("key5") } == "v50")
        #expect(try db.check() == [])
    }

    @Test func readersKeepTheirSnapshotWhileAWriterCommits() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<100 { try txn.put("account\(i)", "100") } }
        let commits = 300
        let violations = Mutex(0)
        // Three threads: one writer, two readers.
        DispatchQueue.concurrentPerform(iterations: 3) { thread in
            if thread == 0 {
                for round in 0..<commits {
                    try? db.write { txn throws in
                        // Move 1 from one account to another: the total stays 10,000.
                        let from = "account\(round % 100)", to = "account\((round * 7 + 3) % 100)"
                        let a = Int(try txn.getString(from)!)!, b = Int(try txn.getString(to)!)!
                        try txn.put(from, String(a - 1))
                        try txn.put(to, String(b + 1))
                    }
                }
                return
            }
            for _ in 0..<200 {
                let ok = (try? db.read { txn in
                    var total = 0
                    for (_, value) in try txn.entries() { total += Int(String(decoding: value, as: UTF8.self))! }
                    let first = txn.transactionID
                    // The same snapshot read twice gives the same sum.
                    var again = 0
                    for i in 0..<100 { again += Int(try txn.getString("account\(i)")!)! }
                    return total == 10_000 && again == 10_000 && txn.transactionID == first
                }) ?? false
                if !ok { violations.withLock { $0 += 1 } }
            }
        }
        #expect(violations.withLock { $0 } == 0)
        #expect(try db.read { $0.transactionID } == UInt64(commits + 1))
        #expect(try db.check() == [])
    }
}
