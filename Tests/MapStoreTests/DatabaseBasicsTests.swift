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
            let all = Array(txn.scan())
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
