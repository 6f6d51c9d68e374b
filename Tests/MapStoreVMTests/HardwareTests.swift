import Testing
@testable import MapStoreVM

@Suite struct SimulationHardwareTests {
    @Test func pteBitLayoutRoundTrips() {
        let pte = PageTableEntry(ppn: 0xFF_FFFF_FFFF, writable: true, user: true, executeDisable: true,
                                 accessed: true, dirty: true)
        let expected: UInt64 = 0x800F_FFFF_FFFF_F000 | 0b110_0111  // XD, 40-bit PPN in bits 12...51, D A U/S R/W P
        #expect(pte.raw == expected)
        #expect(pte.isPresent && pte.isWritable && pte.isUser && pte.isAccessed && pte.isDirty && pte.isExecuteDisabled)
        #expect(!pte.isGlobal && !pte.isWriteThrough && !pte.isCacheDisabled)
        #expect(pte.ppn == 0xFF_FFFF_FFFF)
        #expect(PageTableEntry(raw: 1 << 8).isGlobal)
        #expect(PageTableEntry(raw: 1 << 3).isWriteThrough)
        #expect(PageTableEntry(raw: 1 << 4).isCacheDisabled)
        let readOnly = PageTableEntry(ppn: 5, writable: false, executeDisable: false)
        #expect(readOnly.raw == 0x5005)
        #expect(readOnly.with(ppn: 7).raw == 0x7005)
        let swapped = PageTableEntry(swapSlot: 3)
        #expect(!swapped.isPresent && swapped.swapSlot == 3)
        #expect(PageTableEntry.empty.swapSlot == nil)
    }

