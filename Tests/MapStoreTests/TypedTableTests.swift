import Foundation
import MapStoreFoundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// Typed tables in a real database: Codable values under tuple, string and byte keys, with
/// both coders, values larger than a page, and stored bytes that are not the table's types.
@Suite struct TypedTableTests {
    struct Purchase: Codable, Equatable, Sendable {
        enum Payment: Codable, Equatable, Sendable {
            case card(last4: String)
            case invoice(days: Int, reference: String?)
        }
        var items: [String]
        var quantities: [String: Int]
        var payment: Payment
        var note: String?
        var total: Double
    }

    static let purchase = Purchase(items: ["apple", "pear"], quantities: ["apple": 3, "pear": 1],
                                   payment: .invoice(days: 30, reference: nil), note: "ring twice", total: 4.5)

    static func open(_ dir: TemporaryDirectory) throws -> Database {
        try Database(path: dir.file(), options: .testing())
    }

    @Test(arguments: [false, true])
    func tupleKeysRoundTripAndScanInOrder(json: Bool) throws {
        let dir = TemporaryDirectory()
        let db = try Self.open(dir)
        let coder: any ValueCoder = json ? JSONValueCoder() : BinaryValueCoder()
        let customers = ["bob", "alice", "al", "alice\0x"]
        try db.write { txn in
            let table = try txn.table("purchases", key: Tuple.self, value: Purchase.self, coder: coder)
            for (i, customer) in customers.enumerated() {
                for n in [3, -1, 200] {
                    var purchase = Self.purchase
                    purchase.total = Double(i * 1000 + n)
                    try table.put(Tuple(customer, n), purchase)
                }
            }
        }
        try db.read { txn in
            let table = try txn.table("purchases", key: Tuple.self, value: Purchase.self, coder: coder)
            #expect(try table.count() == 12)
            #expect(try table.get(Tuple("alice", 200))?.total == 1200)
            #expect(try table.get(Tuple("alice", 200))?.payment == .invoice(days: 30, reference: nil))
            #expect(try table.get(Tuple("alice", 4)) == nil)
            #expect(try table.contains(Tuple("bob", -1)))
            let alice = try table.entries(in: .prefix(Tuple("alice")))
            #expect(alice.map(\.key) == [Tuple("alice", -1), Tuple("alice", 3), Tuple("alice", 200)])
            #expect(alice.allSatisfy { $0.value.items == ["apple", "pear"] })
            let last = try table.entries(reverse: true, limit: 2).map(\.key)
            #expect(last == [Tuple("bob", 200), Tuple("bob", 3)])
            var seen: [Tuple] = []
            try table.forEach(in: .prefix(Tuple("al"))) { key, value in
                seen.append(key)
                #expect(value.quantities["apple"] == 3)
            }
            #expect(seen == [Tuple("al", -1), Tuple("al", 3), Tuple("al", 200)])
            // The raw table holds the coder's bytes: JSON text, or the binary format byte.
            let raw = try #require(try txn.table("purchases").get(Tuple("bob", 3).encoded))
            #expect(raw.first == (json ? UInt8(ascii: "{") : 1))
        }
        #expect(try db.check().isEmpty)
    }

    @Test func stringAndByteKeys() throws {
        let dir = TemporaryDirectory()
        let db = try Self.open(dir)
        try db.write { txn in
            let byName = try txn.table("by-name", key: String.self, value: [String: Int].self)
            try byName.put("caf\u{E9}", ["cups": 2])
            try byName.put("cafe\u{301}", ["cups": 3])
            let byBytes = try txn.table("by-bytes", key: [UInt8].self, value: Int?.self)
            try byBytes.put([0xFF, 0x00], 7)
            try byBytes.put([0x01], nil)
            #expect(try byBytes.delete([0x01]))
            #expect(try !byBytes.delete([0x01]))
        }
        try db.read { txn in
            let byName = try txn.table("by-name", key: String.self, value: [String: Int].self)
            #expect(try byName.get("caf\u{E9}") == ["cups": 2])
            #expect(try byName.get("cafe\u{301}") == ["cups": 3], "canonically equivalent names are two keys")
            #expect(try byName.entries().map { Array($0.key.utf8) } == [Array("cafe\u{301}".utf8), Array("caf\u{E9}".utf8)])
            let byBytes = try txn.table("by-bytes", key: [UInt8].self, value: Int?.self)
            #expect(try byBytes.entries().map(\.key) == [[0xFF, 0x00]])
            #expect(try byBytes.get([0xFF, 0x00]) == .some(7))
        }
    }

