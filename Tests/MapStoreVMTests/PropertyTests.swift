import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import MapStoreVM

/// Random traces from a seeded generator, checked two ways after every step:
/// `checkInvariants()` (no PTE points at a free frame, every TLB entry matches its page
/// table, reverse maps and swap counts agree) and a plain dictionary model of the bytes
/// every process should read.
@Suite struct SimulationPropertyTests {
    /// Per process: private anonymous at 0x100000, shared file at 0x200000 (file offset 0),
    /// private file at 0x300000 (file offset 0x10000), shared anonymous at 0x400000.
    static let regions: [(base: UInt64, pages: UInt64)] = [(0x100000, 8), (0x200000, 8), (0x300000, 8), (0x400000, 4)]

    struct Model {
        var privateBytes: [[UInt64: UInt8]] = []      // per process, regions 0 and 2, by VA
        var writable: [[Bool]] = []                    // per process, per region
        var shmemID: [Int] = []                        // per process: which shared-anon object
        var sharedFile: [UInt64: UInt8] = [:]          // by file offset
        var shmem: [Int: [UInt64: UInt8]] = [:]        // by object, by offset
        var nextShmem = 0

        func expected(pid: Int, va: UInt64) -> UInt8 {
            switch va >> 20 {
            case 1: privateBytes[pid][va] ?? 0
            case 2: sharedFile[va - 0x200000] ?? fileByte(va - 0x200000)
            case 3: privateBytes[pid][va] ?? fileByte(va - 0x300000 + 0x10000)
            default: shmem[shmemID[pid]]?[va - 0x400000] ?? 0
            }
        }
    }

    static func mapRegion(_ kernel: Kernel, _ model: inout Model, pid: Int, region: Int, file: Int) throws {
        let (base, pages) = regions[region]
        let length = pages * 0x1000
        switch region {
        case 0: try kernel.mmap(pid: pid, addr: base, length: length, protection: [.read, .write], shared: false, file: nil, offset: 0)
        case 1: try kernel.mmap(pid: pid, addr: base, length: length, protection: [.read, .write], shared: true, file: file, offset: 0)
        case 2: try kernel.mmap(pid: pid, addr: base, length: length, protection: [.read, .write], shared: false, file: file, offset: 0x10000)
        default:
            try kernel.mmap(pid: pid, addr: base, length: length, protection: [.read, .write], shared: true, file: nil, offset: 0)
            model.shmemID[pid] = model.nextShmem
            model.nextShmem += 1
        }
        model.writable[pid][region] = true
        if region == 0 || region == 2 {
            model.privateBytes[pid] = model.privateBytes[pid].filter { $0.key < base || $0.key >= base + length }
        }
    }

