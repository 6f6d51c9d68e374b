import Testing
@testable import MapStoreVM

/// 2 MiB pages and Linux's THP in madvise mode, computed by hand (docs/simulator.md,
/// "Huge pages"). The region at 0x40000000 is 1 GiB aligned, so its 2 MiB regions are too.
@Suite struct HugePageTests {
    static let base: UInt64 = 0x4000_0000
    static let huge: UInt64 = 0x20_0000

    /// A kernel with process A mapping `length` bytes of private anonymous memory at `base`,
    /// advised `hugepage` unless `advise` is false.
    static func kernel(preset: Preset = .coreI7, length: UInt64 = 4 * huge, advise: Bool = true,
                       frames: Int? = nil) throws -> (Kernel, Int) {
        let kernel = Kernel(preset: preset, frameLimit: frames)
        let a = try kernel.spawn(name: "A")
        try kernel.mmap(pid: a, addr: base, length: length, protection: [.read, .write], shared: false, file: nil, offset: 0)
        if advise { try kernel.madvise(pid: a, addr: base, length: length, advice: .hugepage) }
        return (kernel, a)
    }

    static func check(_ kernel: Kernel, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(kernel.checkInvariants() == [], sourceLocation: sourceLocation)
    }

    @Test func oneTLBEntryCoversTheWhole2MiBPage() throws {
        let (kernel, a) = try Self.kernel()
        let first = kernel.access(pid: a, va: Self.base, op: .write, value: 9)
        #expect(first.fault == .zero && first.pa == 0x20_0000, "PFN 0 is the zero page, 1...511 cannot start a run: 512")
        #expect(kernel.counters.thpFaults == 1 && kernel.counters.hugePages == 1 && kernel.counters.framesInUse == 512)
        #expect(kernel.pte(pid: a, va: Self.base).isPageSize)
        kernel.mmu.tlb.flushAll()
        let before = kernel.counters
        var values: [UInt8] = []
        for page in 0..<UInt64(512) {
            let result = kernel.access(pid: a, va: Self.base + page * 4096, op: .read)
            #expect(Bool(result.pa == (512 + page) << 12))
            values.append(result.value!)
        }
        let after = kernel.counters
        #expect(after.tlbL1Misses - before.tlbL1Misses == 1)
        #expect(after.tlbL1Hits - before.tlbL1Hits == 511)
        #expect(after.tlbL2Misses - before.tlbL2Misses == 1, "core-i7's L2 TLB holds 4 KiB entries only")
        #expect(after.walks - before.walks == 1)
        #expect(after.walkReads - before.walkReads == 3, "the walk stops at the PS=1 page-directory entry")
        #expect(values == [9] + [UInt8](repeating: 0, count: 511))
        #expect(kernel.mmu.tlb.l1Huge!.entries.count == 1 && kernel.mmu.tlb.l1.entries.isEmpty)
        Self.check(kernel)

        // The same 512 pages as 4 KiB pages: every page is a TLB miss and a 4-read walk.
        let (small, b) = try Self.kernel(advise: false)
        for page in 0..<UInt64(512) { _ = small.access(pid: b, va: Self.base + page * 4096, op: .write) }
        small.mmu.tlb.flushAll()
        let start = small.counters
        for page in 0..<UInt64(512) { _ = small.access(pid: b, va: Self.base + page * 4096, op: .read) }
        #expect(small.counters.tlbL1Misses - start.tlbL1Misses == 512)
        #expect(small.counters.walkReads - start.walkReads == 2048)
        #expect(small.counters.hugePages == 0 && small.counters.thpFaults == 0)
    }

    @Test func skylakesSTLBHolds2MiBEntriesAndCoreI7sDoesNot() throws {
        for preset in [Preset.skylake, .coreI7] {
            let (kernel, a) = try Self.kernel(preset: preset)
            _ = kernel.access(pid: a, va: Self.base, op: .write)
            kernel.mmu.tlb.l1Huge!.flushAll()
            let before = kernel.counters
            let result = kernel.access(pid: a, va: Self.base + 0x1234, op: .read)
            #expect(result.tlbHit == (preset == .skylake))
            #expect(kernel.counters.tlbL2Hits - before.tlbL2Hits == (preset == .skylake ? 1 : 0), "\(preset.name)")
            #expect(kernel.counters.walks - before.walks == (preset == .skylake ? 0 : 1), "\(preset.name)")
            Self.check(kernel)
        }
    }

