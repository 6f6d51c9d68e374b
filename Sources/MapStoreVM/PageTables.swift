/// The kernel's software view of the page tables: finding, writing and walking PTEs.
/// These reads are the kernel's, not the MMU's, so they are not counted as walk reads.
extension Kernel {
    /// Where the leaf PTE of `vpn` lives: (page-table frame, index). With `create`, missing
    /// intermediate tables are allocated (from the page-table pool); otherwise nil. Nil too
    /// when a 2 MiB page maps `vpn` (no 4 KiB leaf exists: see ``hugePDE(pid:vpn:)``); with
    /// `create` that is a bug, since the kernel splits a 2 MiB page before changing one PTE.
    func leafLocation(pid: Int, vpn: UInt64, create: Bool) -> (table: UInt64, index: Int)? {
        entryLocation(pid: pid, vpn: vpn, level: preset.levels - 1, create: create)
    }

    /// Where the entry of `vpn` at `level` (0 = the table at CR3) lives, creating the tables
    /// above it with `create`; nil when a table is missing (without `create`) or a PS entry
    /// above `level` maps `vpn`.
    func entryLocation(pid: Int, vpn: UInt64, level target: Int, create: Bool) -> (table: UInt64, index: Int)? {
        let levels = preset.levels
        let bits = UInt64(preset.bitsPerLevel)
        let mask = UInt64(preset.entriesPerTable - 1)
        var table = processes[pid].cr3
        for level in 0...target {
            let index = Int((vpn >> (UInt64(levels - 1 - level) * bits)) & mask)
            if level == target { return (table, index) }
            var pte = memory.readPTE(table: table, index: index)
            if pte.isPageSize {
                precondition(!create, "a 4 KiB PTE is written inside a 2 MiB page that was not split")
                return nil
            }
            if !pte.isPresent {
                guard create else { return nil }
                guard let child = memory.allocateTable() else {
                    preconditionFailure("physical memory has no room for another page table")
                }
                pte = PageTableEntry(ppn: child, writable: true, user: true, executeDisable: false)
                memory.writePTE(table: table, index: index, pte)
            }
            table = pte.ppn
        }
        return nil
    }

    /// The leaf PTE of `vpn` in process `pid` (empty if no table holds it). Inside a 2 MiB
    /// page it is the 4 KiB view of the page-directory entry: its flags (PS included) and
    /// the PPN of `vpn`'s own frame.
    public func readPTE(pid: Int, vpn: UInt64) -> PageTableEntry {
        guard let (table, index) = leafLocation(pid: pid, vpn: vpn, create: false) else {
            guard let pde = hugePDE(pid: pid, vpn: vpn) else { return .empty }
            return pde.with(ppn: pde.ppn + (vpn & UInt64(preset.pagesPerHugePage - 1)))
        }
        return memory.readPTE(table: table, index: index)
    }

    /// The leaf PTE mapping virtual address `va` in process `pid`.
    public func pte(pid: Int, va: UInt64) -> PageTableEntry {
        readPTE(pid: pid, vpn: va >> pageShift)
    }

    /// Writes the leaf PTE of `vpn`: the one place a PTE changes. Keeps reverse mappings and
    /// swap-slot references right, frees frames nobody needs, and invalidates the TLB (invlpg).
    func setPTE(pid: Int, vpn: UInt64, _ new: PageTableEntry) {
        if mmu.hugeInUse, hugePDE(pid: pid, vpn: vpn) != nil { splitHugePMD(pid: pid, vpn: vpn) }
        guard let (table, index) = leafLocation(pid: pid, vpn: vpn, create: new.raw != 0) else { return }
        let old = memory.readPTE(table: table, index: index)
        guard old != new else { return }
        memory.writePTE(table: table, index: index, new)
        let samePage = old.isPresent && new.isPresent && old.ppn == new.ppn
        // Take the new references before dropping the old ones, so a frame or slot passed
        // from one to the other is never freed in between.
        if new.isPresent && !samePage {
            memory.addMapping(new.ppn, pid: Int32(pid), vpn: vpn)
        } else if let slot = new.swapSlot, old.swapSlot != slot {
            swap.retain(slot)
        }
        if old.isPresent {
            if !samePage {
                memory.removeMapping(old.ppn, pid: Int32(pid), vpn: vpn)
                releaseIfUnused(old.ppn)
            }
            mmu.tlb.invalidate(vpn: vpn, asid: processes[pid].asid)
            countersStorage.pointee.invlpgs += 1
        } else if let slot = old.swapSlot, new.swapSlot != slot {
            releaseSwap(slot)
        }
    }

    /// Frees an anonymous or KSM frame that no PTE maps and no swap entry still needs.
    func releaseIfUnused(_ pfn: UInt64) {
        guard pfn != 0 else { return }
        if let head = memory.hugeFolio(containing: pfn) { return releaseHugeFolioIfUnused(head) }
        let info = memory[pfn]
        guard info.kind == .anonymous || info.kind == .ksm, info.mapCount == 0 else { return }
        if info.swapSlot != 0 {
            if swap.refs(info.swapSlot) > 0 { return }  // still the swap cache of a live slot
            swap.setCachedFrame(info.swapSlot, 0)
        }
        memory.freeFrame(pfn)
    }

    /// Calls `body` with every non-empty leaf PTE of `pid` in [`from`, `to`) VPNs, in order,
    /// skipping missing tables and 2 MiB pages (``forEachHugePDE(pid:from:to:_:)`` visits
    /// those). `body` may change the PTE it is given.
    func forEachLeaf(pid: Int, from: UInt64, to: UInt64, _ body: (UInt64, PageTableEntry) -> Void) {
        guard from < to else { return }
        visit(table: processes[pid].cr3, level: 0, target: preset.levels - 1, base: 0, from: from, to: to) { start, pte in
            if pte.raw != 0 && start >= from { body(start, pte) }
        }
    }

    /// Calls `body` with every entry at level `target` whose span overlaps [`from`, `to`)
    /// VPNs (with the first VPN it maps), descending from `table` at `level` through present
    /// tables only (not through a PS entry).
    func visit(table: UInt64, level: Int, target: Int, base: UInt64, from: UInt64, to: UInt64,
               _ body: (UInt64, PageTableEntry) -> Void) {
        let span = UInt64(1) << (UInt64(preset.levels - 1 - level) * UInt64(preset.bitsPerLevel))
        let firstIndex = from > base ? Int((from - base) / span) : 0
        for index in firstIndex..<preset.entriesPerTable {
            let start = base + UInt64(index) * span
            if start >= to { break }
            let pte = memory.readPTE(table: table, index: index)
            if level == target {
                body(start, pte)
            } else if pte.isPresent && !pte.isPageSize {
                visit(table: pte.ppn, level: level + 1, target: target, base: start, from: from, to: to, body)
            }
        }
    }

    /// Empties every PTE in [`from`, `to`) VPNs (munmap, MADV_DONTNEED): anonymous pages are
    /// freed, a dirty D bit moves to the page-cache page, swap entries are released.
    func zap(pid: Int, from: UInt64, to: UInt64) {
        splitHugePartlyIn(pid: pid, from: from, to: to) { region, _ in setHugePDE(pid: pid, region: region, .empty) }
        forEachLeaf(pid: pid, from: from, to: to) { vpn, pte in
            if pte.isPresent && pte.isDirty && memory[pte.ppn].kind == .file {
                memory[pte.ppn].dirty = true
            }
            setPTE(pid: pid, vpn: vpn, .empty)
        }
    }
}
