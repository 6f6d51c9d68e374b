/// Linux's transparent huge pages in `madvise` mode, on the model's 2 MiB pages (a
/// page-directory entry with PS = 1, 512 contiguous frames aligned on 512).
///
/// - In a VMA advised `hugepage` (private anonymous memory), the first fault in a 2 MiB
///   region that lies whole inside the VMA and has no page table yet (Linux's `pmd_none`)
///   maps the region at once: a write allocates a huge page, the lowest free aligned run of
///   512 frames (one `zero` fault, `thpFaults`); a read maps the huge zero page read-only
///   (use_zero_page = 1; `thpZeroFaults`). A later write to the huge zero page allocates a
///   huge page (Linux's do_huge_zero_wp_pmd). With no free run, or not 512 frames left
///   under `frames N`, the fault falls back to 4 KiB pages (`thpFallbacks`).
/// - A 2 MiB page is split into 512 PTEs mapping the same frames (`thpSplits`) where Linux
///   splits the PMD: munmap, mprotect or MADV_DONTNEED of part of it, a VMA boundary inside
///   it, any 4 KiB change to one of its pages (``setPTE(pid:vpn:_:)``), and a write fault on
///   it after fork while another process still maps it (then the one 4 KiB page is copied,
///   as Linux 6.x does). The frames stay one huge folio until the kernel needs their memory:
///   evicting any frame of it splits the folio first (its unmapped frames are freed, then the
///   victim goes to swap alone), as Linux splits a THP before swapping it out.
/// - Reverse mappings stay per frame: a 2 MiB entry records 512 (process, VPN) pairs, so a
///   split changes no frame's bookkeeping.
extension Kernel {
    /// Base pages per 2 MiB page (512).
    var hugeSpan: UInt64 { UInt64(preset.pagesPerHugePage) }

    /// The page-directory entry with PS = 1 that maps `vpn` in process `pid`, or nil.
    public func hugePDE(pid: Int, vpn: UInt64) -> PageTableEntry? {
        guard preset.hasHugePages,
              let (table, index) = entryLocation(pid: pid, vpn: vpn, level: preset.levels - 2, create: false) else { return nil }
        let pde = memory.readPTE(table: table, index: index)
        return pde.isPageSize ? pde : nil
    }

    /// Whether the 2 MiB region of `vpn` has no page-directory entry at all (no page table,
    /// no 2 MiB page): the only state in which a fault may map a huge page there.
    func pmdNone(pid: Int, vpn: UInt64) -> Bool {
        guard let (table, index) = entryLocation(pid: pid, vpn: vpn, level: preset.levels - 2, create: false) else { return true }
        return memory.readPTE(table: table, index: index).raw == 0
    }

    /// A page-directory entry mapping the 2 MiB page at `pfn` with `vma`'s permissions.
    func makeHugePDE(_ pfn: UInt64, writable: Bool, vma: VMA, from old: PageTableEntry? = nil) -> PageTableEntry {
        var pde = makePTE(pfn, writable: writable, vma: vma, from: old)
        pde.set(PageTableEntry.pageSizeBit, true)
        return pde
    }

    /// Writes the page-directory entry of the 2 MiB region starting at `region` (a VPN):
    /// the one place a 2 MiB entry changes. Like ``setPTE(pid:vpn:_:)``: reverse mappings of
    /// all 512 frames, frees a huge folio nobody maps, counts ``Counters/hugePages``, and
    /// invalidates the 2 MiB TLB entry.
    func setHugePDE(pid: Int, region: UInt64, _ new: PageTableEntry) {
        guard let (table, index) = entryLocation(pid: pid, vpn: region, level: preset.levels - 2, create: new.raw != 0) else { return }
        let old = memory.readPTE(table: table, index: index)
        precondition(old.raw == 0 || old.isPageSize, "a 2 MiB page would replace a page table")
        guard old != new else { return }
        memory.writePTE(table: table, index: index, new)
        if new.isPageSize { mmu.hugeInUse = true }
        let samePages = old.isPageSize && new.isPageSize && old.ppn == new.ppn
        if new.isPageSize && !samePages && !memory.isHugeZero(new.ppn) {
            for page in 0..<hugeSpan { memory.addMapping(new.ppn + page, pid: Int32(pid), vpn: region + page) }
            countersStorage.pointee.hugePages += 1
        }
        guard old.isPageSize else { return }
        if !samePages && !memory.isHugeZero(old.ppn) {
            for page in 0..<hugeSpan { memory.removeMapping(old.ppn + page, pid: Int32(pid), vpn: region + page) }
            countersStorage.pointee.hugePages -= 1
            releaseIfUnused(old.ppn)
        }
        mmu.tlb.invalidate(hugePage: region >> UInt64(preset.bitsPerLevel), asid: processes[pid].asid)
        countersStorage.pointee.invlpgs += 1
    }

