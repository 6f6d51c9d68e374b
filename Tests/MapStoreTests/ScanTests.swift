import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// Scans meeting a damaged page: the iteration throws where it meets it, so a loop over a
/// damaged range can never end as if the range were complete.
@Suite struct ScanTests {
    static let pageSize = Int(getpagesize())
    static let count = 2000

    static func key(_ i: Int) -> [UInt8] { Array("key\(String(1_000_000 + i).dropFirst())".utf8) }
    static func value(_ i: Int) -> [UInt8] { Array("value \(i) ".utf8) + [UInt8](repeating: UInt8(i & 0xFF), count: 60) }

    /// How a leaf is damaged, and whether reads verify checksums (the CLI does).
    enum Damage: CaseIterable, CustomStringConvertible {
        /// Eight bytes inside the page flipped: only its checksum tells.
        case flippedBytes
        /// The whole page zeroed: its header no longer decodes.
        case zeroedPage

        var verifyChecksums: Bool { self == .flippedBytes }
        var description: String { self == .flippedBytes ? "flipped bytes" : "zeroed page" }

        func apply(to bytes: inout [UInt8], page: Int) {
            let start = page * ScanTests.pageSize
            switch self {
            case .flippedBytes: for offset in 0..<8 { bytes[start + ScanTests.pageSize / 2 + offset] ^= 0xA5 }
            case .zeroedPage: for offset in 0..<ScanTests.pageSize { bytes[start + offset] = 0 }
            }
        }
    }

