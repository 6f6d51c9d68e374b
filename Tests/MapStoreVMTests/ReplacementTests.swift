import Testing
@testable import MapStoreVM

/// Replacement policies on textbook reference strings. Each reference is a read of one page
/// of a file (fault-around off), so a fault is a major fault and an eviction drops a clean
/// page-cache page.
@Suite struct SimulationReplacementTests {
    static let belady = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]
    /// Silberschatz, Operating System Concepts, figure 10.12 ff.
    static let silberschatz = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]

    static func trace(_ references: [Int], frames: Int, policy: String) -> String {
        var lines = ["frames \(frames)", "policy \(policy)", "fault-around 1", "file refs.bin 65536",
                     "spawn A", "mmap A 0x10000000 0x10000 r private refs.bin 0"]
        for page in references { lines.append("r A 0x\(String(0x1000_0000 + page * 0x1000, radix: 16))") }
        return lines.joined(separator: "\n")
    }

    static func faults(_ references: [Int], frames: Int, policy: String) throws -> UInt64 {
        let (kernel, accesses) = try replay(trace(references, frames: frames, policy: policy))
        // Every read returns the file's byte, whatever was evicted in between.
        for (access, page) in zip(accesses, references) {
            #expect(access.value == fileByte(UInt64(page) * 0x1000))
        }
        #expect(kernel.counters.faultsMinor == 0)
        return kernel.counters.faultsMajor
    }

    @Test(arguments: [
        // Belady's string: FIFO 9 with 3 frames and 10 with 4 (the anomaly); LRU 10 / 8; OPT 7 / 6.
        ("fifo", 3, 9), ("fifo", 4, 10), ("lru", 3, 10), ("lru", 4, 8), ("opt", 3, 7), ("opt", 4, 6),
        // Second chance with the A bit (worked by hand in docs/simulator.md): 9 with 3 frames.
        ("clock", 3, 9),
    ])
    func beladyString(policy: String, frames: Int, expected: UInt64) throws {
        #expect(try Self.faults(Self.belady, frames: frames, policy: policy) == expected)
    }

    @Test(arguments: [("fifo", 15), ("lru", 12), ("opt", 9)])
    func silberschatzString(policy: String, expected: UInt64) throws {
        #expect(try Self.faults(Self.silberschatz, frames: 3, policy: policy) == expected)
    }

    @Test func beladysAnomalyFixture() throws {
        let text = try fixture("belady-fifo.trace")
        let (three, _) = try replay(text)
        let (four, _) = try replay(text.split(separator: "\n", omittingEmptySubsequences: false).map { $0 == "frames 3" ? "frames 4" : String($0) }.joined(separator: "\n"))
        #expect(three.counters.faultsMajor == 9)
        #expect(four.counters.faultsMajor == 10)
    }

    @Test func randomIsSeededAndNeverBeatsOPT() throws {
        let first = try Self.faults(Self.silberschatz, frames: 3, policy: "random:42")
        let second = try Self.faults(Self.silberschatz, frames: 3, policy: "random:42")
        #expect(first == second)
        #expect(first >= 9 && first <= 20)
    }

    @Test func framesNeverExceedTheLimit() throws {
        for policy in ["fifo", "lru", "clock", "opt", "random:7"] {
            let (kernel, _) = try replay(Self.trace(Self.silberschatz, frames: 3, policy: policy))
            #expect(kernel.counters.framesPeak == 3)
        }
    }
}
