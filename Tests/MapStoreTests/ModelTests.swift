import MapStoreTestSupport
import Testing
@testable import MapStore

/// Seeded random sequences of put/delete/get/scan/commit/abort against a plain dictionary.
@Suite struct ModelTests {
    /// Sorted-order helper for the model.
    static func sorted(_ model: [[UInt8]: [UInt8]]) -> [([UInt8], [UInt8])] {
        model.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
    }

    struct Abort: Error {}

    static func randomKey(_ rng: inout SeededGenerator, space: Int) -> [UInt8] {
        // A small key space makes overwrites and deletes hit; lengths vary to exercise splits.
        let id = Int.random(in: 0..<space, using: &rng)
        let length = 1 + id % 40
        return (0..<length).map { UInt8(truncatingIfNeeded: id &* 31 &+ $0 &* 7) } + [UInt8(id & 0xFF), UInt8(id >> 8)]
    }

    static func randomValue(_ rng: inout SeededGenerator) -> [UInt8] {
        let roll = Int.random(in: 0..<100, using: &rng)
        let length = roll < 5 ? 0 : roll < 90 ? Int.random(in: 1...120, using: &rng)
            : roll < 97 ? Int.random(in: 500...3000, using: &rng) : Int.random(in: 4000...20000, using: &rng)
        let fill = UInt8.random(in: 0...255, using: &rng)
        return (0..<length).map { UInt8(truncatingIfNeeded: Int(fill) &+ $0) }
    }

    static func run(seed: UInt64, mode: MappingMode, transactions: Int) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        var rng = SeededGenerator(seed: seed)
        var model: [[UInt8]: [UInt8]] = [:]
        let space = [50, 400, 3000][Int(seed % 3)]
        do {
            let db = try Database(path: path, options: .testing(mode))
            for _ in 0..<transactions {
                let abort = Int.random(in: 0..<10, using: &rng) == 0
                var draft = model
                do {
                    try db.write { txn throws in
                        for _ in 0..<Int.random(in: 1...60, using: &rng) {
                            let key = randomKey(&rng, space: space)
                            switch Int.random(in: 0..<10, using: &rng) {
                            case 0..<6:
                                let value = randomValue(&rng)
                                try txn.put(key, value)
                                draft[key] = value
                            case 6..<8:
                                let removed = try txn.delete(key)
                                #expect(removed == (draft.removeValue(forKey: key) != nil), "seed \(seed)")
                            default:
                                #expect(try txn.get(key) == draft[key], "seed \(seed): read own write")
                            }
                        }
                        if abort { throw Abort() }
                    }
                    model = draft
                } catch is Abort {}
                if Int.random(in: 0..<8, using: &rng) == 0 {
                    try db.read { txn throws in
                        let all = try txn.entries()
                        let expected = sorted(model)
                        #expect(all.count == expected.count, "seed \(seed)")
                        #expect(all.map(\.key) == expected.map(\.0), "seed \(seed)")
                        #expect(all.map(\.value) == expected.map(\.1), "seed \(seed)")
                    }
                }
            }
            #expect(try db.check() == [], "seed \(seed)")
        }
        guard mode != .privateCopyOnWrite else { return }
        let reopened = try Database(path: path, options: .testing(mode))
        try reopened.read { txn throws in
            let all = try txn.entries()
            let expected = sorted(model)
            #expect(all.map(\.key) == expected.map(\.0), "seed \(seed) after reopen")
            #expect(all.map(\.value) == expected.map(\.1), "seed \(seed) after reopen")
            let reversed = try txn.entries(reverse: true)
            #expect(reversed.map(\.key) == expected.reversed().map(\.0), "seed \(seed) reverse")
        }
        #expect(try reopened.check() == [], "seed \(seed) after reopen")
    }

    @Test(arguments: MappingMode.allCases)
    func randomSequencesMatchTheModel(mode: MappingMode) throws {
        let sequences = longMode ? 1000 : 12
        for seed in 0..<UInt64(sequences) {
            try Self.run(seed: seed &* 1_000_003 &+ UInt64(MappingMode.allCases.firstIndex(of: mode)!), mode: mode, transactions: longMode ? 60 : 25)
        }
    }
}
