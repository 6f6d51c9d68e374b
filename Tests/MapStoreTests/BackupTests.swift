import Foundation
import MapStoreTestSupport
import Synchronization
import Testing
@testable import MapStore

/// Hot backups (plain, compacted, gzip) and restore, on real files.
@Suite struct BackupTests {
    typealias Model = [[UInt8]: [UInt8]]

    static func contents(_ db: Database) throws -> Model {
        try db.read { txn in
            var result: Model = [:]
            for entry in try txn.entries() { result[entry.key] = entry.value }
            return result
        }
    }

    static func fill(_ db: Database) throws {
        try db.write { txn in
            for i in 0..<3000 { try txn.put("key\(i)", [UInt8](repeating: UInt8(i % 251), count: 50 + i % 200)) }
            try txn.put("big", [UInt8](repeating: 7, count: 30_000))
            try txn.table("orders").put(Array("o1".utf8), Array("apples".utf8))
            try txn.table("orders").put(Array("o2".utf8), [UInt8](repeating: 9, count: 9000))
        }
        // Churn so the file has free pages for compaction to drop.
        try db.write { txn in for i in stride(from: 0, to: 3000, by: 2) { try txn.delete("key\(i)") } }
    }

    static func tables(_ db: Database) throws -> [String: Model] {
        try db.read { txn in
            var result: [String: Model] = [:]
            for name in try txn.tableNames() {
                var model: Model = [:]
                for entry in try txn.table(name).entries() { model[entry.key] = entry.value }
                result[name] = model
            }
            return result
        }
    }

