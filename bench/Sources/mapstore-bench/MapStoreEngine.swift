import MapStore

/// MapStore through its public API only: `.none` durability for the non-durable
/// workloads, `.full` for the durable ones; zero-copy reads (`withValue`, `withCurrent`).
final class MapStoreEngine: Engine {
    private var database: Database?

    init(directory: String, durable: Bool) throws {
        var options = Options(mappingMode: .readOnly, durability: durable ? .full : .none)
        if let maxSize = benchMapSize { options.maxSize = maxSize }
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
                if let first = try txn.withValue(forKey: keys[index].assumingMemoryBound(to: UInt8.self), { value in
                    value.isEmpty ? 0 : Int(value[0])
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
        try db.read { txn in
            let cursor = try txn.cursor()
            var count = 0, touched = 0
            var more = try reverse ? cursor.last() : cursor.first()
            while more {
                count += 1
                touched &+= try cursor.withCurrent { key, value in key.count &+ value.count }
                more = try reverse ? cursor.previous() : cursor.next()
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
                var more = try cursor.seek(keys[index].assumingMemoryBound(to: UInt8.self))
                var n = 0
                while more {
                    read += 1
                    touched &+= try cursor.withCurrent { key, value in key.count &+ value.count }
                    n += 1
                    if n == entries { break }
                    more = try cursor.next()
                }
            }
            blackHole(touched)
            return read
        }
    }
}