    @Test func accessedAndDirtyBitsAreSetByTheMMU() throws {
        let kernel = Kernel()
        let a = try kernel.spawn(name: "A")
        try kernel.mmap(pid: a, addr: 0x10000, length: 0x2000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        _ = kernel.access(pid: a, va: 0x10000, op: .write)
        var pte = kernel.pte(pid: a, va: 0x10000)
        #expect(pte.isAccessed && pte.isDirty && pte.isWritable)
        // A shared file page read first: A set, D clear.
        let file = kernel.addFile(name: "f", size: 8192)
        try kernel.mmap(pid: a, addr: 0x20000, length: 0x2000, protection: [.read, .write], shared: true, file: file, offset: 0)
        _ = kernel.access(pid: a, va: 0x20000, op: .read)
        pte = kernel.pte(pid: a, va: 0x20000)
        #expect(pte.isAccessed && !pte.isDirty && !pte.isWritable)
        // The write is write-notified: the kernel makes the PTE writable, the MMU sets D.
        _ = kernel.access(pid: a, va: 0x20000, op: .write)
        pte = kernel.pte(pid: a, va: 0x20000)
        #expect(pte.isDirty && pte.isWritable)
        #expect(kernel.checkInvariants() == [])
    }

    /// A write that hits a TLB entry whose D bit is clear walks again to set D, as hardware does.
    @Test func writeHittingACleanTLBEntryReWalks() throws {
        let kernel = Kernel()
        let a = try kernel.spawn(name: "A")
        try kernel.mmap(pid: a, addr: 0x10000, length: 0x1000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        _ = kernel.access(pid: a, va: 0x10000, op: .write)
        // Clear D in memory and drop the TLB entry (as the kernel does after write-back).
        var pte = kernel.pte(pid: a, va: 0x10000)
        pte.set(PageTableEntry.dirtyBit, false)
        kernel.setPTE(pid: a, vpn: 0x10, pte)
        _ = kernel.access(pid: a, va: 0x10000, op: .read)  // walk: TLB entry with D = 0
        let walks = kernel.counters.walks
        let result = kernel.access(pid: a, va: 0x10001, op: .write)
        #expect(result.tlbHit && result.fault == .none)
        #expect(kernel.counters.walks == walks + 1)
        #expect(kernel.pte(pid: a, va: 0x10000).isDirty)
        _ = kernel.access(pid: a, va: 0x10002, op: .write)
        #expect(kernel.counters.walks == walks + 1, "the TLB entry now caches D")
    }

    /// The walk reads PTEs from simulated memory: rewriting a leaf PTE in memory (and dropping
    /// the stale TLB entry) redirects the translation.
    @Test func walkReadsPTEsFromPhysicalMemory() throws {
        let kernel = Kernel()
        let a = try kernel.spawn(name: "A")
        try kernel.mmap(pid: a, addr: 0x7f6a_28a1_2000, length: 0x2000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        _ = kernel.access(pid: a, va: 0x7f6a_28a1_2345, op: .write, value: 1)
        _ = kernel.access(pid: a, va: 0x7f6a_28a1_3000, op: .write, value: 2)
        // Follow CR3 by hand: four reads, indices 0xfe, 0x1a8, 0x145, 0x12.
        var table = kernel.processes[a].cr3
        for index in [0xfe, 0x1a8, 0x145] {
            let entry = kernel.memory.readPTE(table: table, index: index)
            #expect(entry.isPresent && entry.isAccessed)
            #expect(kernel.memory.isTableFrame(entry.ppn))
            table = entry.ppn
        }
        let leaf = kernel.memory.readPTE(table: table, index: 0x12)
        #expect(leaf.ppn == 1)
        #expect(kernel.memory.readPTE(table: table, index: 0x13).ppn == 2)
        kernel.memory.writePTE(table: table, index: 0x12, leaf.with(ppn: 2))
        kernel.mmu.tlb.flushAll()
        let before = kernel.counters.walkReads
        let result = kernel.access(pid: a, va: 0x7f6a_28a1_2000, op: .read)
        #expect(result.pa == 0x2000 && result.value == 2)
        #expect(kernel.counters.walkReads == before + 4)
    }

    @Test func mprotectInvalidatesTheTLBEntry() throws {
        let kernel = Kernel()
        let a = try kernel.spawn(name: "A")
        try kernel.mmap(pid: a, addr: 0x10000, length: 0x1000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        #expect(kernel.access(pid: a, va: 0x10000, op: .write).fault == .zero)
        #expect(kernel.access(pid: a, va: 0x10000, op: .write).tlbHit)
        let invlpgs = kernel.counters.invlpgs
        try kernel.mprotect(pid: a, addr: 0x10000, length: 0x1000, protection: [.read])
        #expect(kernel.counters.invlpgs == invlpgs + 1)
        #expect(!kernel.mmu.tlb.l1.entries.contains { $0.vpn == 0x10 })
        let denied = kernel.access(pid: a, va: 0x10000, op: .write)
        #expect(denied.fault == .protection && denied.pa == nil && !denied.tlbHit)
        #expect(kernel.access(pid: a, va: 0x10000, op: .read).value == 1)
        #expect(kernel.access(pid: a, va: 0x10000, op: .fetch).fault == .protection)
        // Back to read-write: the exclusive anonymous page is reused (a minor fault).
        try kernel.mprotect(pid: a, addr: 0x10000, length: 0x1000, protection: [.read, .write])
        #expect(kernel.access(pid: a, va: 0x10000, op: .write).fault == .minor)
        // PROT_NONE: U/S = 0 in the PTE, every access refused.
        try kernel.mprotect(pid: a, addr: 0x10000, length: 0x1000, protection: [])
        #expect(!kernel.pte(pid: a, va: 0x10000).isUser)
        #expect(kernel.access(pid: a, va: 0x10000, op: .read).fault == .protection)
        #expect(kernel.checkInvariants() == [])
    }

    @Test func pcidKeepsEntriesAcrossCR3Switches() throws {
        for pcid in [true, false] {
            let kernel = Kernel(pcid: pcid)
            for name in ["A", "B"] {
                let pid = try kernel.spawn(name: name)
                try kernel.mmap(pid: pid, addr: 0x10000, length: 0x1000, protection: [.read, .write], shared: false, file: nil, offset: 0)
                _ = kernel.access(pid: pid, va: 0x10000, op: .write, value: UInt8(pid + 1))
            }
            // Same VPN in both: tags keep them apart.
            let again = kernel.access(pid: 0, va: 0x10000, op: .read)
            #expect(again.value == 1)
            #expect(again.tlbHit == pcid)
            #expect(kernel.counters.contextSwitches == 2)
            #expect(kernel.counters.tlbFlushes == (pcid ? 0 : 3))
            #expect(kernel.checkInvariants() == [])
        }
    }

    @Test func tlbIsSetAssociativeWithTrueLRU() {
        let level = TLBLevel(TLBGeometry(entries: 8, ways: 2))  // 4 sets
        // VPNs 0, 4, 8 all map to set 0.
        level.fill(vpn: 0, asid: 1, ppn: 10, flags: 0)
        level.fill(vpn: 4, asid: 1, ppn: 14, flags: 0)
        #expect(level.lookup(vpn: 0, asid: 1) >= 0)  // 0 is now most recent
        level.fill(vpn: 8, asid: 1, ppn: 18, flags: 0)  // evicts 4, the LRU
        #expect(level.lookup(vpn: 4, asid: 1) < 0)
        #expect(level.lookup(vpn: 0, asid: 1) >= 0)
        #expect(level.lookup(vpn: 8, asid: 1) >= 0)
        #expect(level.lookup(vpn: 8, asid: 2) < 0)
        #expect(level.entries.allSatisfy { $0.set == 0 })
        level.invalidate(vpn: 8, asid: 1)
        #expect(level.lookup(vpn: 8, asid: 1) < 0)
    }
}

extension SimulationHardwareTests {
    /// Refilling an entry that is already cached (a re-walk to set D) must update it in place,
    /// not put a duplicate into an earlier free way that invlpg would then leave behind.
    @Test func refillDoesNotDuplicateAnEntry() {
        let level = TLBLevel(TLBGeometry(entries: 8, ways: 2))
        level.fill(vpn: 0, asid: 1, ppn: 10, flags: 0)
        level.fill(vpn: 4, asid: 1, ppn: 14, flags: 0)
        level.invalidate(vpn: 0, asid: 1)  // way 0 is free now, 4 sits in way 1
        level.fill(vpn: 4, asid: 1, ppn: 14, flags: TLBLevel.Flag.dirty)
        #expect(level.entries.filter { $0.vpn == 4 }.count == 1)
        level.invalidate(vpn: 4, asid: 1)
        #expect(level.lookup(vpn: 4, asid: 1) < 0)
    }
}
