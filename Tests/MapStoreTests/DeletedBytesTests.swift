import Foundation
import Testing
@testable import MapStore

/// Deleted and overwritten values never live on in what `compact` and `backup` write
/// (issue 15, item 5).
@Suite struct DeletedBytesTests {
    /// How often `marker` occurs in the file at `path`.
    static func occurrences(of marker: [UInt8], in path: String) throws -> Int {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return occurrences(of: marker, in: bytes)
    }

    static func occurrences(of marker: [UInt8], in bytes: [UInt8]) -> Int {
        guard let first = marker.first, bytes.count >= marker.count else { return 0 }
        var found = 0
        var index = 0
        let last = bytes.count - marker.count
        while index <= last {
            if bytes[index] == first, bytes[index..<(index + marker.count)].elementsEqual(marker) { found += 1 }
            index += 1
        }
        return found
    }

    /// The finding: 400 values overwritten with a marker, then each deleted or overwritten.
    static func fillWithDeletedMarkers(_ db: Database, marker: String) throws {
        try db.write { txn in for i in 0..<400 { try txn.put("key\(i)", String(repeating: "v", count: 40 + i % 60)) } }
        try db.write { txn in for i in 0..<400 { try txn.put("key\(i)", "\(marker)-\(i)") } }
        // A few long values (overflow runs) with the marker too.
        try db.write { txn in for i in 0..<8 { try txn.put("big\(i)", String(repeating: "\(marker)-big", count: 200)) } }
        try db.write { txn in
            for i in 0..<400 where i % 2 == 0 { try txn.delete("key\(i)") }
            for i in 0..<8 { try txn.delete("big\(i)") }
        }
        try db.write { txn in for i in 0..<400 where i % 2 == 1 { try txn.put("key\(i)", "plain value \(i)") } }
    }

    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func compactAndBackupCarryNoDeletedValue(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let marker = "ZQX-DELETED-MARKER-7f3a"
        let markerBytes = Array(marker.utf8)
        let db = try Database(path: dir.file(), options: .testing(mode))
        try Self.fillWithDeletedMarkers(db, marker: marker)
        #expect(try db.read { txn in try txn.count() } == 200)
        #expect(try db.check() == [])
        // The source file itself may still hold them (that is secureDelete's business).
        let cases: [(name: String, compact: Bool, gzip: Bool)] = [
            ("plain.mapstore", false, false), ("compact.mapstore", true, false), ("plain.mapstore.gz", false, true),
        ]
        for item in cases {
            let out = dir.file(item.name)
            try db.backup(to: out, compact: item.compact, compression: item.gzip ? .gzip : .none)
            var copy = out
            if item.gzip {
                copy = dir.file("restored-" + item.name)
                try Database.restoreBackup(from: out, to: copy)
            }
            let found = try Self.occurrences(of: markerBytes, in: copy)
            #expect(found == 0, "\(item.name) (\(mode)) holds \(found) copies of a deleted value")
            let restored = try Database(path: copy, options: .testing())
            #expect(try restored.check() == [])
            #expect(try restored.read { txn in try txn.count() } == 200)
        }
        for (index, arguments) in [["compact"], ["backup"], ["backup", "--compact"]].enumerated() {
            let out = dir.file("cli-\(index).mapstore")
            let run = try CLI.run(arguments + [dir.file(), out])
            #expect(run.status == 0, "mapstore \(arguments): \(run.err)")
            let found = try Self.occurrences(of: markerBytes, in: out)
            #expect(found == 0, "mapstore \(arguments) (\(mode)) wrote \(found) copies of a deleted value")
            #expect(try Database(path: out, options: .testing()).check() == [])
        }
    }
}