    @Test func firstWritesAllocateTheLowestFreeAlignedRuns() throws {
        let (kernel, a) = try Self.kernel()
        try kernel.mmap(pid: a, addr: 0x1000_0000, length: 0x40_0000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        #expect(Bool(kernel.access(pid: a, va: 0x1000_0000, op: .write).pa == 0x1000), "a 4 KiB page: PFN 1")
        #expect(Bool(kernel.access(pid: a, va: Self.base, op: .write).pa == 512 << 12))
        #expect(Bool(kernel.access(pid: a, va: 0x1000_1000, op: .write).pa == 2 << 12), "PFN 2...511 stayed free")
        #expect(Bool(kernel.access(pid: a, va: Self.base + Self.huge + 0x5000, op: .write).pa == (1024 + 5) << 12))
        // Frames 512...1023 come back whole when the first huge page goes, and are reused.
        try kernel.munmap(pid: a, addr: Self.base, length: Self.huge)
        #expect(kernel.counters.framesInUse == 2 + 512 && kernel.counters.hugePages == 1)
        try kernel.mmap(pid: a, addr: Self.base, length: Self.huge, protection: [.read, .write], shared: false, file: nil, offset: 0)
        try kernel.madvise(pid: a, addr: Self.base, length: Self.huge, advice: .hugepage)
        #expect(Bool(kernel.access(pid: a, va: Self.base + 0x7000, op: .write).pa == (512 + 7) << 12))
        // One used frame in a block (PFN 1600 of 1536...2047) keeps the run from starting there.
        for page in 3..<UInt64(1601 - 1024) { _ = kernel.access(pid: a, va: 0x1000_0000 + (page - 1) * 4096, op: .write) }
        #expect(Bool(kernel.access(pid: a, va: Self.base + 2 * Self.huge, op: .write).pa == 2048 << 12))
        Self.check(kernel)
    }

    @Test func aFirstReadMapsTheHugeZeroPageAndAWriteThenAllocates() throws {
        let (kernel, a) = try Self.kernel()
        let zeroPFN = try #require(kernel.memory.hugeZeroPFN)
        #expect(zeroPFN == (1 << 40) - 512, "the top 512 frames of core-i7's 2^40")
        let read = kernel.access(pid: a, va: Self.base + 0x1234, op: .read)
        #expect(read.fault == .zero && read.value == 0 && read.pa == (zeroPFN << 12) + 0x1234)
        #expect(kernel.counters.thpZeroFaults == 1 && kernel.counters.framesInUse == 0 && kernel.counters.hugePages == 0)
        let other = kernel.access(pid: a, va: Self.base + 0x1F_F000, op: .read)
        #expect(other.fault == .none && other.tlbHit && other.value == 0)
        let write = kernel.access(pid: a, va: Self.base + 0x3000, op: .write, value: 7)
        #expect(write.fault == .zero && write.pa == (512 + 3) << 12)
        #expect(kernel.counters.thpFaults == 1 && kernel.counters.framesInUse == 512 && kernel.counters.hugePages == 1)
        #expect(kernel.access(pid: a, va: Self.base + 0x3000, op: .read).value == 7)
        #expect(kernel.access(pid: a, va: Self.base + 0x1234, op: .read).value == 0)
        #expect(kernel.counters.faultsZero == 2 && kernel.counters.thpSplits == 0)
        Self.check(kernel)
    }

    @Test func regionsNotWholeInsideTheVMAOrWithoutAdviceGet4KiBPages() throws {
        // 2 MiB + 64 KiB: the tail region is not whole inside the VMA.
        let (kernel, a) = try Self.kernel(length: Self.huge + 0x1_0000)
        #expect(Bool(kernel.access(pid: a, va: Self.base + Self.huge, op: .write).pa == 0x1000))
        #expect(Bool(kernel.access(pid: a, va: Self.base, op: .write).pa == 512 << 12))
        // A VMA that starts 4 KiB past a 2 MiB boundary holds no whole region.
        try kernel.mmap(pid: a, addr: 0x8000_1000, length: Self.huge, protection: [.read, .write], shared: false, file: nil, offset: 0)
        try kernel.madvise(pid: a, addr: 0x8000_1000, length: Self.huge, advice: .hugepage)
        #expect(Bool(kernel.access(pid: a, va: 0x8000_1000, op: .write).pa == 0x2000))
        // Shared anonymous memory and csapp-small never get huge pages.
        try kernel.mmap(pid: a, addr: 0xC000_0000, length: Self.huge, protection: [.read, .write], shared: true, file: nil, offset: 0)
        try kernel.madvise(pid: a, addr: 0xC000_0000, length: Self.huge, advice: .hugepage)
        #expect(kernel.access(pid: a, va: 0xC000_0000, op: .write).fault == .zero)
        #expect(!kernel.pte(pid: a, va: 0xC000_0000).isPageSize)
        #expect(kernel.counters.thpFaults == 1 && kernel.counters.thpFallbacks == 0)
        Self.check(kernel)
        let small = Kernel(preset: .csappSmall)
        let s = try small.spawn(name: "S")
        try small.mmap(pid: s, addr: 0, length: 0x1000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        try small.madvise(pid: s, addr: 0, length: 0x1000, advice: .hugepage)
        #expect(small.access(pid: s, va: 0, op: .write).pa == 64 && small.counters.hugePages == 0)
    }

    @Test func aFrameLimitBelow512FramesFallsBackTo4KiBPages() throws {
        let (kernel, a) = try Self.kernel(frames: 600)
        #expect(Bool(kernel.access(pid: a, va: Self.base, op: .write).pa == 512 << 12))
        let second = kernel.access(pid: a, va: Self.base + Self.huge, op: .write)
        #expect(second.fault == .zero && second.pa == 0x1000, "88 frames left: a 4 KiB page")
        #expect(kernel.counters.thpFallbacks == 1 && kernel.counters.thpFaults == 1)
        // A write to the huge zero page that cannot get 512 frames splits it to 4 KiB zero pages.
        #expect(kernel.access(pid: a, va: Self.base + 2 * Self.huge + 0x5000, op: .read).fault == .zero)
        let write = kernel.access(pid: a, va: Self.base + 2 * Self.huge + 0x5000, op: .write, value: 4)
        #expect(write.fault == .zero && write.pa == 0x2000)
        #expect(kernel.counters.thpFallbacks == 2 && kernel.counters.thpSplits == 1)
        #expect(kernel.pte(pid: a, va: Self.base + 2 * Self.huge).ppn == 0, "the rest maps the 4 KiB zero page")
        #expect(kernel.access(pid: a, va: Self.base + 2 * Self.huge, op: .read).value == 0)
        Self.check(kernel)
    }

    /// Bytes at pages 0, 7 and 300 of a huge page.
    static func writtenHugePage() throws -> (Kernel, Int) {
        let (kernel, a) = try Self.kernel()
        for (page, value) in [(0, 10), (7, 17), (300, 30)] as [(UInt64, UInt8)] {
            _ = kernel.access(pid: a, va: Self.base + page * 4096 + 1, op: .write, value: value)
        }
        #expect(kernel.counters.thpFaults == 1)
        return (kernel, a)
    }

    @Test func aPartialMunmapSplitsTheHugePageAndKeepsTheRest() throws {
        let (kernel, a) = try Self.writtenHugePage()
        try kernel.munmap(pid: a, addr: Self.base + 7 * 4096, length: 4096)
        #expect(kernel.counters.thpSplits == 1 && kernel.counters.hugePages == 0)
        #expect(kernel.processes[a].vmas.count == 2)
        #expect(kernel.access(pid: a, va: Self.base + 7 * 4096, op: .read).fault == .segv)
        let page0 = kernel.access(pid: a, va: Self.base + 1, op: .read)
        let page300 = kernel.access(pid: a, va: Self.base + 300 * 4096 + 1, op: .read)
        #expect(page0.value == 10 && page0.pa == (512 << 12) + 1 && page0.fault == .none)
        #expect(page300.value == 30 && page300.pa == ((512 + 300) << 12) + 1)
        #expect(!kernel.pte(pid: a, va: Self.base).isPageSize && kernel.pte(pid: a, va: Self.base).isWritable)
        // As in Linux, the unmapped page's frame stays with its folio until the folio goes.
        #expect(kernel.counters.framesInUse == 512)
        Self.check(kernel)
        try kernel.munmap(pid: a, addr: Self.base, length: Self.huge)
        #expect(kernel.counters.framesInUse == 0 && kernel.memory.hugeFolios.isEmpty)
        Self.check(kernel)
    }

    @Test func aPartialMprotectSplitsAndAWholeOneDoesNot() throws {
        let (kernel, a) = try Self.writtenHugePage()
        try kernel.mprotect(pid: a, addr: Self.base + 10 * 4096, length: 4096, protection: [.read])
        #expect(kernel.counters.thpSplits == 1)
        #expect(kernel.access(pid: a, va: Self.base + 10 * 4096, op: .write).fault == .protection)
        let next = kernel.access(pid: a, va: Self.base + 11 * 4096, op: .write, value: 11)
        #expect(next.fault == .none && next.pa == (512 + 11) << 12)
        #expect(kernel.access(pid: a, va: Self.base + 7 * 4096 + 1, op: .read).value == 17)
        Self.check(kernel)

        // A whole 2 MiB page changes protection in its one entry.
        let huge = Self.base + Self.huge
        _ = kernel.access(pid: a, va: huge, op: .write, value: 5)
        try kernel.mprotect(pid: a, addr: huge, length: Self.huge, protection: [.read])
        #expect(kernel.counters.thpSplits == 1 && kernel.pte(pid: a, va: huge).isPageSize && !kernel.pte(pid: a, va: huge).isWritable)
        #expect(kernel.access(pid: a, va: huge + 0x1000, op: .write).fault == .protection)
        try kernel.mprotect(pid: a, addr: huge, length: Self.huge, protection: [.read, .write])
        #expect(kernel.access(pid: a, va: huge + 0x1000, op: .write).fault == .minor, "exclusive: reused in place")
        #expect(kernel.pte(pid: a, va: huge).isPageSize && kernel.counters.thpSplits == 1)
        Self.check(kernel)
    }

    @Test func forkSharesTheHugePageAndAWriteSplitsItAndCopiesOne4KiBPage() throws {
        let (kernel, a) = try Self.writtenHugePage()
        let b = try kernel.fork(parent: a, childName: "B")
        #expect(kernel.counters.hugePages == 2 && kernel.counters.thpSplits == 0)
        #expect(!kernel.pte(pid: a, va: Self.base).isWritable && kernel.pte(pid: b, va: Self.base).isPageSize)
        #expect(kernel.memory[512 + 7].mapCount == 2)
        let read = kernel.access(pid: b, va: Self.base + 7 * 4096 + 1, op: .read)
        #expect(read.fault == .none && read.value == 17 && read.pa == ((512 + 7) << 12) + 1)
        // Linux 6.x: the writer's PMD is split and the one page copied.
        let write = kernel.access(pid: b, va: Self.base + 5 * 4096, op: .write, value: 22)
        #expect(write.fault == .cow && write.pa == 1 << 12)
        #expect(kernel.counters.thpSplits == 1 && kernel.counters.hugePages == 1)
        #expect(kernel.pte(pid: b, va: Self.base + 7 * 4096).ppn == 512 + 7, "the other pages still map the huge page's frames")
        #expect(kernel.pte(pid: a, va: Self.base).isPageSize, "the parent keeps its 2 MiB entry")
        // The parent's frames are still mapped by the child too: its write splits and copies as well.
        let parent = kernel.access(pid: a, va: Self.base + 6 * 4096, op: .write, value: 33)
        #expect(parent.fault == .cow && parent.pa == 2 << 12 && kernel.counters.thpSplits == 2)
        #expect(kernel.access(pid: a, va: Self.base + 5 * 4096, op: .read).value == 0)
        #expect(kernel.access(pid: b, va: Self.base + 6 * 4096, op: .read).value == 0)
        #expect(kernel.access(pid: b, va: Self.base + 5 * 4096, op: .read).value == 22)
        Self.check(kernel)

        // Once the child has unmapped its second huge page, the parent's write reuses it whole.
        let second = Self.base + Self.huge
        _ = kernel.access(pid: a, va: second, op: .write, value: 1)
        let c = try kernel.fork(parent: a, childName: "C")
        try kernel.munmap(pid: c, addr: second, length: Self.huge)
        let reuse = kernel.access(pid: a, va: second + 0x2000, op: .write, value: 2)
        #expect(reuse.fault == .minor && kernel.pte(pid: a, va: second).isPageSize && kernel.pte(pid: a, va: second).isWritable)
        #expect(kernel.counters.thpSplits == 2)
        Self.check(kernel)
    }

    @Test func swappingAPageOutSplitsTheHugePageFirst() throws {
        let (kernel, a) = try Self.kernel(frames: 520)
        try kernel.mmap(pid: a, addr: 0x1000_0000, length: 0x10_0000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        _ = kernel.access(pid: a, va: Self.base, op: .write, value: 1)
        for page in 0..<UInt64(12) {
            _ = kernel.access(pid: a, va: Self.base + (page + 1) * 4096, op: .write, value: UInt8(page + 2))
        }
        for page in 0..<UInt64(10) {
            _ = kernel.access(pid: a, va: 0x1000_0000 + page * 4096, op: .write, value: UInt8(100 + page))
        }
        #expect(kernel.counters.thpSplits == 1 && kernel.counters.hugePages == 0)
        #expect(kernel.memory.hugeFolios.isEmpty, "the folio was split before swap-out")
        #expect(kernel.counters.swapOuts == 2 && kernel.counters.framesInUse == 520)
        Self.check(kernel)
        #expect(kernel.access(pid: a, va: Self.base, op: .read).value == 1)
        for page in 0..<UInt64(12) {
            #expect(kernel.access(pid: a, va: Self.base + (page + 1) * 4096, op: .read).value == UInt8(page + 2))
        }
        for page in 0..<UInt64(10) {
            #expect(kernel.access(pid: a, va: 0x1000_0000 + page * 4096, op: .read).value == UInt8(100 + page))
        }
        Self.check(kernel)
    }

    @Test func aTraceAdvisesHugepageAndReportsTheCounters() throws {
        let (kernel, accesses) = try replay("""
            spawn A
            mmap A 0x40000000 0x400000 rw private anon
            madvise A 0x40000000 0x400000 hugepage
            w A 0x40000000 5
            r A 0x40200000
            madvise A 0x40000000 0x1000 nohugepage
            r A 0x40000000
            """)
        #expect(accesses.map(\.fault) == [.zero, .zero, .none])
        #expect(accesses.last?.value == 5)
        #expect(kernel.counters.thpSplits == 1, "the VMA boundary at 4 KiB splits the first huge page")
        #expect(kernel.processes[0].vmas.count == 2)
        let summary = TraceOutput.summaryLines(kernel.counters)
        for name in ["thpFaults         1", "thpZeroFaults     1", "thpFallbacks      0", "thpSplits         1", "hugePages         0"] {
            #expect(summary.contains("  " + name), "\(summary)")
        }
        #expect(throws: TraceParseError.self) { try TraceParser.parse("spawn A\nmadvise A 0x0 0x1000 huge") }
    }

    /// Random traces over a `hugepage` VMA (three whole 2 MiB regions and a 16-page tail):
    /// writes, reads, partial munmap, mprotect and MADV_DONTNEED, fork, remapping, under
    /// a frame limit that forces fallbacks and swap. After every step the invariants hold
    /// and every read sees the byte a plain dictionary model says.
    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func randomTracesWithHugePagesKeepTheInvariants(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let pages = 3 * 512 + 16
        let limits: [Int?] = [nil, 530, 560, 1100]
        let kernel = Kernel(preset: seed % 2 == 0 ? .skylake : .coreI7, frameLimit: limits[Int(seed) % limits.count])
        struct Space { var bytes: [Int: UInt8] = [:]; var mapped: [Bool]; var writable: [Bool] }
        var spaces: [Space] = []
        func mapAll(_ pid: Int) throws {
            try kernel.mmap(pid: pid, addr: Self.base, length: UInt64(pages) * 4096, protection: [.read, .write], shared: false, file: nil, offset: 0)
            try kernel.madvise(pid: pid, addr: Self.base, length: UInt64(pages) * 4096, advice: .hugepage)
            spaces[pid] = Space(mapped: [Bool](repeating: true, count: pages), writable: [Bool](repeating: true, count: pages))
        }
        spaces.append(Space(mapped: [], writable: []))
        try mapAll(try kernel.spawn(name: "P0"))
        // Pages near the ends of regions and a few inside, so that splits land everywhere.
        let hot = [0, 1, 7, 255, 510, 511, 512, 513, 1000, 1023, 1024, 1300, 1535, 1536, 1540, 1551]
        func page() -> Int { pick(3) == 0 ? pick(pages) : hot[pick(hot.count)] }
        for step in 0..<400 {
            let pid = pick(kernel.processes.count)
            let first = page(), count = 1 + pick(pick(4) == 0 ? 600 : 3)
            let range = first..<min(pages, first + count)
            let addr = Self.base + UInt64(first) * 4096, length = UInt64(range.count) * 4096
            switch pick(20) {
            case 0...7:
                let offset = pick(4096), value = UInt8(1 + pick(255))
                let result = kernel.access(pid: pid, va: addr + UInt64(offset), op: .write, value: value)
                if !spaces[pid].mapped[first] {
                    #expect(result.fault == .segv, "step \(step)")
                } else if !spaces[pid].writable[first] {
                    #expect(result.fault == .protection, "step \(step)")
                } else {
                    #expect(result.value == value, "step \(step)")
                    spaces[pid].bytes[first * 4096 + offset] = value
                }
            case 8...12:
                let offset = [0, 1, 4095][pick(3)]
                let result = kernel.access(pid: pid, va: addr + UInt64(offset), op: .read)
                if spaces[pid].mapped[first] {
                    #expect(result.value == spaces[pid].bytes[first * 4096 + offset] ?? 0, "step \(step): \(result)")
                } else {
                    #expect(result.fault == .segv, "step \(step)")
                }
            case 13:
                try kernel.munmap(pid: pid, addr: addr, length: length)
                for index in range { spaces[pid].mapped[index] = false }
                spaces[pid].bytes = spaces[pid].bytes.filter { !range.contains($0.key / 4096) }
            case 14:
                let writable = pick(2) == 0
                try kernel.mprotect(pid: pid, addr: addr, length: length, protection: writable ? [.read, .write] : [.read])
                for index in range where spaces[pid].mapped[index] { spaces[pid].writable[index] = writable }
            case 15:
                try kernel.madvise(pid: pid, addr: addr, length: length, advice: .dontneed)
                spaces[pid].bytes = spaces[pid].bytes.filter { !range.contains($0.key / 4096) }
            case 16:
                if kernel.processes.count < 3 {
                    _ = try kernel.fork(parent: pid, childName: "P\(kernel.processes.count)")
                    spaces.append(spaces[pid])
                }
            case 17:
                try mapAll(pid)
            default:
                kernel.mmu.tlb.flushAll()
            }
            let problems = kernel.checkInvariants()
            #expect(problems == [], "seed \(seed) step \(step)")
            if !problems.isEmpty { break }
        }
        for pid in kernel.processes.indices {
            for (offset, value) in spaces[pid].bytes.sorted(by: { $0.key < $1.key }) {
                #expect(kernel.access(pid: pid, va: Self.base + UInt64(offset), op: .read).value == value)
            }
        }
        #expect(kernel.checkInvariants() == [])
        #expect(kernel.counters.thpFaults > 0)
    }
}