    /// Calls `body` with the first VPN and the entry of every 2 MiB page of `pid` that
    /// overlaps [`from`, `to`) VPNs, in order. `body` may change or split the entry.
    func forEachHugePDE(pid: Int, from: UInt64, to: UInt64, _ body: (UInt64, PageTableEntry) -> Void) {
        guard mmu.hugeInUse, from < to else { return }
        visit(table: processes[pid].cr3, level: 0, target: preset.levels - 2, base: 0, from: from, to: to) { start, pde in
            if pde.isPageSize { body(start, pde) }
        }
    }

    /// Splits the 2 MiB page mapping `vpn` into a page table of 512 PTEs that map the same
    /// frames with the same bits (A and D copied to each); the huge zero page becomes 512
    /// mappings of the 4 KiB zero page, as in Linux's `__split_huge_zero_page_pmd`.
    func splitHugePMD(pid: Int, vpn: UInt64) {
        let region = vpn & ~(hugeSpan - 1)
        guard let (table, index) = entryLocation(pid: pid, vpn: region, level: preset.levels - 2, create: false) else { return }
        let pde = memory.readPTE(table: table, index: index)
        guard pde.isPageSize else { return }
        guard let child = memory.allocateTable() else { preconditionFailure("physical memory has no room for another page table") }
        let zero = memory.isHugeZero(pde.ppn)
        let leaf = PageTableEntry(raw: pde.raw & ~PageTableEntry.pageSizeBit)
        for page in 0..<hugeSpan {
            memory.writePTE(table: child, index: Int(page), leaf.with(ppn: zero ? 0 : pde.ppn + page))
        }
        memory.writePTE(table: table, index: index, PageTableEntry(ppn: child, writable: true, user: true, executeDisable: false,
                                                                  accessed: pde.isAccessed))
        mmu.tlb.invalidate(hugePage: region >> UInt64(preset.bitsPerLevel), asid: processes[pid].asid)
        countersStorage.pointee.invlpgs += 1
        countersStorage.pointee.thpSplits += 1
        if !zero { countersStorage.pointee.hugePages -= 1 }
    }

    /// Splits every 2 MiB page of `pid` that [`from`, `to`) VPNs cover only in part, and calls
    /// `whole` with each one it covers whole.
    func splitHugePartlyIn(pid: Int, from: UInt64, to: UInt64, whole: (UInt64, PageTableEntry) -> Void = { _, _ in }) {
        forEachHugePDE(pid: pid, from: from, to: to) { region, pde in
            if region >= from && region + hugeSpan <= to { whole(region, pde) } else { splitHugePMD(pid: pid, vpn: region) }
        }
    }

    /// Cuts `pid`'s VMAs at `from` and `to` (VPNs), as ``SimulatedProcess/split(at:_:pageShift:)``,
    /// splitting first a 2 MiB page that a cut would fall inside (Linux's vma_adjust_trans_huge).
    func splitVMAs(pid: Int, from: UInt64, to: UInt64) -> Range<Int> {
        for boundary in [from, to] where boundary & (hugeSpan - 1) != 0 && hugePDE(pid: pid, vpn: boundary) != nil {
            splitHugePMD(pid: pid, vpn: boundary)
        }
        return processes[pid].split(at: from << pageShift, to << pageShift, pageShift: preset.pageShift)
    }

