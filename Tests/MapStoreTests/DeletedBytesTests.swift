import Foundation
import MapStoreTestSupport
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
        var options = Options.testing(mode)
        options.secureDelete = false
        let db = try Database(path: dir.file(), options: options)
        try Self.fillWithDeletedMarkers(db, marker: marker)
        #expect(try db.read { txn in try txn.count() } == 200)
        #expect(try db.check() == [])
        // Without secureDelete the file itself still holds them: the copies must not.
        #expect(try Self.occurrences(of: markerBytes, in: dir.file()) > 0)
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

    // MARK: secureDelete, against a model

    /// A distinctive 24-byte marker: `@@` and 22 random capital letters.
    static func marker(_ random: inout SeededGenerator) -> String {
        "@@" + String((0..<22).map { _ in Character(UnicodeScalar(UInt8.random(in: 65...90, using: &random))) })
    }

    /// A value made of copies of `marker`: inline or, now and then, an overflow run.
    static func value(_ marker: String, _ random: inout SeededGenerator) -> [UInt8] {
        let copies = Int.random(in: 0..<10, using: &random) == 0 ? Int.random(in: 50...250, using: &random) : Int.random(in: 1...12, using: &random)
        return Array(String(repeating: marker, count: copies).utf8)
    }

    /// Every marker (`@@` and 22 capital letters) found in the file at `path`.
    static func markers(in path: String) throws -> Set<String> {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var found: Set<String> = []
        var index = 0
        while index + 24 <= bytes.count {
            if bytes[index] == 64, bytes[index + 1] == 64, bytes[(index + 2)..<(index + 24)].allSatisfy({ $0 >= 65 && $0 <= 90 }) {
                found.insert(String(decoding: bytes[index..<(index + 24)], as: UTF8.self))
                index += 24
            } else {
                index += 1
            }
        }
        return found
    }

    /// Seeded puts, overwrites and deletes, with a reader holding an old commit for a while.
    /// Once the reader is gone and two later commits are durable, the file holds no marker of
    /// a deleted or overwritten value when secureDelete is on; a compacted copy and a plain
    /// backup never do. Every live value's marker is still there, and `check` passes on all.
    @Test(arguments: [
        (MappingMode.readOnly, Durability.full, true), (.writeMap, .full, true), (.readOnly, .noMetaSync, true),
        (.writeMap, .noMetaSync, true), (.readOnly, .full, false),
    ])
    func secureDeleteLeavesNoDeletedValueInTheFile(mode: MappingMode, durability: Durability, secureDelete: Bool) throws {
        let dir = TemporaryDirectory()
        var options = Options.testing(mode, durability: durability)
        options.secureDelete = secureDelete
        let db = try Database(path: dir.file(), options: options)
        var random = SeededGenerator(seed: 0x5EC0_DE1E)
        var model: [String: (marker: String, value: [UInt8])] = [:]
        var dead: Set<String> = []
        let keys = (0..<120).map { "key-\($0)" }
        // A reader that holds the commit after round 10 until round 25 and then reads it whole.
        let readerStarted = DispatchSemaphore(value: 0)
        let readerGo = DispatchSemaphore(value: 0)
        let readerDone = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var readerSaw: [String: [UInt8]] = [:]
        nonisolated(unsafe) var readerError: (any Error)?
        var readerExpected: [String: [UInt8]] = [:]
        for round in 0..<40 {
            if round == 10 {
                readerExpected = model.mapValues(\.value)
                Thread {
                    do {
                        try db.read { txn in
                            readerStarted.signal()
                            readerGo.wait()
                            for entry in try txn.entries() { readerSaw[String(decoding: entry.key, as: UTF8.self)] = entry.value }
                        }
                    } catch { readerError = error }
                    readerDone.signal()
                }.start()
                readerStarted.wait()
            }
            if round == 25 {
                readerGo.signal()
                readerDone.wait()
                #expect(readerError == nil)
                #expect(readerSaw == readerExpected, "a reader's commit stays whole while it reads")
            }
            try db.write { txn in
                for _ in 0..<Int.random(in: 1...12, using: &random) {
                    let key = keys.randomElement(using: &random)!
                    if Int.random(in: 0..<3, using: &random) == 0 {
                        if let old = model.removeValue(forKey: key) {
                            dead.insert(old.marker)
                            #expect(try txn.delete(key))
                        }
                    } else {
                        let marker = Self.marker(&random)
                        let value = Self.value(marker, &random)
                        if let old = model.updateValue((marker, value), forKey: key) { dead.insert(old.marker) }
                        try txn.put(key, value)
                    }
                }
            }
        }
        // Many overflow runs freed by one commit (more than a free-list page holds, so most of
        // its record is frozen in chain pages), and values put and deleted by the same
        // transaction (in a writable map their pages were written).
        var many: [String] = []
        try db.write { txn in
            for i in 0..<150 {
                let marker = Self.marker(&random)
                many.append(marker)
                try txn.put("many-\(i)", Array(String(repeating: marker, count: 200).utf8))
            }
        }
        try db.write { txn in
            for i in 0..<150 { try txn.delete("many-\(i)") }
            for i in 0..<4 {
                let marker = Self.marker(&random)
                dead.insert(marker)
                try txn.put("transient-\(i)", Array(String(repeating: marker, count: 100 + 100 * i).utf8))
                try txn.delete("transient-\(i)")
            }
        }
        dead.formUnion(many)
        #expect(try db.stat().freePages > 300)
        // Two later commits, durable, with no reader left.
        for filler in 0..<2 { try db.write { txn in try txn.put("filler-\(filler)", "no marker here") } }
        #expect(try db.check() == [])
        #expect(!dead.isEmpty && !model.isEmpty)
        let live = Set(model.values.map(\.marker))
        let compact = dir.file("compact.mapstore"), plain = dir.file("plain.mapstore")
        try db.backup(to: compact, compact: true)
        try db.backup(to: plain)
        var files = [compact, plain]
        if secureDelete { files.append(dir.file()) }
        for path in files {
            let found = try Self.markers(in: path)
            let kept = found.intersection(dead).count
            #expect(kept == 0, "\(path): \(kept) of \(dead.count) deleted values")
            #expect(live.subtracting(found).count == 0, "\(path): every live value is still there")
            if path != dir.file() { #expect(try Database(path: path, options: .testing()).check() == []) }
        }
        if !secureDelete {
            // The check sees what it should: without secureDelete, deleted values stay in the file.
            #expect(try Self.markers(in: dir.file()).intersection(dead).count > 0)
        }
        #expect(try db.read { txn in try txn.count() } == model.count + 2)
    }

    /// secureDelete never zeroes a page a named snapshot pins, nor a page the snapshot's
    /// commit reaches while a reader holds it.
    @Test func secureDeleteKeepsWhatASnapshotPins() throws {
        let dir = TemporaryDirectory()
        var options = Options.testing(durability: .full)
        options.secureDelete = true
        let db = try Database(path: dir.file(), options: options)
        var random = SeededGenerator(seed: 7)
        var pinned: [String: [UInt8]] = [:]
        try db.write { txn in
            for i in 0..<300 {
                let value = Self.value(Self.marker(&random), &random)
                pinned["key\(i)"] = value
                try txn.put("key\(i)", value)
            }
        }
        try db.createSnapshot("before")
        try db.write { txn in for i in 0..<300 { try txn.delete("key\(i)") } }
        for round in 0..<3 { try db.write { txn in try txn.put("round", "\(round)") } }
        let seen = try db.read(snapshot: "before") { txn in
            var result: [String: [UInt8]] = [:]
            for entry in try txn.entries() { result[String(decoding: entry.key, as: UTF8.self)] = entry.value }
            return result
        }
        #expect(seen == pinned)
        #expect(try db.check() == [])
        // Deleted with the snapshot, its pages go the same way as any other's.
        let markers = Set(pinned.values.map { String(decoding: $0.prefix(24), as: UTF8.self) })
        #expect(markers.subtracting(try Self.markers(in: dir.file())).count == 0)
        try db.deleteSnapshot("before")
        for round in 0..<3 { try db.write { txn in try txn.put("round", "\(round)") } }
        #expect(try Self.markers(in: dir.file()).intersection(markers).count == 0)
        #expect(try db.check() == [])
    }
}