    @Test(arguments: [(false, BackupCompression.none), (true, .none), (false, .gzip), (true, .gzip)])
    func backupThenRestoreGivesTheSameDatabase(compact: Bool, compression: BackupCompression) throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try Self.fill(db)
        try db.createSnapshot("snap")
        // Pages the snapshot alone reaches now wait on the free list; the plain copy keeps them.
        try db.write { txn in for i in stride(from: 1, to: 3000, by: 4) { try txn.delete("key\(i)") } }
        try db.write { txn in try txn.put("key1", "again") }
        let snapshotState = try db.read(snapshot: "snap") { txn in
            var result: Model = [:]
            for entry in try txn.entries() { result[entry.key] = entry.value }
            return result
        }
        let out = dir.file("backup" + (compression == .gzip ? ".mapstore.gz" : ".mapstore"))
        let report = try db.backup(to: out, compact: compact, compression: compression)
        let used = try db.stat()
        if compact {
            #expect(report.pages < used.usedPages, "compaction drops free pages")
        } else {
            #expect(report.pages == used.usedPages)
        }
        let restoredPath = dir.file("restored.mapstore")
        let restoredReport = try Database.restoreBackup(from: out, to: restoredPath)
        let directory = (restoredPath as NSString).deletingLastPathComponent
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".restore-") }
        #expect(leftovers.isEmpty, "a restore leaves no temporary file or lock file behind")
        #expect(restoredReport.wasGzip == (compression == .gzip))
        let restored = try Database(path: restoredPath, options: .testing())
        #expect(try Self.contents(restored) == (try Self.contents(db)))
        #expect(try Self.tables(restored) == (try Self.tables(db)))
        #expect(try restored.check() == [])
        let stat = try restored.stat()
        if compact {
            #expect(stat.freePages == 0 && stat.snapshots == 0)
        } else {
            #expect(try restored.snapshots().map(\.name) == ["snap"])
            let restoredSnapshot = try restored.read(snapshot: "snap") { txn in
                var result: Model = [:]
                for entry in try txn.entries() { result[entry.key] = entry.value }
                return result
            }
            #expect(restoredSnapshot == snapshotState)
            if compression == .none {
                // Free pages no snapshot reaches are written as zeros.
                let bytes = try Data(contentsOf: URL(fileURLWithPath: out))
                let pageSize = db.pageSize
                let zeroPages = (2..<(bytes.count / pageSize)).filter { page in
                    bytes[(page * pageSize)..<((page + 1) * pageSize)].allSatisfy { $0 == 0 }
                }.count
                #expect(zeroPages > 0 && zeroPages <= used.freePages, "\(zeroPages) zero pages of \(used.freePages) free")
            }
        }
        // The restored database takes writes.
        try restored.write { txn in try txn.put("after", "restore") }
        #expect(try restored.check() == [])
    }

    @Test func gunzipAcceptsAGzipBackup() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try Self.fill(db)
        let plain = dir.file("plain.mapstore")
        let gzip = dir.file("copy.mapstore.gz")
        try db.backup(to: plain)
        try db.backup(to: gzip, compression: .gzip)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gunzip", "-k", gzip]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let unzipped = try Data(contentsOf: URL(fileURLWithPath: dir.file("copy.mapstore")))
        #expect(unzipped == (try Data(contentsOf: URL(fileURLWithPath: plain))))
        let compressed = try Data(contentsOf: URL(fileURLWithPath: gzip)).count
        #expect(compressed < unzipped.count / 2)
    }

    @Test func backupWhileAWriterCommitsHoldsExactlyOneCommit() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        // Every commit writes the same counter into all keys: a mix of two commits would show two values.
        try db.write { txn in for i in 0..<800 { try txn.put("key\(i)", "0") } }
        let stop = Atomic<Bool>(false)
        let writer = Thread {
            var round = 1
            while !stop.load(ordering: .relaxed) {
                try? db.write { txn in for i in 0..<800 { try txn.put("key\(i)", "\(round)") } }
                round += 1
            }
        }
        writer.start()
        defer { stop.store(true, ordering: .relaxed) }
        var seen: Set<String> = []
        for attempt in 0..<8 {
            let out = dir.file("backup\(attempt)")
            try db.backup(to: out, compact: attempt % 2 == 1, compression: attempt % 4 >= 2 ? .gzip : .none)
            let restoredPath = dir.file("restored\(attempt)")
            try Database.restoreBackup(from: out, to: restoredPath)
            let restored = try Database(path: restoredPath, options: .testing())
            let values = Set(try Self.contents(restored).values.map { String(decoding: $0, as: UTF8.self) })
            #expect(values.count == 1, "backup \(attempt) mixes commits: \(values.sorted())")
            #expect(try restored.read { try $0.count() } == 800)
            seen.formUnion(values)
        }
        stop.store(true, ordering: .relaxed)
        #expect(seen.count > 1, "the writer committed between backups")
    }

    static func damagedRestoreChangesNothing(_ backup: String, target: String) throws {
        let before = FileManager.default.fileExists(atPath: target) ? try Data(contentsOf: URL(fileURLWithPath: target)) : nil
        #expect(throws: MapStoreError.self) { try Database.restoreBackup(from: backup, to: target, overwrite: true) }
        let after = FileManager.default.fileExists(atPath: target) ? try Data(contentsOf: URL(fileURLWithPath: target)) : nil
        #expect(before == after)
        let directory = (target as NSString).deletingLastPathComponent
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".restore-") }
        #expect(leftovers.isEmpty)
    }

    @Test func damagedBackupsAreRefusedAndChangeNothing() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try Self.fill(db)
        let gzip = dir.file("b.gz")
        let plain = dir.file("b.plain")
        try db.backup(to: gzip, compression: .gzip)
        try db.backup(to: plain, compact: true)
        let gz = try Data(contentsOf: URL(fileURLWithPath: gzip))
        let truncated = dir.file("truncated.gz")
        try gz.prefix(gz.count * 2 / 3).write(to: URL(fileURLWithPath: truncated))
        // A flipped byte in the gzip trailer's CRC-32 is always caught by the gzip check. (One in
        // the middle of the deflate stream usually is too, but can leave the inflated bytes
        // unchanged, say in the code length of a symbol the stream never uses:
        // aFlipInsideTheDeflateStreamNeverRestoresWrongData.)
        var flipped = gz
        flipped[gz.count - 8] ^= 0x40
        let flippedPath = dir.file("flipped.gz")
        try flipped.write(to: URL(fileURLWithPath: flippedPath))
        var plainBytes = try Data(contentsOf: URL(fileURLWithPath: plain))
        plainBytes[plainBytes.count - 100] ^= 0x01  // inside the last (reachable) page's cells
        let flippedPlain = dir.file("flipped.plain")
        try plainBytes.write(to: URL(fileURLWithPath: flippedPlain))
        for backup in [truncated, flippedPath, flippedPlain] {
            try Self.damagedRestoreChangesNothing(backup, target: dir.file("new.mapstore"))
            #expect(!FileManager.default.fileExists(atPath: dir.file("new.mapstore")))
            try Self.damagedRestoreChangesNothing(backup, target: dir.file())
        }
        #expect(throws: MapStoreError.self) { try Database.restoreBackup(from: plain, to: dir.file()) }
    }

    /// A byte flipped anywhere in a gzip backup either makes the restore fail, changing
    /// nothing, or leaves the inflated bytes as they were (the gzip CRC-32 checks them), so
    /// the restored database is the one backed up. Never wrong data.
    @Test func aFlipInsideTheDeflateStreamNeverRestoresWrongData() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try Self.fill(db)
        let expected = try Self.tables(db)
        let gzip = dir.file("b.gz")
        try db.backup(to: gzip, compression: .gzip)
        let gz = try Data(contentsOf: URL(fileURLWithPath: gzip))
        var refused = 0
        for position in stride(from: 10, to: gz.count - 8, by: max(1, (gz.count - 18) / 24)) {
            var flipped = gz
            flipped[position] ^= 0x40
            let path = dir.file("flipped-\(position).gz")
            try flipped.write(to: URL(fileURLWithPath: path))
            let target = dir.file("restored-\(position).mapstore")
            do {
                try Database.restoreBackup(from: path, to: target)
            } catch {
                refused += 1
                #expect(!FileManager.default.fileExists(atPath: target), "byte \(position): a refused restore leaves no file")
                continue
            }
            let restored = try Database(path: target, options: .testing())
            #expect(try Self.tables(restored) == expected, "byte \(position): restored, so it must be the database backed up")
            #expect(try restored.check() == [])
        }
        #expect(refused > 0, "some flips are caught")
    }
}