    /// Values bigger than a page go to overflow pages, and come back whole.
    @Test(arguments: [false, true])
    func largeValuesUseOverflowPages(json: Bool) throws {
        let dir = TemporaryDirectory()
        let db = try Self.open(dir)
        let coder: any ValueCoder = json ? JSONValueCoder() : BinaryValueCoder()
        var big = Self.purchase
        big.items = (0..<5000).map { "item-\($0)" }
        big.note = String(repeating: "\u{E9}", count: 20_000)
        try db.write { txn in
            try txn.table("big", key: Tuple.self, value: Purchase.self, coder: coder).put(Tuple(UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!), big)
        }
        try db.read { txn in
            let stored = try #require(try txn.table("big").get(Tuple(UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!).encoded))
            #expect(stored.count > 4 * db.pageSize)
            let table = try txn.table("big", key: Tuple.self, value: Purchase.self, coder: coder)
            #expect(try table.get(Tuple(UUID(uuidString: "e621e1f8-c36c-495a-93fc-0c247a3e6e5f")!)) == big)
            let key = try #require(try table.entries().first?.key)
            #expect(try key.value(at: 0, as: UUID.self) == UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"))
        }
        #expect(try db.check().isEmpty)
    }

    @Test func valuesThatDoNotDecodeNameTheKeyAndTheType() throws {
        let dir = TemporaryDirectory()
        let db = try Self.open(dir)
        struct Other: Codable { var items: Int }
        try db.write { txn in
            try txn.table("orders", key: Tuple.self, value: Other.self).put(Tuple("alice", 3), Other(items: 5))
            try txn.table("orders").put(Tuple("bob", 1).encoded, [0x01, 0x09, 0x02])   // cut short
        }
        try db.read { txn in
            let orders = try txn.table("orders", key: Tuple.self, value: Purchase.self)
            #expect(throws: MapStoreError.decodingFailed(reason:
                "Purchase for key (\"alice\", 3) in table 'orders': at items: byte 8: expected an unkeyed container, found an integer")) {
                try orders.get(Tuple("alice", 3))
            }
            #expect(throws: MapStoreError.decodingFailed(reason:
                "Purchase for key (\"bob\", 1) in table 'orders': byte 2: a key of 1 bytes runs past the end")) {
                try orders.get(Tuple("bob", 1))
            }
            let error = MapStoreError.decodingFailed(reason: "x")
            #expect(error.code == "decodingFailed" && error.description == "cannot decode x")
            // A scan throws at the first entry that does not decode, and then again.
            var scan = orders.scan()
            #expect(throws: MapStoreError.self) { try scan.next() }
            #expect(throws: MapStoreError.self) { try scan.next() }
            // JSON errors are named the same way.
            let json = try txn.table("orders", key: Tuple.self, value: Purchase.self, coder: JSONValueCoder())
            do {
                _ = try json.get(Tuple("alice", 3))
                Issue.record("binary bytes decoded as JSON")
            } catch let MapStoreError.decodingFailed(reason) {
                #expect(reason.hasPrefix("Purchase for key (\"alice\", 3) in table 'orders': "), "\(reason)")
            }
        }
    }

    @Test func keysThatDoNotDecodeNameTheirBytes() throws {
        let dir = TemporaryDirectory()
        let db = try Self.open(dir)
        try db.write { txn in
            try txn.table("t").put([0xFF, 0x01], try BinaryValueEncoder().encode(1))
            try txn.table("s").put([0x61, 0xC3], try BinaryValueEncoder().encode(1))
        }
        try db.read { txn in
            #expect(throws: MapStoreError.decodingFailed(reason:
                "the key 0xff01 in table 't' as Tuple: malformed tuple at byte 0: unknown type code 0xff")) {
                try txn.table("t", key: Tuple.self, value: Int.self).entries()
            }
            #expect(throws: MapStoreError.decodingFailed(reason: "the key 0x61c3 in table 's' as String: the key 0x61c3 is not valid UTF-8")) {
                try txn.table("s", key: String.self, value: Int.self).forEach { _, _ in }
            }
            let keys = try txn.table("s", key: [UInt8].self, value: Int.self).entries().map(\.key)
            #expect(keys == [[0x61, 0xC3]])
        }
    }

    @Test func writesNeedAWriteTransactionAndAnEncodableValue() throws {
        let dir = TemporaryDirectory()
        let db = try Self.open(dir)
        struct Refuses: Codable {
            init() {}
            init(from decoder: any Decoder) throws {}
            func encode(to encoder: any Encoder) throws {
                throw EncodingError.invalidValue(0, EncodingError.Context(codingPath: [], debugDescription: "not today"))
            }
        }
        try db.read { txn in
            #expect(throws: MapStoreError.readOnly(reason: "table 'x' was opened in a read transaction")) {
                try txn.table("x", key: String.self, value: Int.self).put("a", 1)
            }
        }
        try db.write { txn in
            #expect(throws: MapStoreError.invalidArgument(reason: "cannot encode Refuses for key (\"k\") in table 'x': not today")) {
                try txn.table("x", key: Tuple.self, value: Refuses.self).put(Tuple("k"), Refuses())
            }
            #expect(throws: MapStoreError.keyTooLarge(size: 0, limit: txn.maxKeySize), "the empty tuple is no key") {
                try txn.table("x", key: Tuple.self, value: Int.self).put(Tuple(), 1)
            }
        }
        #expect(try db.read { txn in try txn.hasTable("x") } == false)
    }
}
