import Foundation
import MapStore

/// How readseq/readreverse read (`MAPSTORE_BENCH_SCAN`, for profiling the other paths):
/// `forEach` (default), `cursor` (`next()` and `withCurrent` per entry) or `scan`
/// (`txn.scan()` and its throwing `next()`, a copy of each key and value).
private let scanMode = ProcessInfo.processInfo.environment["MAPSTORE_BENCH_SCAN"] ?? "forEach"

/// MapStore through its public API only: `.none` durability for the non-durable
/// workloads, `.full` for the durable ones; zero-copy reads (`withValue`, `forEach`,
/// `cursor.withCurrent`, `cursor.walk`), each lending `RawSpan`s.
final class MapStoreEngine: Engine {
    private var database: Database?

    init(directory: String, durable: Bool) throws {
        var options = Options(mappingMode: .readOnly, durability: durable ? .full : .none)
        if let maxSize = benchMapSize { options.maxSize = maxSize }
        if let secureDelete = benchSecureDelete { options.secureDelete = secureDelete }
        database = try Database(path: directory + "/data.mapstore", options: options)
    }

    private var db: Database { database! }

    func close() { database = nil }

    func readerHandle() throws -> Engine { self }

    func write(_ keys: KeySet, _ order: ArraySlice<Int32>, value: UnsafeRawBufferPointer, batch: Int) throws {
        let value = value.assumingMemoryBound(to: UInt8.self)
        var i = order.startIndex
        while i < order.endIndex {
            let end = min(order.endIndex, i + batch)
            try db.write { txn in
                while i < end {
                    try txn.put(keys[order[i]].assumingMemoryBound(to: UInt8.self), value)
                    i += 1
                }
            }
        }
    }

    func delete(_ keys: KeySet, _ order: ArraySlice<Int32>, batch: Int) throws -> Int {
        var deleted = 0
        var i = order.startIndex
        while i < order.endIndex {
            let end = min(order.endIndex, i + batch)
            try db.write { txn in
                while i < end {
                    if try txn.delete(keys[order[i]].assumingMemoryBound(to: UInt8.self)) { deleted += 1 }
                    i += 1
                }
            }
        }
        return deleted
    }

    func get(_ keys: KeySet, _ order: ArraySlice<Int32>) throws -> Int {
        try db.read { txn in
            var found = 0, touched = 0
            for index in order {
                // The RawSpan form: the value cannot outlive the closure.
                if let first = try txn.withValue(forKey: keys[index].assumingMemoryBound(to: UInt8.self), { (value: RawSpan) in
                    value.isEmpty ? 0 : Int(value.unsafeLoad(as: UInt8.self))
                }) {
                    found += 1
                    touched &+= first
                }
            }
            blackHole(touched)
            return found
        }
    }

    func scan(reverse: Bool) throws -> Int {
        if scanMode == "cursor" { return try cursorScan(reverse: reverse) }
        if scanMode == "scan" { return try copyingScan(reverse: reverse) }
        return try db.read { txn in
            // The borrowed-bytes scan: each leaf walked in one loop, nothing copied, each entry lent as RawSpans.
            var count = 0, touched = 0
            try txn.forEach(reverse: reverse) { key, value in
                count += 1
                touched &+= key.byteCount &+ value.byteCount
            }
            blackHole(touched)
            return count
        }
    }

    /// The same scan through the per-entry cursor API (`next()` and `withCurrent` per entry),
    /// for profiling it: `MAPSTORE_BENCH_SCAN=cursor`.
    private func cursorScan(reverse: Bool) throws -> Int {
        try db.read { txn in
            let cursor = try txn.cursor()
            var count = 0, touched = 0
            var more = try reverse ? cursor.last() : cursor.first()
            while more {
                count += 1
                touched &+= try cursor.withCurrent { key, value in key.byteCount &+ value.byteCount }
                more = try reverse ? cursor.previous() : cursor.next()
            }
            blackHole(touched)
            return count
        }
    }

    /// The same scan through `txn.scan()`, which copies each key and value into arrays,
    /// for profiling it: `MAPSTORE_BENCH_SCAN=scan`.
    private func copyingScan(reverse: Bool) throws -> Int {
        try db.read { txn in
            var count = 0, touched = 0
            var scan = txn.scan(reverse: reverse)
            while let (key, value) = try scan.next() {
                count += 1
                touched &+= key.count &+ value.count
            }
            blackHole(touched)
            return count
        }
    }

    func seek(_ keys: KeySet, _ order: ArraySlice<Int32>, entries: Int) throws -> Int {
        try db.read { txn in
            let cursor = try txn.cursor()
            var read = 0, touched = 0
            for index in order {
                guard try cursor.seek(keys[index].assumingMemoryBound(to: UInt8.self)) else { continue }
                if entries == 1 {
                    read += 1
                    touched &+= try cursor.withCurrent { key, value in key.byteCount &+ value.byteCount }
                    continue
                }
                // A range: the entry found and the ones after it in one walk.
                var n = 0
                _ = try cursor.walk { key, value in
                    n += 1
                    touched &+= key.byteCount &+ value.byteCount
                    return n < entries
                }
                read += n
            }
            blackHole(touched)
            return read
        }
    }
}
