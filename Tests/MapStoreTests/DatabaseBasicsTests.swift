import MapStoreTestSupport
import Testing
@testable import MapStore

@Suite struct DatabaseBasicsTests {
    @Test(arguments: MappingMode.allCases)
    func putGetDeleteAcrossReopen(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do {
            let db = try Database(path: path, options: .testing(mode))
            try db.write { txn throws in
                try txn.put("apple", "3")
                try txn.put("banana", "5")
                try txn.put([0, 1, 2], [UInt8]())
            }
            let apple = try db.read { try $0.getString("apple") }
            #expect(apple == "3")
            #expect(try db.read { try $0.get([0, 1, 2]) } == [])
            #expect(try db.read { try $0.get("cherry") } == nil)
            try db.write { txn throws in
                #expect(try txn.delete("banana"))
                #expect(try !txn.delete("banana"))
            }
            #expect(try db.read { try $0.get("banana") } == nil)
        }
        let reopened = try Database(path: path, options: .testing(mode))
        let apple = try reopened.read { try $0.getString("apple") }
        if mode == .privateCopyOnWrite {
            #expect(apple == nil, "a private map never writes the file")
        } else {
            #expect(apple == "3")
        }
    }

    @Test func manyKeysSplitAndMerge() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let n = 20_000
        try db.write { txn throws in
            for i in 0..<n { try txn.put("key\(i)", "value\(i)") }
        }
        try db.read { txn throws in
            for i in stride(from: 0, to: n, by: 7) { #expect(try txn.getString("key\(i)") == "value\(i)") }
            let all = try txn.entries()
            #expect(all.count == n)
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.key.lexicographicallyPrecedes($1.key) })
        }
        try db.write { txn throws in
            for i in 0..<n where i % 3 != 0 { try txn.delete("key\(i)") }
        }
        try db.read { txn throws in
            #expect(try txn.count() == (n + 2) / 3)
            #expect(try txn.getString("key3") == "value3")
            #expect(try txn.get("key4") == nil)
        }
    }

    @Test func largeValuesUseOverflowPages() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let big = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try db.write { try $0.put("big", big) }
        #expect(try db.read { try $0.get("big") } == big)
        let length = try db.read { txn in try txn.withValue(forKey: Array("big".utf8)) { $0.count } }
        #expect(length == big.count)
        try db.write { try $0.put("big", [1, 2, 3]) }
        #expect(try db.read { try $0.get("big") } == [1, 2, 3])
    }
}

@Suite struct SharedHandleTests {
    @Test func twoHandlesOnOneFileShareTheirReaders() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let first = try Database(path: path, options: .testing())
        let second = try Database(path: path, options: .testing())
        try first.write { txn in for i in 0..<300 { try txn.put("k\(i)", "v0") } }
        try second.read { reader throws in
            // Commits through the other handle must not reuse the pages this reader sees.
            for round in 1...30 {
                try first.write { txn in for i in 0..<300 { try txn.put("k\(i)", "v\(round)") } }
            }
            for i in 0..<300 { #expect(try reader.getString("k\(i)") == "v0") }
        }
        #expect(try second.read { try $0.getString("k1") } == "v30")
        #expect(throws: MapStoreError.self) { _ = try Database(path: path, options: .testing(.writeMap)) }
    }