    @discardableResult
    static func run(seed: UInt64, steps: Int, policy: ReplacementPolicy, nested: Bool = false) throws -> Counters {
        var rng = SplitMix64(seed: seed)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let kernel = Kernel(frameLimit: 6 + pick(6), policy: policy, faultAround: [1, 4, 16][pick(3)], pcid: pick(2) == 0, nested: nested)
        let file = kernel.addFile(name: "f", size: 0x20000)
        var model = Model()
        func spawn() throws {
            let pid = try kernel.spawn(name: "P\(kernel.processes.count)")
            model.privateBytes.append([:])
            model.writable.append([true, true, true, true])
            model.shmemID.append(0)
            for region in 0..<4 { try mapRegion(kernel, &model, pid: pid, region: region, file: file) }
        }
        try spawn()
        var translated: UInt64 = 0
        for step in 0..<steps {
            let pid = pick(kernel.processes.count)
            let roll = pick(100)
            var what = ""
            if roll < 70 {
                let region = pick(4)
                let va = regions[region].base + UInt64(pick(Int(regions[region].pages) + 1)) * 0x1000 + UInt64(pick(3))
                let op: AccessKind = pick(2) == 0 ? .read : .write
                let value = UInt8(pick(4))  // few values, so KSM finds identical pages
                what = "\(op) P\(pid) 0x\(String(va, radix: 16))"
                let result = kernel.access(pid: pid, va: va, op: op, value: value)
                if result.pa != nil { translated += 1 }
                #expect((result.pa != nil) == (result.cache != nil), "step \(step): \(what)")
                let inside = va < regions[region].base + regions[region].pages * 0x1000
                if !inside {
                    #expect(result.fault == .segv, "step \(step): \(what)")
                } else if op == .write && !model.writable[pid][region] {
                    #expect(result.fault == .protection, "step \(step): \(what)")
                } else if op == .write {
                    #expect(result.value == value)
                    switch region {
                    case 1: model.sharedFile[va - 0x200000] = value
                    case 3: model.shmem[model.shmemID[pid], default: [:]][va - 0x400000] = value
                    default: model.privateBytes[pid][va] = value
                    }
                } else {
                    #expect(result.value == model.expected(pid: pid, va: va), "step \(step): \(what) seed \(seed)")
                }
            } else if roll < 74 && kernel.processes.count < 4 {
                what = "fork P\(pid)"
                let child = try kernel.fork(parent: pid, childName: "P\(kernel.processes.count)")
                model.privateBytes.append(model.privateBytes[pid])
                model.writable.append(model.writable[pid])
                model.shmemID.append(model.shmemID[pid])
                #expect(child == model.privateBytes.count - 1)
            } else if roll < 78 {
                let region = pick(4)
                what = "remap P\(pid) region \(region)"
                try mapRegion(kernel, &model, pid: pid, region: region, file: file)
            } else if roll < 83 {
                let region = [0, 2][pick(2)]
                let page = UInt64(pick(Int(regions[region].pages)))
                let va = regions[region].base + page * 0x1000
                what = "dontneed P\(pid) 0x\(String(va, radix: 16))"
                try kernel.madvise(pid: pid, addr: va, length: 0x1000, advice: .dontneed)
                model.privateBytes[pid] = model.privateBytes[pid].filter { $0.key < va || $0.key >= va + 0x1000 }
            } else if roll < 87 {
                let region = pick(4)
                let writable = pick(2) == 0
                what = "mprotect P\(pid) region \(region) \(writable)"
                try kernel.mprotect(pid: pid, addr: regions[region].base, length: regions[region].pages * 0x1000,
                                    protection: writable ? [.read, .write] : [.read])
                model.writable[pid][region] = writable
            } else if roll < 90 {
                what = "msync P\(pid)"
                try kernel.msync(pid: pid, addr: 0x200000, length: 0x8000)
            } else if roll < 93 {
                what = "mergeable P\(pid)"
                try kernel.madvise(pid: pid, addr: 0x100000, length: 0x8000, advice: .mergeable)
                try kernel.madvise(pid: pid, addr: 0x300000, length: 0x8000, advice: .mergeable)
            } else if roll < 96 {
                what = "ksm-scan"
                kernel.ksmScan()
            } else if roll < 98 {
                what = "willneed P\(pid)"
                try kernel.madvise(pid: pid, addr: 0x300000, length: 0x8000, advice: .willneed)
            } else {
                what = "spawn"
                if kernel.processes.count < 4 { try spawn() }
            }
            let problems = kernel.checkInvariants()
            #expect(problems == [], "seed \(seed) step \(step) after \(what)")
            if !problems.isEmpty { break }
        }
        checkCacheCounts(kernel.counters, dataLookups: translated, seed: seed)
        return kernel.counters
    }

