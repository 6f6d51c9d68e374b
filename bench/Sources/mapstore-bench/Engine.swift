/// One storage engine under test. Every method runs its whole loop inside the engine's
/// own code, so the cost of calling through the protocol is paid once per call, not per op.
protocol Engine: AnyObject {
    /// Opens (creating when absent) the database in directory `directory`. `durable`: every
    /// commit reaches the disk before it returns (fillsync); otherwise no syncs at all.
    init(directory: String, durable: Bool) throws
    /// Puts `keys[i]` -> `value` for each `i` of `order`, `batch` puts per transaction.
    func write(_ keys: KeySet, _ order: ArraySlice<Int32>, value: UnsafeRawBufferPointer, batch: Int) throws
    /// Deletes `keys[i]` for each `i` of `order`, `batch` per transaction; returns how many were there.
    func delete(_ keys: KeySet, _ order: ArraySlice<Int32>, batch: Int) throws -> Int
    /// Looks up each key of `order` in one read transaction, touching the value's bytes;
    /// returns how many were found.
    func get(_ keys: KeySet, _ order: ArraySlice<Int32>) throws -> Int
    /// Walks every entry in key order (or reverse) in one read transaction; returns the count.
    func scan(reverse: Bool) throws -> Int
    /// For each key of `order`, positions a cursor at the first key >= it and reads
    /// `entries` entries from there; one read transaction. Returns the entries read.
    func seek(_ keys: KeySet, _ order: ArraySlice<Int32>, entries: Int) throws -> Int
    /// A handle a second thread may read through while this one writes (a new connection
    /// where the engine needs one).
    func readerHandle() throws -> Engine
    func close()
}

/// The engine names in report order.
let engineNames = ["lmdb", "sqlite", "mapstore"]

/// The engine's directory layout: each engine gets a directory of its own.
func openEngine(_ name: String, directory: String, durable: Bool) throws -> Engine {
    switch name {
    case "lmdb": return try LMDBEngine(directory: directory, durable: durable)
    case "sqlite": return try SQLiteEngine(directory: directory, durable: durable)
    case "mapstore": return try MapStoreEngine(directory: directory, durable: durable)
    default: fatalError("unknown engine \(name)")
    }
}

/// `count` keys of `width` bytes each in one allocation, so a key is a pointer and a
/// length, the same bytes for every engine. Key `i` is the decimal `i` zero-padded to
/// `width` digits (db_bench's `%016d`), followed by `suffix` when given (missing keys).
struct KeySet: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let width: Int
    let count: Int

    init(count: Int, digits: Int, suffix: UInt8? = nil) {
        self.width = digits + (suffix == nil ? 0 : 1)
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(1, count * width), alignment: 8)
        for i in 0..<count {
            var n = i
            let key = base + i * width
            for d in stride(from: digits - 1, through: 0, by: -1) {
                key.storeBytes(of: UInt8(48 + n % 10), toByteOffset: d, as: UInt8.self)
                n /= 10
            }
            if let suffix { key.storeBytes(of: suffix, toByteOffset: digits, as: UInt8.self) }
        }
    }

    @inline(__always)
    subscript(i: Int32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + Int(i) * width, count: width)
    }
}

/// SplitMix64: the same permutation on every run and every engine.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func permutation(_ count: Int, seed: UInt64) -> [Int32] {
    var order = (0..<Int32(count)).map { $0 }
    var rng = SeededGenerator(state: seed)
    order.shuffle(using: &rng)
    return order
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
}
