import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// A damaged file must give a `MapStoreError` or a `check()` report, never a crash or a hang.
@Suite struct DamagedFileTests {
    static let pageSize = Int(getpagesize())

    /// A database of a few hundred pages: small and large values, a table.
    static func makeDatabase(_ path: String) throws {
        let db = try Database(path: path, options: .testing())
        try db.write { txn in
            for i in 0..<3000 { try txn.put("key\(i)", "value \(i) " + String(repeating: "p", count: i % 90)) }
            for i in 0..<5 { try txn.put("big\(i)", [UInt8](repeating: UInt8(i), count: 9000)) }
            let table = try txn.table("orders")
            for i in 0..<300 { try table.put("order\(i)", "\(i * 3)") }
        }
        try db.write { txn in for i in stride(from: 0, to: 3000, by: 4) { try txn.delete("key\(i)") } }
    }

    static func mutate(_ path: String, _ body: (inout [UInt8]) -> Void) throws {
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        body(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Opens, reads everything and checks; returns the problems check reported, or the error thrown.
    static func exercise(_ path: String, verify: Bool = false) -> (problems: [CheckProblem]?, error: MapStoreError?) {
        do {
            var options = Options.testing()
            options.verifyChecksums = verify
            let db = try Database(path: path, options: options)
            _ = try? db.read { txn in
                // Each scan on its own: one that meets damage must not skip the others.
                _ = try? txn.entries()
                _ = try? txn.entries(reverse: true)
                for i in stride(from: 0, to: 3000, by: 97) { _ = try txn.get("key\(i)") }
                _ = try txn.get("big3")
                for name in try txn.tableNames() { _ = try? txn.table(name).entries() }
            }
            _ = try? db.stat()
            return (try db.check(), nil)
        } catch let error as MapStoreError {
            return (nil, error)
        } catch {
            Issue.record("unexpected error type \(error)")
            return (nil, nil)
        }
    }

    @Test func aFlippedByteInAPageInUseIsReportedOnThatPage() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        try Self.makeDatabase(path)
        let db = try Database(path: path, options: .testing())
        let root = try db.read { $0.base.main.root }
        _ = db
        try Self.mutate(path) { $0[Int(root) * Self.pageSize + Self.pageSize - 10] ^= 0x40 }
        let (problems, error) = Self.exercise(path)
        #expect(error == nil)
        #expect(problems?.contains { $0.page == root && $0.message.contains("checksum") } == true, "\(problems ?? [])")
        // With verification on, reads throw instead of trusting the page.
        let verifying = try Database(path: path, options: { var o = Options.testing(); o.verifyChecksums = true; return o }())
        #expect(throws: MapStoreError.self) { try verifying.read { txn in _ = try txn.get("key1") } }
    }

    @Test func wrongMagicIsNotADatabase() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        try Data(repeating: 0x41, count: 3 * Self.pageSize).write(to: URL(fileURLWithPath: path))
        let (_, error) = Self.exercise(path)
        #expect(error?.description.contains("not a MapStore database") == true, "\(String(describing: error))")
    }