    /// Each cache level's hits plus misses equal its lookups: L1 sees every translated access
    /// (and, apart, every walk read), each level below sees the misses of the one above; and
    /// the cycles are the latencies of the levels that served them.
    static func checkCacheCounts(_ c: Counters, dataLookups: UInt64, seed: UInt64) {
        #expect(c.l1dHits + c.l1dMisses == dataLookups, "seed \(seed)")
        #expect(c.l2Hits + c.l2Misses == c.l1dMisses, "seed \(seed)")
        #expect(c.l3Hits + c.l3Misses == c.l2Misses, "seed \(seed)")
        #expect(c.walkL1dHits + c.walkL1dMisses == c.walkReads + c.eptWalkReads, "seed \(seed)")
        #expect(c.walkL2Hits + c.walkL2Misses == c.walkL1dMisses, "seed \(seed)")
        #expect(c.walkL3Hits + c.walkL3Misses == c.walkL2Misses, "seed \(seed)")
        #expect(c.l1dHits > 0 && c.l3Misses > 0 && c.walkL1dHits > 0, "seed \(seed): the traces reach every outcome")
        #expect(c.cycles == 4 * (c.l1dHits + c.walkL1dHits) + 10 * (c.l2Hits + c.walkL2Hits)
                + 40 * (c.l3Hits + c.walkL3Hits) + 200 * (c.l3Misses + c.walkL3Misses), "seed \(seed)")
    }

    @Test(arguments: 0..<12)
    func randomTracesKeepTheInvariants(seed: Int) throws {
        let policies: [ReplacementPolicy] = [.fifo, .lru, .clock, .random(seed: 9), .opt]
        let counters = try Self.run(seed: UInt64(seed), steps: 400, policy: policies[seed % policies.count])
        #expect(counters.evictions > 0, "the frame limit should force replacement")
    }

    /// The same traces run as a guest under EPT: the invariants (the EPT's among them) and the
    /// bytes hold, every EPT walk reads 4 entries, and each guest frame is backed once.
    @Test(arguments: 0..<4)
    func randomNestedTracesKeepTheInvariants(seed: Int) throws {
        let counters = try Self.run(seed: UInt64(200 + seed), steps: 300, policy: [.lru, .clock][seed % 2], nested: true)
        #expect(counters.eptWalks > 0 && counters.eptWalkReads <= 4 * counters.eptWalks)
        #expect(counters.eptFaults > 0)
    }

    /// The random traces do reach the interesting paths (otherwise the test above proves little).
    @Test func randomTracesExerciseSwapCOWKSMAndWriteBack() throws {
        var total = Counters()
        for seed in 100..<104 {
            let counters = try Self.run(seed: UInt64(seed), steps: 400, policy: .lru)
            total.swapIns += counters.swapIns
            total.faultsCow += counters.faultsCow
            total.ksmMerges += counters.ksmMerges
            total.writebacks += counters.writebacks
            total.faultsProtection += counters.faultsProtection
        }
        #expect(total.swapIns > 0 && total.faultsCow > 0 && total.ksmMerges > 0)
        #expect(total.writebacks > 0 && total.faultsProtection > 0)
    }

    /// The long version (MAPSTORE_LONG=1): many more seeds and steps, every policy including OPT.
    @Test(.enabled(if: getenv("MAPSTORE_LONG") != nil), arguments: 0..<40)
    func longRandomTraces(seed: Int) throws {
        let policies: [ReplacementPolicy] = [.fifo, .lru, .clock, .opt, .random(seed: UInt64(seed))]
        try Self.run(seed: UInt64(1000 + seed), steps: 3000, policy: policies[seed % policies.count])
    }

    @Test func unlimitedMemoryNeverEvicts() throws {
        let kernel = Kernel()
        let a = try kernel.spawn(name: "A")
        try kernel.mmap(pid: a, addr: 0x100000, length: 0x100000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        var rng = SplitMix64(seed: 1)
        for _ in 0..<2000 {
            _ = kernel.access(pid: a, va: 0x100000 + rng.next() % 0x100000, op: .write)
        }
        #expect(kernel.counters.evictions == 0)
        #expect(kernel.checkInvariants() == [])
    }
}
