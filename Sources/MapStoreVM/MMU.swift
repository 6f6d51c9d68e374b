/// The outcome of one translation attempt by the MMU.
@frozen
public struct Translation: Sendable {
    /// What happened.
    public enum Status: UInt8, Sendable {
        /// Translated; `pa` is valid.
        case ok
        /// A page fault because a PTE on the walk had P = 0.
        case notPresent
        /// A page fault because the access violates R/W, U/S or XD.
        case protection
        /// Nested paging: a guest-physical address (in `pa`) the EPT does not map yet.
        case eptViolation
    }
    /// What happened.
    public var status: Status
    /// The physical address (when `status == .ok`; host-physical under nested paging), or the
    /// guest-physical address of an EPT violation.
    public var pa: UInt64
    /// Whether the L1 or L2 TLB held the translation.
    public var tlbHit: Bool

    /// A translation outcome.
    @inlinable
    public init(status: Status, pa: UInt64, tlbHit: Bool) {
        self.status = status
        self.pa = pa
        self.tlbHit = tlbHit
    }
}

/// The hardware: a TLB hierarchy and the page walker, reading PTEs from simulated memory,
/// and the caches that data accesses and walk reads go through.
///
/// The MMU knows nothing of VMAs or files: it translates or it faults, and it sets the
/// A bit on every walk that reaches a page and the D bit on a write (a write that hits a
/// TLB entry whose D is clear walks again to set it, as the hardware does).
public final class MMU {
    /// The machine shape.
    public let preset: Preset
    /// The physical memory the walk reads.
    public let memory: PhysicalMemory
    /// The TLBs.
    public let tlb: TLB
    /// The L1 d-cache, L2 and L3 (issue 20).
    public let caches: Caches
    /// Whether data accesses and walk reads go through ``caches`` (trace `caches on|off`; on by
    /// default). Off, nothing is looked up or counted, and records name no level.
    @exclusivity(unchecked) public var cachesEnabled = true
    /// Under nested paging (trace `nested on`), the EPT that translates every guest-physical
    /// address the walk and the access use; the TLB then caches guest-virtual to host-physical.
    public let ept: ExtendedPageTables?
    /// The guest-physical address of the last EPT violation.
    @exclusivity(unchecked) @usableFromInline var pendingViolation: UInt64 = 0
    @usableFromInline let counters: UnsafeMutablePointer<Counters>
    @usableFromInline let pageShift: UInt64
    @usableFromInline let offsetMask: UInt64
    @usableFromInline let levels: Int
    @usableFromInline let bitsPerLevel: UInt64
    @usableFromInline let indexMask: UInt64
    @usableFromInline let l1: TLBLevel
    @usableFromInline let l2: TLBLevel?
    /// 2 MiB pages (HugePageTranslation.swift): the level whose PS bit ends a walk (-1 when
    /// the preset has none), and whether any PS entry was ever written, so that 4 KiB-only
    /// runs never look in the 2 MiB TLB arrays.
    @usableFromInline let hugeLevel: Int
    @usableFromInline let l1Huge: TLBLevel?
    @exclusivity(unchecked) @usableFromInline var hugeInUse = false

    /// An MMU for `preset` over `memory`, counting into `counters`.
    init(preset: Preset, memory: PhysicalMemory, counters: UnsafeMutablePointer<Counters>, ept: ExtendedPageTables? = nil) {
        self.preset = preset
        self.memory = memory
        self.tlb = TLB(preset: preset)
        self.caches = Caches(preset.caches)
        self.ept = ept
        self.counters = counters
        pageShift = UInt64(preset.pageShift)
        offsetMask = UInt64(preset.pageSize - 1)
        levels = preset.levels
        bitsPerLevel = UInt64(preset.bitsPerLevel)
        indexMask = UInt64(preset.entriesPerTable - 1)
        l1 = tlb.l1
        l2 = tlb.l2
        hugeLevel = preset.hasHugePages ? preset.levels - 2 : -1
        l1Huge = tlb.l1Huge
    }

    /// The flags a TLB entry caches for `pte`.
    @inlinable
    static func tlbFlags(_ pte: PageTableEntry) -> UInt8 {
        var flags: UInt8 = 0
        if pte.isWritable { flags |= TLBLevel.Flag.writable }
        if pte.isUser { flags |= TLBLevel.Flag.user }
        if pte.isExecuteDisabled { flags |= TLBLevel.Flag.executeDisable }
        if pte.isDirty { flags |= TLBLevel.Flag.dirty }
        return flags
    }

    /// Whether cached `flags` allow a user-mode access of kind `op`.
    @inlinable
    static func allows(_ flags: UInt8, _ op: AccessKind) -> Bool {
        if flags & TLBLevel.Flag.user == 0 { return false }
        switch op {
        case .read: return true
        case .write: return flags & TLBLevel.Flag.writable != 0
        case .fetch: return flags & TLBLevel.Flag.executeDisable == 0
        }
    }