    /// A file whose tree (the main tree, or table "t") spans many leaves, with one leaf in the
    /// middle damaged; returns the database and the damaged leaf's page and keys (indexes).
    static func damaged(_ dir: TemporaryDirectory, _ damage: Damage, inTable: Bool) throws -> (Database, page: UInt64, keys: Range<Int>) {
        let path = dir.file()
        let tree: TreeID = inTable ? .table("t") : .main
        let (page, keys): (UInt64, Range<Int>) = try {
            let db = try Database(path: path, options: .testing())
            try db.write { txn in
                let table = try txn.table("t")
                for i in 0..<count { try inTable ? table.put(key(i), value(i)) : txn.put(key(i), value(i)) }
            }
            return try db.read { txn in
                let root = try txn.root(of: tree)
                #expect(root.depth >= 2, "a tree of many leaves")
                let reader = TreeReader(space: txn.pages)
                func leaf(_ i: Int) throws -> UInt64 {
                    try key(i).withUnsafeBytes { try #require(try reader.find(root, key: $0)).page.pageNumber }
                }
                let page = try leaf(count / 2)
                var first = count / 2, last = count / 2
                while first > 0, try leaf(first - 1) == page { first -= 1 }
                while last < count - 1, try leaf(last + 1) == page { last += 1 }
                return (page, first..<last + 1)
            }
        }()
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        damage.apply(to: &bytes, page: Int(page))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var options = Options.testing()
        options.verifyChecksums = damage.verifyChecksums
        return (try Database(path: path, options: options), page, keys)
    }

    /// The scan of the damaged tree: its root's table or the main tree.
    static func scan(_ txn: ReadTransaction, inTable: Bool, _ range: KeyRange = .all, reverse: Bool) throws -> Scan {
        inTable ? try txn.table("t").scan(range, reverse: reverse) : txn.scan(range, reverse: reverse)
    }

    /// The loop of a caller that works on what it sees (here: collects the keys): the scan's
    /// `next()` throws at the damaged leaf, after every entry before it and none past it, and
    /// the code after the loop, which would take the range as complete, never runs.
    @Test(arguments: Damage.allCases, [false, true])
    func aScanThrowsAtTheDamagedPageBeforeTheLoopSeesAnEntryPastIt(damage: Damage, inTable: Bool) throws {
        let dir = TemporaryDirectory()
        let (db, page, damagedKeys) = try Self.damaged(dir, damage, inTable: inTable)
        for reverse in [false, true] {
            let before = reverse ? Array((damagedKeys.upperBound..<Self.count).reversed()) : Array(0..<damagedKeys.lowerBound)
            #expect(!before.isEmpty, "the damaged leaf is not at the edge")
            var seen: [[UInt8]] = []
            var endedNormally = false
            var thrownByNext: MapStoreError?
            var rethrown: MapStoreError?
            do {
                try db.read { txn in
                    var scan = try Self.scan(txn, inTable: inTable, reverse: reverse)
                    do throws(MapStoreError) {
                        while let (key, _) = try scan.next() { seen.append(key) }
                        endedNormally = true
                    } catch {
                        thrownByNext = error
                        // Calling again does not turn the damage into an end.
                        #expect(throws: error) { _ = try scan.next() }
                        throw error
                    }
                }
            } catch let error as MapStoreError {
                rethrown = error
            }
            #expect(!endedNormally, "\(damage), reverse \(reverse): the loop ended as if the range were complete")
            #expect(thrownByNext?.code == "corrupted", "reverse \(reverse): next() itself throws")
            if case let .corrupted(at, _)? = thrownByNext { #expect(at == page, "the error names the damaged page") }
            #expect(rethrown == thrownByNext, "read rethrows what the body threw, and only that")
            #expect(seen == before.map(Self.key), "reverse \(reverse): every entry before the damaged leaf, none past it")
            // The collecting form throws the same error and returns nothing.
            #expect(throws: thrownByNext!) {
                try db.read { txn in _ = inTable ? try txn.table("t").entries(reverse: reverse) : try txn.entries(reverse: reverse) }
            }
        }
    }

    /// A range inside the damaged leaf throws at its first `next()`, either way; one that ends
    /// well before it reads back whole, so the error is where the damage is, not the whole tree.
    @Test(arguments: Damage.allCases)
    func rangesThrowOnlyWhenTheyReachTheDamagedPage(damage: Damage) throws {
        let dir = TemporaryDirectory()
        let (db, page, damagedKeys) = try Self.damaged(dir, damage, inTable: false)
        try db.read { txn in
            let inside = KeyRange(from: Self.key(damagedKeys.lowerBound + 1), to: Self.key(damagedKeys.upperBound - 1))
            for reverse in [false, true] {
                var scan = txn.scan(inside, reverse: reverse)
                #expect(throws: MapStoreError.self) { _ = try scan.next() }
                #expect(throws: MapStoreError.self) { _ = try txn.entries(in: .prefix(Self.key(damagedKeys.lowerBound)), reverse: reverse) }
            }
            var scan = txn.scan(inside)
            do {
                _ = try scan.next()
            } catch let MapStoreError.corrupted(at, _) {
                #expect(at == page)
            }
            let early = KeyRange(from: Self.key(10), to: Self.key(damagedKeys.lowerBound / 2))
            #expect(try txn.entries(in: early).map(\.key) == (10..<damagedKeys.lowerBound / 2).map(Self.key))
            #expect(try txn.entries(in: early, reverse: true).map(\.key) == (10..<damagedKeys.lowerBound / 2).reversed().map(Self.key))
        }
    }

    /// The scan steps one entry at a time; `entries(in:)` stops at its limit, counted from the
    /// end for a reverse scan; past the end `next()` keeps returning nil.
    @Test func nextEntriesAndLimits() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in
            for i in 0..<300 { try txn.put(Self.key(i), Self.value(i)) }
            try txn.table("t").put("in-a-table", "not main-tree data")
        }
        try db.read { txn in
            var scan = txn.scan(.prefix("key0001"))
            for i in 100..<200 {
                let entry = try #require(try scan.next())
                #expect(entry.key == Self.key(i) && entry.value == Self.value(i))
            }
            #expect(try scan.next() == nil)
            #expect(try scan.next() == nil, "the end stays the end")
            #expect(try txn.entries(limit: 3).map(\.key) == (0..<3).map(Self.key))
            #expect(try txn.entries(reverse: true, limit: 2).map(\.key) == [Self.key(299), Self.key(298)])
            #expect(try txn.entries(limit: 0).isEmpty)
            #expect(try txn.entries().count == 300, "the table's descriptor is not data")
            #expect(try txn.table("t").entries().map(\.key) == [Array("in-a-table".utf8)])
            #expect(try txn.entries(in: KeyRange(from: Self.key(5), to: Self.key(5))).isEmpty)
        }
    }

    /// In a write transaction the loop may change the tree under the scan: deleting every
    /// entry it is given (either way) meets each entry once, and keys put ahead of it are met.
    @Test(arguments: [false, true])
    func aScanInAWriterGoesOnAfterTheLoopChangesTheTree(reverse: Bool) throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<Self.count where i % 2 == 0 { try txn.put(Self.key(i), Self.value(i)) } }
        let met = try db.write { txn in
            var met: [[UInt8]] = []
            var scan = txn.scan(reverse: reverse)
            while let (key, value) = try scan.next() {
                #expect(value == (try txn.get(key)))
                met.append(key)
                #expect(try txn.delete(key))
                // A key ahead of the scan, put after it was positioned: met later in this loop.
                if met.count == 10 { try txn.put(Self.key(reverse ? 1 : Self.count - 1), Self.value(1)) }
            }
            #expect(try txn.count() == 0)
            return met
        }
        let expected = (0..<Self.count).filter { $0 % 2 == 0 } + [reverse ? 1 : Self.count - 1]
        #expect(met == (reverse ? expected.sorted().reversed() : expected.sorted()).map(Self.key))
        #expect(try db.check() == [])
    }

    /// A change that keeps the key last returned (an overwrite of it) makes the scan go on
    /// just past that key, either way: every entry is met once, none twice.
    @Test(arguments: [false, true])
    func aScanInAWriterGoesOnPastAKeyTheLoopOverwrote(reverse: Bool) throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<Self.count { try txn.put(Self.key(i), Self.value(i)) } }
        let met = try db.write { txn in
            var met: [[UInt8]] = []
            var scan = txn.scan(reverse: reverse)
            while let (key, _) = try scan.next() {
                met.append(key)
                try txn.put(key, Self.value(0))
            }
            return met
        }
        let expected = (0..<Self.count).map(Self.key)
        #expect(met == (reverse ? expected.reversed() : expected))
        #expect(try db.check() == [])
    }

    /// A scan taken out of its transaction's closure throws on use, never reads pages the
    /// transaction no longer holds.
    @Test func aScanUsedAfterItsTransactionEndedThrows() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<10 { try txn.put(Self.key(i), Self.value(i)) } }
        var escaped = try db.read { txn in txn.scan() }
        #expect(throws: MapStoreError.self) { _ = try escaped.next() }
        var started = try db.read { txn in
            var scan = txn.scan()
            _ = try scan.next()
            return scan
        }
        #expect {
            _ = try started.next()
        } throws: { error in
            (error as? MapStoreError)?.code == "invalidArgument"
        }
    }
}
