import Foundation

/// The keys, orders and value every engine gets, identical for all of them.
final class Inputs {
    let num: Int
    let keys: KeySet            // 16-byte keys, db_bench's `%016d`
    let missing: KeySet         // the same with a "." appended: never present
    let redbKeys: KeySet        // 24-byte keys for the redb mix
    let sequential: [Int32]
    let random: [Int32]         // fill order
    let random2: [Int32]        // read, overwrite and delete order (another permutation)
    let redbOrder: [Int32]
    let value: UnsafeRawBufferPointer
    let redbValue: UnsafeRawBufferPointer

    init(num: Int, valueSize: Int) {
        self.num = num
        keys = KeySet(count: num, digits: 16)
        missing = KeySet(count: num, digits: 16, suffix: UInt8(ascii: "."))
        let redbCount = num + num / 10 + 1000
        redbKeys = KeySet(count: redbCount, digits: 24)
        sequential = (0..<Int32(num)).map { $0 }
        random = permutation(num, seed: 1)
        random2 = permutation(num, seed: 2)
        redbOrder = permutation(redbCount, seed: 3)
        value = Inputs.randomBytes(valueSize, seed: 4)
        redbValue = Inputs.randomBytes(150, seed: 5)
    }

    static func randomBytes(_ count: Int, seed: UInt64) -> UnsafeRawBufferPointer {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 8)
        var rng = SeededGenerator(state: seed)
        for i in 0..<count { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        return UnsafeRawBufferPointer(rebasing: bytes[0..<count])
    }
}

/// Which database a workload starts from.
enum Start {
    /// A new, empty database.
    case fresh
    /// The main data set (num keys loaded in random order, 1000 per transaction), shared
    /// by the non-destructive workloads.
    case loaded
    /// A private copy of the main data set (the workload changes it).
    case loadedCopy
    /// The redb data set (24-byte keys, 150-byte values), shared or copied.
    case redb, redbCopy
}

struct Workload {
    let name: String
    let start: Start
    let durable: Bool
    /// Runs the timed part on `engine` and returns the operations done.
    let run: (Engine, Inputs) throws -> Int
}

let allWorkloads: [Workload] = [
    Workload(name: "fillseq", start: .fresh, durable: false) { e, i in
        try e.write(i.keys, i.sequential[...], value: i.value, batch: 1); return i.num
    },
    Workload(name: "fillrandom", start: .fresh, durable: false) { e, i in
        try e.write(i.keys, i.random[...], value: i.value, batch: 1); return i.num
    },
    Workload(name: "fillseqbatch", start: .fresh, durable: false) { e, i in
        try e.write(i.keys, i.sequential[...], value: i.value, batch: 1000); return i.num
    },
    Workload(name: "fillrandbatch", start: .fresh, durable: false) { e, i in
        try e.write(i.keys, i.random[...], value: i.value, batch: 1000); return i.num
    },
    Workload(name: "overwrite", start: .loaded, durable: false) { e, i in
        try e.write(i.keys, i.random2[...], value: i.value, batch: 1); return i.num
    },
    Workload(name: "readseq", start: .loaded, durable: false) { e, i in
        try expect(try e.scan(reverse: false), i.num, "readseq")
    },
    Workload(name: "readreverse", start: .loaded, durable: false) { e, i in
        try expect(try e.scan(reverse: true), i.num, "readreverse")
    },
    Workload(name: "readrandom", start: .loaded, durable: false) { e, i in
        try expect(try e.get(i.keys, i.random2[...]), i.num, "readrandom")
    },
    Workload(name: "readmissing", start: .loaded, durable: false) { e, i in
        _ = try expect(try e.get(i.missing, i.random2[...]), 0, "readmissing"); return i.num
    },
    Workload(name: "seekrandom", start: .loaded, durable: false) { e, i in
        try expect(try e.seek(i.keys, i.random2[...], entries: 1), i.num, "seekrandom")
    },
    Workload(name: "deleterandom", start: .loadedCopy, durable: false) { e, i in
        try expect(try e.delete(i.keys, i.random2[...], batch: 1), i.num, "deleterandom")
    },
    Workload(name: "readwhilewriting", start: .loadedCopy, durable: false) { e, i in
        try readWhileWriting(e, i)
    },
    Workload(name: "fillsync", start: .fresh, durable: true) { e, i in
        let n = min(i.num, 1000)
        try e.write(i.keys, i.random[..<n], value: i.value, batch: 1); return n
    },
    // The redb mix (redb's lmdb_benchmark): 24-byte keys, 150-byte values.
    Workload(name: "redb-bulkload", start: .fresh, durable: true) { e, i in
        try e.write(i.redbKeys, i.redbOrder[..<i.num], value: i.redbValue, batch: i.num); return i.num
    },
    Workload(name: "redb-individual", start: .redbCopy, durable: true) { e, i in
        let n = min(i.num / 10, 1000), from = i.num + i.num / 10
        try e.write(i.redbKeys, i.redbOrder[from..<(from + n)], value: i.redbValue, batch: 1); return n
    },
    Workload(name: "redb-batch", start: .redbCopy, durable: true) { e, i in
        let n = i.num / 10
        try e.write(i.redbKeys, i.redbOrder[i.num..<(i.num + n)], value: i.redbValue, batch: 1000); return n
    },
    Workload(name: "redb-randread", start: .redb, durable: false) { e, i in
        try expect(try e.get(i.redbKeys, i.redbOrder[..<i.num]), i.num, "redb-randread")
    },
    Workload(name: "redb-rangeread", start: .redb, durable: false) { e, i in
        // Ranges of 10 entries from random starts; an operation is one range.
        let n = i.num / 10
        _ = try e.seek(i.redbKeys, i.redbOrder[..<n], entries: 10); return n
    },
    Workload(name: "redb-remove", start: .redbCopy, durable: true) { e, i in
        let n = i.num / 2
        return try expect(try e.delete(i.redbKeys, i.redbOrder[..<n], batch: n), n, "redb-remove")
    },
]

/// Checks a workload did what it should (a wrong count means a broken engine or bench).
func expect(_ got: Int, _ wanted: Int, _ what: String) throws -> Int {
    guard got == wanted else { throw BenchError(description: "\(what): \(got) entries, expected \(wanted)") }
    return got
}

/// One writer thread overwrites random keys in single-put transactions while this thread
/// reads `num` random keys, 1000 per read transaction; the reader's operations count.
func readWhileWriting(_ engine: Engine, _ inputs: Inputs) throws -> Int {
    let reader = try engine.readerHandle()
    defer { if reader !== engine { reader.close() } }
    let stop = StopFlag()
    let done = DispatchSemaphore(value: 0)
    let writerError = ErrorBox()
    let writer = Thread {
        var at = 0
        do {
            while !stop.isSet {
                let end = min(at + 100, inputs.num)
                try engine.write(inputs.keys, inputs.random[at..<end], value: inputs.value, batch: 1)
                at = end == inputs.num ? 0 : end
            }
        } catch { writerError.error = error }
        done.signal()
    }
    writer.start()
    var found = 0
    var at = 0
    while at < inputs.num {
        let end = min(at + 1000, inputs.num)
        found += try reader.get(inputs.keys, inputs.random2[at..<end])
        at = end
    }
    stop.set()
    done.wait()
    if let error = writerError.error { throw error }
    return try expect(found, inputs.num, "readwhilewriting")
}

/// The writer thread's error, read by the reader thread after the writer signalled.
final class ErrorBox: @unchecked Sendable {
    var error: Error?
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
