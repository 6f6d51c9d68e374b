/// The MMU's half of 2 MiB pages: a page-directory entry with PS = 1 ends the walk one level
/// early (three reads on core-i7), and its translation is cached as one 2 MiB TLB entry: in
/// the L1 dTLB's separate 2 MiB array, and on skylake in the STLB too.
extension MMU {
    /// A TLB lookup of the 2 MiB entry covering `vpn` after the L1's 4 KiB array missed:
    /// the L1 2 MiB array (an L1 hit, as the hardware looks in both arrays at once), then, when
    /// the L2 holds 2 MiB entries, the L2 (an L1 miss and an L2 hit). Nil when neither holds
    /// it: the caller goes on with the 4 KiB L2 lookup and the walk, which count the misses.
    @usableFromInline
    func translateHuge(vpn: UInt64, offset: UInt64, op: AccessKind, cr3: UInt64, asid: UInt16) -> Translation? {
        guard let l1Huge else { return nil }
        let hugePage = vpn >> bitsPerLevel
        var slot = l1Huge.lookup(hugePage: hugePage, asid: asid)
        if slot >= 0 {
            counters.pointee.tlbL1Hits &+= 1
        } else {
            guard tlb.l2HoldsHugePages, let l2 else { return nil }
            let slot2 = l2.lookup(hugePage: hugePage, asid: asid)
            guard slot2 >= 0 else { return nil }
            counters.pointee.tlbL1Misses &+= 1
            counters.pointee.tlbL2Hits &+= 1
            l1Huge.fill(hugePage: hugePage, asid: asid, ppn: l2.ppns[slot2], flags: l2.flags[slot2])
            slot = l1Huge.lookup(hugePage: hugePage, asid: asid)
        }
        let flags = l1Huge.flags[slot]
        guard Self.allows(flags, op) else { return Translation(status: .protection, pa: 0, tlbHit: true) }
        if op == .write && flags & TLBLevel.Flag.dirty == 0 {
            return walk(vpn: vpn, offset: offset, op: op, cr3: cr3, asid: asid, tlbHit: true)
        }
        let ppn = l1Huge.ppns[slot] &+ (vpn & indexMask)
        return Translation(status: .ok, pa: (ppn << pageShift) | offset, tlbHit: true)
    }

    /// The end of a walk at a page-directory entry with PS = 1: the permissions are checked
    /// on it, A (and on a write D) set in it, and the 2 MiB entry filled.
    @usableFromInline
    func hugeLeaf(_ pde: PageTableEntry, table: UInt64, index: Int, vpn: UInt64, offset: UInt64, op: AccessKind,
                  asid: UInt16, tlbHit: Bool) -> Translation {
        let flags = Self.tlbFlags(pde)
        guard Self.allows(flags, op) else { return Translation(status: .protection, pa: 0, tlbHit: tlbHit) }
        var updated = pde
        updated.raw |= PageTableEntry.accessedBit
        if op == .write { updated.raw |= PageTableEntry.dirtyBit }
        if updated != pde { memory.writePTE(table: table, index: index, updated) }
        let hugePage = vpn >> bitsPerLevel
        let newFlags = Self.tlbFlags(updated)
        if tlb.l2HoldsHugePages { l2?.fill(hugePage: hugePage, asid: asid, ppn: updated.ppn, flags: newFlags) }
        l1Huge?.fill(hugePage: hugePage, asid: asid, ppn: updated.ppn, flags: newFlags)
        let ppn = updated.ppn &+ (vpn & indexMask)
        return Translation(status: .ok, pa: (ppn << pageShift) | offset, tlbHit: tlbHit)
    }

    /// The page-directory entry with PS = 1 that maps `vpn`, without side effects, or nil
    /// when `vpn` is not inside a 2 MiB page.
    public func peekHuge(vpn: UInt64, cr3: UInt64) -> PageTableEntry? {
        guard hugeLevel >= 0 else { return nil }
        var table = cr3
        for level in 0...hugeLevel {
            let shift = UInt64(levels - 1 - level) * bitsPerLevel
            let pte = memory.readPTE(table: table, index: Int((vpn >> shift) & indexMask))
            guard pte.isPresent else { return nil }
            if level == hugeLevel { return pte.isPageSize ? pte : nil }
            table = pte.ppn
        }
        return nil
    }
}
