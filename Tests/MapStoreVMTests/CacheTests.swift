import Testing
@testable import MapStoreVM

/// The caches of issue 20, by hand: core-i7's L1 has 64 sets of 8 ways of 64-byte lines (set =
/// PA bits 6...11), L2 512 sets of 8 (bits 6...14), L3 8192 sets of 16 (bits 6...18); hits cost
/// 4, 10 and 40 cycles, memory 200.
@Suite struct CacheTests {
    @Test func aLineHitsAfterItsMiss() {
        let caches = Caches(.coreI7)
        #expect(caches.access(pa: 0x1000, write: false, walk: false) == .memory)
        #expect(caches.access(pa: 0x1004, write: false, walk: false) == .l1, "same 64-byte line")
        #expect(caches.access(pa: 0x103f, write: false, walk: false) == .l1)
        #expect(caches.access(pa: 0x1040, write: false, walk: false) == .memory, "the next line")
        #expect(caches.tally(level: 0, walk: false) == (2, 2))
        #expect(caches.tally(level: 1, walk: false) == (0, 2))
        #expect(caches.tally(level: 2, walk: false) == (0, 2))
        #expect(caches.tally(level: 0, walk: true) == (0, 0), "walk reads are counted apart")
        #expect(caches.cycles == 200 + 4 + 4 + 200)
        #expect(caches.checkInvariants() == [])
    }