    @Test func truncatedFilesAreRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        try Self.makeDatabase(path)
        let usedPages = try Database(path: path, options: .testing()).read { Int($0.base.pageCount) }
        try Self.mutate(path) { $0 = Array($0.prefix(usedPages / 2 * Self.pageSize)) }
        let (_, error) = Self.exercise(path)
        #expect(error?.code == "corrupted")
        try Self.mutate(path) { $0 = Array($0.prefix(100)) }
        #expect(Self.exercise(path).error?.code == "corrupted")
    }

    @Test func anotherPageSizeIsAVersionMismatch() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        try Self.makeDatabase(path)
        try Self.mutate(path) { bytes in
            bytes.withUnsafeMutableBytes { buffer in
                for slot in 0..<2 {
                    let page = Page(buffer.baseAddress! + slot * Self.pageSize, size: Self.pageSize)
                    guard case var .valid(meta) = Meta.decode(page, slot: UInt64(slot)) else { continue }
                    let words = Meta.freeListWords(in: page, of: meta)
                    meta.pageSize = 8192
                    meta.encode(into: page, words: words)
                }
            }
        }
        let (_, error) = Self.exercise(path)
        #expect(error?.code == "versionMismatch", "\(String(describing: error))")
    }

    /// Zeroed pages (lost writes, a hole in the file) in a database whose every page past
    /// the metas is a node of its tree: the open succeeds (the meta pages are intact), reads
    /// of the damage throw (swallowed by `exercise`), and check names each zeroed page. (A
    /// zeroed free page would be no damage at all, and a page inside an overflow run is
    /// reported as its run's first page: the database has neither.)
    @Test func zeroedPagesAreReported() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let pages = try {
            let db = try Database(path: path, options: .testing())
            try db.write { txn in for i in 0..<3000 { try txn.put("key\(i)", "value \(i) " + String(repeating: "p", count: i % 90)) } }
            #expect(try db.stat().freePages == 0)
            return try db.read { Int($0.base.pageCount) }
        }()
        let zeroed = Set(stride(from: 2, to: pages, by: 5).map(UInt64.init))
        try Self.mutate(path) { bytes in
            for page in zeroed { for i in 0..<Self.pageSize { bytes[Int(page) * Self.pageSize + i] = 0 } }
        }
        let (problems, error) = Self.exercise(path)
        #expect(error == nil, "\(String(describing: error))")
        let reported = Set((problems ?? []).filter { $0.message.hasPrefix("checksum mismatch") }.map(\.page))
        #expect(reported == zeroed, "\(problems ?? [])")
    }

    /// Seeded random damage: bit flips, garbage runs, zeroed and swapped pages, meta damage.
    /// A writer copies branch pages without checking every cell (only the child pointer it
    /// followed changes); any other edit of such a copy checks it first. A damaged cell the
    /// descent's search never reads must still stop a commit that edits that page.
    @Test func aDamagedBranchCellStopsAWriterThatEditsThePage() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        try Self.makeDatabase(path)
        let root = try Database(path: path, options: .testing()).read { txn in
            #expect(txn.base.main.depth >= 2)
            return Int(txn.base.main.root)
        }
        try Self.mutate(path) { bytes in
            let page = root * Self.pageSize
            let count = Int(bytes[page + 26]) | Int(bytes[page + 27]) << 8
            // The last cell's slot: a search for keys below every separator never probes it.
            bytes[page + 32 + 2 * (count - 1)] = 0xFF
            bytes[page + 32 + 2 * (count - 1) + 1] = 0xFF
        }
        let db = try Database(path: path, options: .testing())
        // Keys before every other key: their leaf splits until a separator goes into the root.
        var error: MapStoreError?
        do {
            for batch in 0..<40 {
                try db.write { txn in for i in 0..<100 { try txn.put("a\(batch)-\(i)", String(repeating: "v", count: 80)) } }
            }
        } catch let caught as MapStoreError {
            error = caught
        }
        #expect(error?.code == "corrupted", "\(String(describing: error))")
        #expect(try db.check().contains { $0.page == UInt64(root) })
    }

    @Test func randomDamageNeverCrashes() throws {
        let dir = TemporaryDirectory()
        let pristine = dir.file("pristine.mapstore")
        try Self.makeDatabase(pristine)
        let original = [UInt8](FileManager.default.contents(atPath: pristine)!)
        let usedPages = try Database(path: pristine, options: .testing()).read { Int($0.base.pageCount) }
        let trials = longMode ? 10_000 : 150
        var detected = 0
        var flipsInUse = 0
        for trial in 0..<trials {
            var rng = SeededGenerator(seed: UInt64(trial))
            var bytes = original
            let used = usedPages * Self.pageSize
            var inUse = false
            switch trial % 6 {
            case 0:
                let at = Int.random(in: 0..<used, using: &rng)
                bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                inUse = at >= 2 * Self.pageSize
            case 1:
                let at = Int.random(in: 0..<used - 64, using: &rng)
                for i in 0..<Int.random(in: 1...64, using: &rng) { bytes[at + i] = UInt8.random(in: 0...255, using: &rng) }
            case 2:
                let page = Int.random(in: 2..<usedPages, using: &rng)
                for i in 0..<Self.pageSize { bytes[page * Self.pageSize + i] = 0 }
            case 3:
                let a = Int.random(in: 2..<usedPages, using: &rng), b = Int.random(in: 2..<usedPages, using: &rng)
                for i in 0..<Self.pageSize { bytes.swapAt(a * Self.pageSize + i, b * Self.pageSize + i) }
            case 4:
                let at = Int.random(in: 0..<(2 * Self.pageSize), using: &rng)
                bytes[at] ^= 0xFF
            default:
                bytes.removeLast(Int.random(in: 1..<(bytes.count - Self.pageSize), using: &rng))
            }
            let path = dir.file("trial.mapstore")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let (problems, error) = Self.exercise(path)
            let found = error != nil || problems?.isEmpty == false
            if found { detected += 1 }
            if inUse {
                flipsInUse += 1
                // A flipped bit in a used data page is either caught by check or in a page
                // that is free (its contents do not matter).
                if !found {
                    let db = try Database(path: path, options: .testing())
                    let problems = try db.check()
                    #expect(problems.isEmpty)
                }
            }
        }
        #expect(detected > trials / 3, "detected \(detected) of \(trials)")
        #expect(flipsInUse > 0)
    }
}