    /// The fault handler's 2 MiB half, called before the 4 KiB one. Returns the fault kind
    /// when it resolved the fault, or nil to let the 4 KiB path go on (after a split or a
    /// fallback, or when huge pages do not apply).
    func hugeFault(pid: Int, vpn: UInt64, vma: VMA, op: AccessKind) -> FaultKind? {
        let region = vpn & ~(hugeSpan - 1)
        if mmu.hugeInUse, let pde = hugePDE(pid: pid, vpn: vpn) {
            return hugePresentFault(pid: pid, vpn: vpn, region: region, pde: pde, vma: vma, op: op)
        }
        guard vma.hugepage, preset.hasHugePages, vma.isPrivateAnonymous, region << pageShift >= vma.start,
              (region + hugeSpan) << pageShift <= vma.end, pmdNone(pid: pid, vpn: region) else { return nil }
        if op == .write {
            guard let head = allocateHugePage() else {
                countersStorage.pointee.thpFallbacks += 1
                return nil
            }
            setHugePDE(pid: pid, region: region, makeHugePDE(head, writable: true, vma: vma))
            countersStorage.pointee.thpFaults += 1
            return .zero
        }
        setHugePDE(pid: pid, region: region, makeHugePDE(memory.hugeZeroPFN!, writable: false, vma: vma))
        countersStorage.pointee.thpZeroFaults += 1
        return .zero
    }

    /// A fault on a present 2 MiB page: a write to the huge zero page (allocate a huge page,
    /// or split and fall back), a write to a read-only huge page (reuse it when no other
    /// entry maps its frames, else split and let the 4 KiB path copy the one page), or bits
    /// that lag behind an mprotect.
    private func hugePresentFault(pid: Int, vpn: UInt64, region: UInt64, pde: PageTableEntry, vma: VMA, op: AccessKind) -> FaultKind? {
        guard op == .write && !pde.isWritable else {
            setHugePDE(pid: pid, region: region, makeHugePDE(pde.ppn, writable: pde.isWritable, vma: vma, from: pde))
            return .minor
        }
        if memory.isHugeZero(pde.ppn) {
            if let head = allocateHugePage() {
                setHugePDE(pid: pid, region: region, makeHugePDE(head, writable: true, vma: vma))
                countersStorage.pointee.thpFaults += 1
                return .zero
            }
            countersStorage.pointee.thpFallbacks += 1
            splitHugePMD(pid: pid, vpn: vpn)
            return nil
        }
        if (0..<hugeSpan).allSatisfy({ memory[pde.ppn + $0].mapCount == 1 }) {
            setHugePDE(pid: pid, region: region, makeHugePDE(pde.ppn, writable: true, vma: vma, from: pde))
            return .minor
        }
        splitHugePMD(pid: pid, vpn: vpn)
        return nil
    }

    /// A huge page of anonymous frames, or nil when no aligned run is free or fewer than 512
    /// frames are left under ``frameLimit`` (no eviction makes room: the fault falls back,
    /// as Linux's does when the memory cgroup cannot charge a THP).
    func allocateHugePage() -> UInt64? {
        if let limit = frameLimit, memory.dataFramesInUse + Int(hugeSpan) > limit { return nil }
        guard let head = memory.allocateHugeRun(kind: .anonymous, stamp: time) else { return nil }
        let inUse = UInt64(memory.dataFramesInUse)
        if inUse > countersStorage.pointee.framesPeak { countersStorage.pointee.framesPeak = inUse }
        return head
    }

    /// Frees the huge folio at `head` once none of its frames is mapped any more.
    func releaseHugeFolioIfUnused(_ head: UInt64) {
        guard (0..<hugeSpan).allSatisfy({ memory[head + $0].mapCount == 0 }) else { return }
        memory.dissolveHugeFolio(head)
        for page in 0..<hugeSpan { memory.freeFrame(head + page) }
    }

    /// Splits the huge folio at `head` into 512 ordinary pages: every 2 MiB entry mapping it
    /// is split, the folio forgotten, and its unmapped frames freed (Linux's split_huge_page,
    /// which reclaim runs before swapping a THP out).
    func splitHugeFolio(_ head: UInt64) {
        for mapping in memory.mappings(of: head) where hugePDE(pid: Int(mapping.pid), vpn: mapping.vpn) != nil {
            splitHugePMD(pid: Int(mapping.pid), vpn: mapping.vpn)
        }
        memory.dissolveHugeFolio(head)
        for page in 0..<hugeSpan where memory[head + page].mapCount == 0 { releaseIfUnused(head + page) }
    }
}