    /// Lines 4 KiB apart share L1 set 0. Eight fill its eight ways; a hit on line 0 makes line 1
    /// the least recently used, so the ninth line evicts line 1 from L1 only: it is still in L2
    /// (set 64 of 512) and L3, and the next access to it is an L2 hit, which in turn evicts
    /// line 2, now the L1's least recently used.
    @Test func nineLinesOfOneL1SetEvictTheLeastRecentlyUsedToL2() {
        let caches = Caches(.coreI7)
        for k in 0..<8 { #expect(caches.access(pa: UInt64(k) * 0x1000, write: false, walk: false) == .memory) }
        #expect(caches.lines(level: 0).map(\.set) == Array(repeating: 0, count: 8))
        #expect(caches.access(pa: 0, write: false, walk: false) == .l1)
        #expect(caches.access(pa: 0x8000, write: false, walk: false) == .memory)
        #expect(caches.line(level: 0, holding: 0x1000) == nil, "line 1 was the LRU of the set")
        #expect(caches.line(level: 0, holding: 0) != nil)
        #expect(caches.line(level: 1, holding: 0x1000)?.set == 64)
        #expect(caches.access(pa: 0x1000, write: false, walk: false) == .l2)
        #expect(caches.line(level: 0, holding: 0x2000) == nil)
        #expect(caches.access(pa: 0x2000, write: false, walk: false) == .l2)
        #expect(caches.cycles == 9 * 200 + 4 + 10 + 10)
        #expect(caches.tally(level: 1, walk: false) == (2, 9))
        #expect(caches.checkInvariants() == [])
    }

    /// Inclusion, and write-back. Lines 512 KiB apart share a set in all three levels. Line 0
    /// is written, then kept hot in L1 between new lines 1...7; L1 hits are invisible to L2, so
    /// when line 8 fills L2's set, line 0 is L2's least recently used: evicting it there
    /// back-invalidates its L1 copy, whose dirty data moves down to L3. The next read of line 0
    /// is an L3 hit. Sixteen more lines then push line 0 out of L3 too: one write-back.
    @Test func anEvictionBelowBackInvalidatesAboveAndDirtyLinesAreWrittenBack() {
        let caches = Caches(.coreI7)
        let stride: UInt64 = 0x80000
        #expect(caches.access(pa: 0, write: true, walk: false) == .memory)
        #expect(caches.line(level: 0, holding: 0)?.dirty == true)
        #expect(caches.line(level: 1, holding: 0)?.dirty == false, "write-back: only L1 knows yet")
        for k in 1...7 {
            caches.access(pa: UInt64(k) * stride, write: false, walk: false)
            #expect(caches.access(pa: 0, write: false, walk: false) == .l1)
        }
        caches.access(pa: 8 * stride, write: false, walk: false)
        #expect(caches.line(level: 1, holding: 0) == nil)
        #expect(caches.line(level: 0, holding: 0) == nil, "back-invalidated")
        #expect(caches.line(level: 2, holding: 0)?.dirty == true)
        #expect(caches.checkInvariants() == [])
        #expect(caches.access(pa: 0, write: false, walk: false) == .l3)
        #expect(caches.writebacks == 0)
        // L3's set now holds 1...8, 0 in that order of use; 9...24 evict 1...8, then 0.
        for k in 9...24 { caches.access(pa: UInt64(k) * stride, write: false, walk: false) }
        #expect(caches.line(level: 2, holding: 0) == nil)
        #expect(caches.writebacks == 1)
        #expect(caches.checkInvariants() == [])
    }

    /// The checker finds what it promises: a line dropped from L2 behind the hierarchy's back
    /// breaks inclusion, and the kernel's `checkInvariants()` reports it.
    @Test func aBrokenInclusionIsReported() throws {
        let kernel = Kernel()
        let caches = kernel.mmu.caches
        caches.access(pa: 0x1000, write: false, walk: false)
        #expect(kernel.checkInvariants() == [])
        let slot = caches.find(level: 1, line: 0x1000 >> 6)
        #expect(slot >= 0)
        caches.remove(level: 1, slot: slot)
        #expect(kernel.checkInvariants() == ["L1 line 0x1000 is missing from L2"])
    }

    /// CSAPP 9.6.4: the small cache is direct-mapped, 16 sets of 4-byte blocks, so PA 0x354 is
    /// CT 0x0d, CI 0x5, CO 0x0 and PA 0x394 (another tag, same set) evicts it.
    @Test func csappSmallCacheIsDirectMapped() {
        #expect(Preset.csappSmall.cacheSplit(0x354) == [CacheAddressSplit(level: "L1", tag: 0x0d, set: 0x5, offset: 0)])
        let caches = Caches(Preset.csappSmall.caches)
        #expect(caches.access(pa: 0x354, write: true, walk: false) == .memory)
        #expect(caches.access(pa: 0x357, write: false, walk: false) == .l1)
        #expect(caches.access(pa: 0x358, write: false, walk: false) == .memory, "the next 4-byte block")
        #expect(caches.access(pa: 0x394, write: false, walk: false) == .memory)
        #expect(caches.line(level: 0, holding: 0x354) == nil)
        #expect(caches.writebacks == 1, "the dirty block went back to memory")
        #expect(caches.cycles == 3 * 200 + 4)
    }

    /// 0x12345678 = 0001 0010 0011 0100 0101 0110 0111 1000: CO = low 6 bits = 0x38; L1's CI the
    /// next 6 (011001 = 25), CT the rest (0x12345); L2's CI 9 bits (0x159), CT 0x2468; L3's CI
    /// 13 bits (0x1159), CT 0x246.
    @Test func coreI7SplitsAPhysicalAddressPerLevel() {
        #expect(Preset.coreI7.cacheSplit(0x1234_5678) == [
            CacheAddressSplit(level: "L1", tag: 0x12345, set: 25, offset: 0x38),
            CacheAddressSplit(level: "L2", tag: 0x2468, set: 0x159, offset: 0x38),
            CacheAddressSplit(level: "L3", tag: 0x246, set: 0x1159, offset: 0x38),
        ])
        #expect(Preset.coreI7.l1SetFromOffset && Preset.skylake.l1SetFromOffset && Preset.csappSmall.l1SetFromOffset)
        let wide = Preset(name: "wide-l1", virtualBits: 48, physicalBits: 52, pageShift: 12, levels: 4, bitsPerLevel: 9,
                          tlbs: [TLBGeometry(entries: 64, ways: 4)],
                          caches: CacheHierarchyGeometry(levels: [CacheGeometry(name: "L1", bytes: 64 << 10, ways: 8, lineBytes: 64, latency: 4)],
                                                         memoryLatency: 200))
        #expect(!wide.l1SetFromOffset, "64 KiB 8-way: CI + CO = 13 bits, one more than the VPO")
    }

    /// Through the kernel: records name the level that served the data; walk reads go through
    /// the caches too but are counted apart; `caches off` looks nothing up.
    @Test func accessRecordsNameTheLevelThatServedThem() throws {
        let trace = try TraceParser.parse("""
            spawn A
            mmap A 0x7f6a28a12000 0x2000 rw private anon
            w A 0x7f6a28a12345 5
            r A 0x7f6a28a12340
            r A 0x7f6a28a13000
            caches off
            r A 0x7f6a28a12345
            """)
        let replayer = TraceReplayer(trace: trace)
        var served: [MemoryLevel?] = []
        try replayer.run { _, result in served.append(result.cache) }
        // The write zero-fills frame 1 (PA 0x1345) and misses everywhere; the read of the same
        // line hits L1; the read of the second page maps the zero page (PA 0x0): a miss.
        #expect(served == [.memory, .l1, .memory, nil])
        let counters = replayer.kernel.counters
        #expect((counters.l1dHits, counters.l1dMisses, counters.l2Misses, counters.l3Misses) == (1, 2, 2, 2))
        #expect(counters.walkL1dHits + counters.walkL1dMisses == counters.walkReads)
        #expect(counters.cycles == 4 * (counters.l1dHits + counters.walkL1dHits) + 10 * (counters.l2Hits + counters.walkL2Hits)
                + 40 * (counters.l3Hits + counters.walkL3Hits) + 200 * (counters.l3Misses + counters.walkL3Misses))
        #expect(replayer.kernel.checkInvariants() == [])
    }
}