    @Test func aNestedWriteThrowsInsteadOfDeadlocking() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        #expect(throws: MapStoreError.self) {
            try db.write { _ in try db.write { _ in } }
        }
        try db.write { try $0.put("still", "works") }
        #expect(try db.read { try $0.getString("still") } == "works")
    }

    @Test func aTransactionCannotBeUsedAfterItsClosure() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let escaped = try db.read { $0 }
        #expect(throws: MapStoreError.self) { _ = try escaped.get("x") }
    }

    /// A write transaction kept past its closure stays ended, though the next write
    /// transaction reuses its page view, and it keeps its own commit id.
    @Test func anEscapedWriteTransactionStaysEnded() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let escaped = try db.write { txn in
            try txn.put("a", "1")
            return txn
        }
        let id = escaped.committingTransactionID
        try db.write { txn in
            try txn.put("b", "2")
            #expect(txn.committingTransactionID == id + 1)
            #expect(throws: MapStoreError.self) { try escaped.put("c", "3") }
            #expect(throws: MapStoreError.self) { _ = try escaped.get("b") }
        }
        #expect(escaped.committingTransactionID == id)
        #expect(try db.read { try $0.get("c") } == nil)
        #expect(try db.read { try $0.getString("b") } == "2")
        #expect(try db.check().isEmpty)
    }

    /// A handle reuses its write transaction only when nothing else holds it: a cursor or
    /// table kept from one transaction stays dead in the next, which sees its own writes.
    @Test func aCursorKeptFromAWriteTransactionStaysEnded() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        var kept: Cursor?
        var keptTable: Table?
        try db.write { txn in
            try txn.put("a", "1")
            kept = try txn.cursor()
            keptTable = try txn.table("t")
        }
        for i in 0..<3 {
            try db.write { txn in
                try txn.put("b\(i)", "2")
                #expect(throws: MapStoreError.self) { try kept!.first() }
                #expect(throws: MapStoreError.self) { try keptTable!.put("c", "3") }
                #expect(try txn.getString("b\(i)") == "2")
                #expect(try txn.getString("a") == "1")
            }
        }
        #expect(try db.read { try $0.table("t").count() } == 0)
        #expect(try db.check().isEmpty)
    }

    /// The page view a write transaction leaves for the next one holds no reference to the
    /// environment: the last handle going away still closes it.
    @Test func aHandleThatWroteIsFreedWhenItGoesAway() throws {
        let dir = TemporaryDirectory()
        weak var environment: Environment?
        do {
            let db = try Database(path: dir.file(), options: .testing())
            for i in 0..<3 { try db.write { txn in try txn.put("k\(i)", "v") } }
            environment = db.environment
            #expect(environment != nil)
        }
        #expect(environment == nil)
    }

    @Test func keyLimitsAreEnforced() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        #expect(db.maxKeySize == (db.pageSize - 32) / 4 - 18)
        let longest = [UInt8](repeating: 7, count: db.maxKeySize)
        try db.write { txn throws in
            try txn.put(longest, [UInt8](repeating: 1, count: 5000))
            #expect(throws: MapStoreError.keyTooLarge(size: db.maxKeySize + 1, limit: db.maxKeySize)) {
                try txn.put(longest + [1], [1])
            }
            #expect(throws: MapStoreError.keyTooLarge(size: 0, limit: db.maxKeySize)) { try txn.put([UInt8](), [1]) }
        }
        #expect(try db.read { try $0.get(longest) }?.count == 5000)
    }

    @Test func tablesAreSeparateTrees() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing())
        try db.write { txn throws in
            try txn.put("shared-key", "main")
            try txn.table("users").put("shared-key", "users")
            try txn.table("orders").put("o1", "x")
            #expect(try txn.tableNames() == ["orders", "users"])
        }
        try db.read { txn throws in
            #expect(try txn.getString("shared-key") == "main")
            #expect(try txn.table("users").get("shared-key") == Array("users".utf8))
            #expect(try txn.entries().map(\.key) == [Array("shared-key".utf8)], "table cells are not data")
            #expect(try txn.count() == 1)
            #expect(throws: MapStoreError.self) { try txn.table("users").put("a", "b") }
        }
        try db.write { txn throws in
            #expect(throws: MapStoreError.self) { try txn.put("users", "clobber") }
            #expect(try txn.dropTable("orders"))
        }
        #expect(try db.read { try $0.tableNames() } == ["users"])
        #expect(try db.check() == [])
    }
}

@Suite struct TreeShapeTests {
    static func bigEndian(_ i: Int) -> [UInt8] { withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) } }

    /// Ascending and descending loads split at the ends of branch pages as well as leaves,
    /// and grow the tree past three levels.
    @Test(arguments: [false, true])
    func sequentialLoadsBuildDeepTrees(descending: Bool) throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let n = 60_000
        let value = [UInt8](repeating: 0x61, count: 100)
        for batch in stride(from: 0, to: n, by: 5000) {
            try db.write { txn in
                for i in batch..<(batch + 5000) { try txn.put(Self.bigEndian(descending ? n - i : i), value) }
            }
        }
        let stat = try db.stat()
        #expect(stat.entries == n)
        #expect(stat.treeDepth >= 3)
        #expect(try db.check() == [])
        // Delete most of it again: merges all the way up, down to a shallower tree.
        try db.write { txn in
            for i in 0..<n where i % 50 != 0 { try txn.delete(Self.bigEndian(descending ? n - i : i)) }
        }
        let after = try db.stat()
        #expect(after.entries == n / 50)
        #expect(after.treeDepth < stat.treeDepth)
        #expect(try db.check() == [])
        try db.read { txn throws in
            let keys = try txn.entries().map(\.key)
            #expect(keys.count == n / 50)
            #expect(zip(keys, keys.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) })
        }
    }
}
