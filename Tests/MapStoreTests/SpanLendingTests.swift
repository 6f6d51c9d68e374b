import MapStoreTestSupport
import Testing
@testable import MapStore

/// The `RawSpan` forms of the zero-copy doors (`withValue(forKey:)` of transactions and tables,
/// `forEach`, `Cursor.walk` and `Cursor.withCurrent`) lend the same bytes as the buffer forms,
/// and a closure left to inference still compiles against either.
struct SpanLendingTests {
    func bytes(_ span: RawSpan) -> [UInt8] { span.withUnsafeBytes { Array($0) } }

    func database(_ dir: TemporaryDirectory) throws -> Database {
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in
            for i in 0..<300 { try txn.put("k\(1000 + i)", "value \(i)") }
            try txn.put(Array("big".utf8), [UInt8](repeating: 9, count: 20_000))  // an overflow run
            try txn.put(Array("empty".utf8), [])
            try txn.table("t").put("k", "in the table")
        }
        return db
    }

    @Test func withValueLendsTheValueAsASpan() throws {
        let dir = TemporaryDirectory()
        let db = try database(dir)
        try db.read { txn in
            for key in ["k1000", "k1299", "big", "empty"] {
                let lent = try txn.withValue(forKey: Array(key.utf8)) { (value: RawSpan) in bytes(value) }
                #expect(lent == (try txn.get(key)), "\(key)")
            }
            #expect(try txn.withValue(forKey: Array("absent".utf8)) { (value: RawSpan) in value.byteCount } == nil)
            #expect(try txn.withValue(forKey: Array("big".utf8)) { (value: RawSpan) in value.unsafeLoad(fromByteOffset: 19_999, as: UInt8.self) } == 9)
            let table = try txn.table("t")
            #expect(try table.withValue(forKey: Array("k".utf8)) { (value: RawSpan) in bytes(value) } == Array("in the table".utf8))
        }
    }

    /// A closure whose parameter type is inferred compiles whichever members it uses: those of
    /// both (the span form), or only the buffer's (the buffer form).
    @Test func inferredClosuresPickAForm() throws {
        let dir = TemporaryDirectory()
        let db = try database(dir)
        try db.read { txn in
            let key = Array("k1000".utf8)
            let isEmpty = try txn.withValue(forKey: key) { $0.isEmpty }
            let byteCount = try txn.withValue(forKey: key) { value in value.byteCount }
            let count = try txn.withValue(forKey: key) { value in value.count }
            let copy = try txn.withValue(forKey: key) { value in Array(value) }
            let found = try txn.withValue(forKey: key) { _ in true }
            #expect(isEmpty == false)
            #expect(byteCount == 7 && count == 7)
            #expect(copy == Array("value 0".utf8))
            #expect(found == true)
        }
    }

    @Test func forEachAndTheCursorLendSpansOfTheSameBytes() throws {
        let dir = TemporaryDirectory()
        let db = try database(dir)
        try db.read { txn in
            for reverse in [false, true] {
                var viaBuffers: [[UInt8]] = [], viaSpans: [[UInt8]] = []
                try txn.forEach(in: .prefix("k1"), reverse: reverse) { (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) in
                    viaBuffers.append(Array(key) + [0] + Array(value))
                }
                try txn.forEach(in: .prefix("k1"), reverse: reverse) { (key: RawSpan, value: RawSpan) in
                    viaSpans.append(bytes(key) + [0] + bytes(value))
                }
                #expect(viaSpans.count == 300)
                #expect(viaSpans == viaBuffers)
            }
            var inTable: [[UInt8]] = []
            try txn.table("t").forEach { (key: RawSpan, value: RawSpan) in inTable.append(bytes(key) + bytes(value)) }
            #expect(inTable == [Array("kin the table".utf8)])

            let cursor = try txn.cursor()
            #expect(try cursor.seek(Array("k1290".utf8)))
            #expect(try cursor.withCurrent { (key: RawSpan, value: RawSpan) in bytes(key) + bytes(value) } == Array("k1290value 290".utf8))
            var walked: [[UInt8]] = []
            let stopped = try cursor.walk { (key: RawSpan, _: RawSpan) in
                walked.append(bytes(key))
                return walked.count < 5
            }
            #expect(stopped)
            #expect(walked == (1290..<1295).map { Array("k\($0)".utf8) })
            #expect(try cursor.key == Array("k1294".utf8), "the cursor stays on the entry the walk stopped at")
        }
    }
}