    /// Translates `va` for a user-mode access in the address space (`cr3`, `asid`).
    @inlinable
    public func translate(va: UInt64, op: AccessKind, cr3: UInt64, asid: UInt16) -> Translation {
        let vpn = va >> pageShift
        let offset = va & offsetMask
        var slot = l1.lookup(vpn: vpn, asid: asid)
        if slot >= 0 {
            counters.pointee.tlbL1Hits &+= 1
        } else {
            if hugeInUse, let huge = translateHuge(vpn: vpn, offset: offset, op: op, cr3: cr3, asid: asid) { return huge }
            counters.pointee.tlbL1Misses &+= 1
            if let l2 = l2 {
                let slot2 = l2.lookup(vpn: vpn, asid: asid)
                if slot2 >= 0 {
                    counters.pointee.tlbL2Hits &+= 1
                    l1.fill(vpn: vpn, asid: asid, ppn: l2.ppns[slot2], flags: l2.flags[slot2])
                    slot = l1.lookup(vpn: vpn, asid: asid)
                } else {
                    counters.pointee.tlbL2Misses &+= 1
                }
            }
            if slot < 0 {
                return walk(vpn: vpn, offset: offset, op: op, cr3: cr3, asid: asid, tlbHit: false)
            }
        }
        let flags = l1.flags[slot]
        guard Self.allows(flags, op) else {
            return Translation(status: .protection, pa: 0, tlbHit: true)
        }
        if op == .write && flags & TLBLevel.Flag.dirty == 0 {
            return walk(vpn: vpn, offset: offset, op: op, cr3: cr3, asid: asid, tlbHit: true)
        }
        return Translation(status: .ok, pa: (l1.ppns[slot] << pageShift) | offset, tlbHit: true)
    }

    /// The page walk: `levels` PTE reads from simulated memory starting at CR3.
    @usableFromInline
    func walk(vpn: UInt64, offset: UInt64, op: AccessKind, cr3: UInt64, asid: UInt16, tlbHit: Bool) -> Translation {
        counters.pointee.walks &+= 1
        var table = cr3
        var level = 0
        while true {
            let shift = UInt64(levels - 1 - level) &* bitsPerLevel
            let index = Int((vpn >> shift) & indexMask)
            guard var pte = walkRead(table: table, index: index) else { return eptViolation(tlbHit: tlbHit) }
            guard pte.isPresent else { return Translation(status: .notPresent, pa: 0, tlbHit: tlbHit) }
            if level == hugeLevel && pte.raw & PageTableEntry.pageSizeBit != 0 {
                return hugeLeaf(pte, table: table, index: index, vpn: vpn, offset: offset, op: op, asid: asid, tlbHit: tlbHit)
            }
            if level == levels - 1 {
                let flags = Self.tlbFlags(pte)
                guard Self.allows(flags, op) else { return Translation(status: .protection, pa: 0, tlbHit: tlbHit) }
                var updated = pte
                updated.raw |= PageTableEntry.accessedBit
                if op == .write { updated.raw |= PageTableEntry.dirtyBit }
                if updated != pte { memory.writePTE(table: table, index: index, updated) }
                guard let host = hostAddress(updated.ppn << pageShift) else { return eptViolation(tlbHit: tlbHit) }
                let ppn = host >> pageShift
                let newFlags = Self.tlbFlags(updated)
                l2?.fill(vpn: vpn, asid: asid, ppn: ppn, flags: newFlags)
                l1.fill(vpn: vpn, asid: asid, ppn: ppn, flags: newFlags)
                return Translation(status: .ok, pa: (ppn << pageShift) | offset, tlbHit: tlbHit)
            }
            if !pte.isAccessed {
                pte.raw |= PageTableEntry.accessedBit
                memory.writePTE(table: table, index: index, pte)
            }
            table = pte.ppn
            level += 1
        }
    }

    /// One PTE read of the walk: counted, and looked up in the caches at the entry's physical
    /// address (a read even when the walk then sets A or D in it). Under nested paging that
    /// address is guest-physical and an EPT walk translates it first; nil on an EPT violation.
    @inlinable
    func walkRead(table: UInt64, index: Int) -> PageTableEntry? {
        guard let address = hostAddress((table << pageShift) | UInt64(index &* 8)) else { return nil }
        counters.pointee.walkReads &+= 1
        if cachesEnabled { caches.access(pa: address, write: false, walk: true) }
        return memory.readPTE(table: table, index: index)
    }

    /// The outcome of a walk that met an EPT violation.
    @inlinable
    func eptViolation(tlbHit: Bool) -> Translation {
        Translation(status: .eptViolation, pa: pendingViolation, tlbHit: tlbHit)
    }

    /// Reads the leaf PTE of `vpn` without side effects (no counters, no A/D), or nil if a
    /// table on the way is missing or a 2 MiB page maps `vpn` (see ``peekHuge(vpn:cr3:)``).
    public func peek(vpn: UInt64, cr3: UInt64) -> PageTableEntry? {
        var table = cr3
        for level in 0..<levels {
            let shift = UInt64(levels - 1 - level) * bitsPerLevel
            let pte = memory.readPTE(table: table, index: Int((vpn >> shift) & indexMask))
            if level == levels - 1 { return pte }
            guard pte.isPresent, !(level == hugeLevel && pte.isPageSize) else { return nil }
            table = pte.ppn
        }
        return nil
    }
}
