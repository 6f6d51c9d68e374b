import MapStoreTestSupport
import Testing
@testable import MapStore

/// The cursor and the borrowed-bytes scans (`forEach`, `Cursor.walk`) against a sorted model,
/// in both directions, over every range position (so every leaf's first and last entry is a
/// bound somewhere), with overflow values, tables, an empty database and misuse.
@Suite struct CursorTests {
    struct Stop: Error {}

    /// Big-endian keys, so byte order is number order; values of varied length, a few of
    /// them long enough for an overflow run.
    static func key(_ i: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(i * 2).bigEndian) { Array($0) } }
    static func value(_ i: Int) -> [UInt8] {
        let length = i % 97 == 5 ? 5000 : 20 + i % 60
        return (0..<length).map { UInt8(truncatingIfNeeded: i &+ $0) }
    }

    static let count = 1500
    static let model: [([UInt8], [UInt8])] = (0..<count).map { (key($0), value($0)) }

    static func filled() throws -> (TemporaryDirectory, Database) {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in
            // Random order, so leaves are split at varied places.
            var rng = SeededGenerator(seed: 7)
            for i in (0..<count).shuffled(using: &rng) { try txn.put(key(i), value(i)) }
            try txn.table("side").put("t-key", "t-value")
        }
        return (dir, db)
    }

    static func collectForEach(_ txn: ReadTransaction, _ range: KeyRange, reverse: Bool) throws -> [([UInt8], [UInt8])] {
        var seen: [([UInt8], [UInt8])] = []
        try txn.forEach(in: range, reverse: reverse) { key, value in seen.append((Array(key), Array(value))) }
        return seen
    }

    /// The first model index whose key is not below `bound` (binary search: the model is sorted).
    static func index(of bound: [UInt8]) -> Int {
        var low = 0, high = model.count
        while low < high {
            let mid = (low + high) / 2
            if model[mid].0.lexicographicallyPrecedes(bound) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    static func expected(_ range: KeyRange, reverse: Bool) -> [([UInt8], [UInt8])] {
        let start = range.lower.map(index(of:)) ?? 0
        let end = max(start, range.upper.map(index(of:)) ?? model.count)
        let inRange = Array(model[start..<end])
        return reverse ? inRange.reversed() : inRange
    }

    static func same(_ a: [([UInt8], [UInt8])], _ b: [([UInt8], [UInt8])]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// `forEach` and the copying scan (``Scan/next()``, through `entries(in:)`) agree with the
    /// model over the same ranges, prefixes among them.
    @Test func forEachAndScanMatchTheModelOverEveryRangePosition() throws {
        let (_, db) = try Self.filled()
        try db.read { txn in
            #expect(txn.pages.pageCount > 20, "the data spans many leaves")
            for reverse in [false, true] {
                #expect(Self.same(try Self.collectForEach(txn, .all, reverse: reverse), Self.expected(.all, reverse: reverse)))
                for i in 0...Self.count {
                    // Bounds on keys (every leaf edge among them) and between keys.
                    let onKey = Self.key(i), between = Self.key(i) + [0], before = Self.key(i).dropLast() + [Self.key(i).last! &- 1]
                    var ranges = [
                        KeyRange(from: onKey, to: Self.key(i + 1)), KeyRange(from: onKey, to: Self.key(i + 37)),
                        KeyRange(from: between, to: Self.key(i + 3)), KeyRange(from: Array(before), to: between),
                        KeyRange(from: onKey, to: onKey), KeyRange(from: Self.key(i + 5), to: onKey),
                    ]
                    if i % 40 == 0 || i >= Self.count - 2 {
                        ranges += [KeyRange(from: onKey, to: nil), KeyRange(from: nil, to: onKey),
                                   .prefix(onKey), .prefix(Array(onKey.prefix(3))), .prefix(Array(onKey.prefix(3)) + [0xFF])]
                    }
                    for range in ranges {
                        let expected = Self.expected(range, reverse: reverse)
                        let got = try Self.collectForEach(txn, range, reverse: reverse)
                        #expect(Self.same(got, expected), "\(range) reverse \(reverse)")
                        let scanned = try txn.entries(in: range, reverse: reverse).map { ($0.key, $0.value) }
                        #expect(Self.same(scanned, expected), "scan \(range) reverse \(reverse)")
                    }
                }
            }
        }
    }

    @Test func forEachAgreesWithScanAndTheCursor() throws {
        let (_, db) = try Self.filled()
        try db.read { txn in
            for reverse in [false, true] {
                let viaForEach = try Self.collectForEach(txn, .all, reverse: reverse)
                let viaScan = try txn.entries(reverse: reverse).map { ($0.key, $0.value) }
                var viaCursor: [([UInt8], [UInt8])] = []
                let cursor = try txn.cursor()
                var more = try reverse ? cursor.last() : cursor.first()
                while more {
                    viaCursor.append(try cursor.withCurrent { key, value in (Array(key), Array(value)) })
                    #expect(try cursor.key == viaCursor.last!.0)
                    #expect(try cursor.value == viaCursor.last!.1)
                    more = try reverse ? cursor.previous() : cursor.next()
                }
                #expect(Self.same(viaForEach, viaScan))
                #expect(Self.same(viaForEach, viaCursor))
                #expect(viaForEach.count == Self.count, "the table's descriptor is not data")
            }
        }
    }

    @Test func cursorWalkStopsWhereTheBodySays() throws {
        let (_, db) = try Self.filled()
        try db.read { txn in
            let cursor = try txn.cursor()
            // Forward from a seek, ten entries: the cursor stays on the tenth.
            #expect(try cursor.seek(Self.key(100)))
            var seen: [[UInt8]] = []
            #expect(try cursor.walk { key, _ in
                seen.append(Array(key))
                return seen.count < 10
            })
            #expect(seen == (100..<110).map(Self.key))
            #expect(try cursor.key == Self.key(109))
            #expect(try cursor.next())
            #expect(try cursor.key == Self.key(110))

            // Backward from there across many leaves, then off the front.
            seen = []
            #expect(try !cursor.walk(reverse: true) { key, _ in
                seen.append(Array(key))
                return true
            })
            #expect(seen == (0...110).reversed().map(Self.key))
            #expect(try !cursor.next(), "past the end after a walk that ran out")
            #expect(throws: MapStoreError.self) { _ = try cursor.key }

            // Every stop position from the first entry (leaf edges included) agrees with next().
            let stepper = try txn.cursor()
            #expect(try stepper.first())
            for stop in 1...Self.count {
                #expect(try cursor.first())
                var n = 0, wrong = 0
                let stopped = try cursor.walk { key, value in
                    n += 1
                    if !key.elementsEqual(Self.model[n - 1].0) || !value.elementsEqual(Self.model[n - 1].1) { wrong += 1 }
                    return n < stop
                }
                #expect(stopped && wrong == 0 && n == stop, "stop \(stop)")
                #expect(try cursor.key == stepper.key)
                if stop < Self.count { #expect(try stepper.next()) }
            }

            // A walk from the last entry lends one entry; on an unpositioned cursor it throws.
            #expect(try cursor.last())
            var tail = 0
            #expect(try !cursor.walk { _, _ in tail += 1; return true })
            #expect(tail == 1)
            #expect(throws: MapStoreError.self) { _ = try txn.cursor().walk { _, _ in true } }
        }
    }

    @Test func anErrorFromTheBodyEndsTheWalkAndIsRethrown() throws {
        let (_, db) = try Self.filled()
        try db.read { txn in
            var n = 0
            #expect(throws: Stop.self) {
                try txn.forEach { _, _ in
                    n += 1
                    if n == 40 { throw Stop() }
                }
            }
            #expect(n == 40)
            let cursor = try txn.cursor()
            #expect(try cursor.first())
            #expect(throws: Stop.self) {
                _ = try cursor.walk { key, _ in
                    if Array(key) == Self.key(77) { throw Stop() }
                    return true
                }
            }
            #expect(try cursor.key == Self.key(77), "the cursor stays on the entry that threw")
        }
    }

    @Test func changingTheTreeInsideABodyThrows() throws {
        let (_, db) = try Self.filled()
        try db.write { txn in
            let error = #expect(throws: MapStoreError.self) {
                try txn.forEach { key, _ in try txn.put(Array(key) + [1], [1]) }
            }
            #expect(error?.code == "invalidArgument", "\(String(describing: error))")
        }
        // The put made inside the failed walk committed with the rest of the transaction.
        #expect(try db.read { try $0.count() } == Self.count + 1)
    }

    @Test func tablesAndEmptyDatabases() throws {
        let (_, db) = try Self.filled()
        try db.read { txn in
            var side: [([UInt8], [UInt8])] = []
            try txn.table("side").forEach { key, value in side.append((Array(key), Array(value))) }
            #expect(Self.same(side, [(Array("t-key".utf8), Array("t-value".utf8))]))
            var none = 0
            try txn.table("absent").forEach { _, _ in none += 1 }
            #expect(none == 0)
        }
        let dir = TemporaryDirectory()
        let empty = try Database(path: dir.file(), options: .testing())
        try empty.read { txn in
            var n = 0
            try txn.forEach { _, _ in n += 1 }
            try txn.forEach(in: KeyRange(from: [1], to: [9]), reverse: true) { _, _ in n += 1 }
            #expect(n == 0)
            let cursor = try txn.cursor()
            #expect(try !cursor.first())
            #expect(try !cursor.walk { _, _ in n += 1; return true })
            #expect(n == 0)
        }
    }

    @Test func forEachAfterTheTransactionEndedThrows() throws {
        let (_, db) = try Self.filled()
        let escaped = try db.read { $0 }
        #expect(throws: MapStoreError.self) { try escaped.forEach { _, _ in } }
    }
}
