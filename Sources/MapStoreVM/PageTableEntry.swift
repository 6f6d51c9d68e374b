/// One page-table entry: a real 64-bit word with the Core i7 layout (CSAPP 9.7.1).
///
/// ```
/// 63  62..52  51..12                   11..9  8  7   6  5  4   3   2    1    0
/// XD  unused  page physical base (PPN)  OS     G  PS  D  A  CD  WT  U/S  R/W  P=1
/// [            available to the OS: the swap location                    ]   P=0
/// ```
/// PS (bit 7) is meaningful only in a page-directory entry (the third level from the top
/// on core-i7 and skylake): PS = 1 makes the entry the leaf of a 2 MiB page, whose 512
/// frames start at the (512-aligned) PPN. Intel puts a 2 MiB page's base in bits 21...51
/// and PAT in bit 12; the model keeps the PPN field at bits 12...51, whose low nine bits
/// are then zero, so the word is the same.
/// When `P = 0` and the word is not zero, bits 1...63 hold a swap slot (slot numbers
/// start at 1), like Linux's swap entries. A zero word means "never mapped".
@frozen
public struct PageTableEntry: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The raw 64-bit word, exactly as stored in simulated physical memory.
    public var raw: UInt64

    /// Present: the child page (or table) is in physical memory.
    public static let presentBit: UInt64 = 1 << 0
    /// R/W: writes are allowed.
    public static let writableBit: UInt64 = 1 << 1
    /// U/S: user-mode accesses are allowed.
    public static let userBit: UInt64 = 1 << 2
    /// WT: write-through caching.
    public static let writeThroughBit: UInt64 = 1 << 3
    /// CD: caching disabled.
    public static let cacheDisabledBit: UInt64 = 1 << 4
    /// A: accessed (reference bit), set by the MMU on a walk that reaches the page.
    public static let accessedBit: UInt64 = 1 << 5
    /// D: dirty, set by the MMU on a write.
    public static let dirtyBit: UInt64 = 1 << 6
    /// PS: page size. In a page-directory entry, this entry maps a 2 MiB page itself
    /// instead of pointing at a page table.
    public static let pageSizeBit: UInt64 = 1 << 7
    /// G: global (not flushed on a CR3 switch).
    public static let globalBit: UInt64 = 1 << 8
    /// XD: execute disable.
    public static let executeDisableBit: UInt64 = 1 << 63
    /// Bits 12...51: the physical base address (the PPN shifted left by 12).
    public static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

    /// Wraps a raw word.
    @inlinable public init(raw: UInt64) { self.raw = raw }

    /// A present entry pointing at frame `ppn` with the given permissions.
    @inlinable
    public init(ppn: UInt64, writable: Bool, user: Bool = true, executeDisable: Bool,
                accessed: Bool = false, dirty: Bool = false, pageSize: Bool = false) {
        var word = PageTableEntry.presentBit | ((ppn << 12) & PageTableEntry.addressMask)
        if writable { word |= PageTableEntry.writableBit }
        if user { word |= PageTableEntry.userBit }
        if executeDisable { word |= PageTableEntry.executeDisableBit }
        if accessed { word |= PageTableEntry.accessedBit }
        if dirty { word |= PageTableEntry.dirtyBit }
        if pageSize { word |= PageTableEntry.pageSizeBit }
        raw = word
    }

    /// A not-present entry recording that the page lives in swap slot `slot` (>= 1).
    @inlinable
    public init(swapSlot slot: UInt64) {
        precondition(slot >= 1 && slot < (1 << 62), "swap slot out of range")
        raw = slot << 1
    }

    /// The never-mapped entry.
    public static let empty = PageTableEntry(raw: 0)

    /// P.
    @inlinable public var isPresent: Bool { raw & Self.presentBit != 0 }
    /// R/W.
    @inlinable public var isWritable: Bool { raw & Self.writableBit != 0 }
    /// U/S.
    @inlinable public var isUser: Bool { raw & Self.userBit != 0 }
    /// A.
    @inlinable public var isAccessed: Bool { raw & Self.accessedBit != 0 }
    /// D.
    @inlinable public var isDirty: Bool { raw & Self.dirtyBit != 0 }
    /// PS: a present page-directory entry that maps a 2 MiB page (see ``pageSizeBit``).
    /// ``Kernel/readPTE(pid:vpn:)`` also sets it on the 4 KiB view of a page inside one.
    @inlinable public var isPageSize: Bool { raw & Self.presentBit != 0 && raw & Self.pageSizeBit != 0 }
    /// G.
    @inlinable public var isGlobal: Bool { raw & Self.globalBit != 0 }
    /// WT.
    @inlinable public var isWriteThrough: Bool { raw & Self.writeThroughBit != 0 }
    /// CD.
    @inlinable public var isCacheDisabled: Bool { raw & Self.cacheDisabledBit != 0 }
    /// XD.
    @inlinable public var isExecuteDisabled: Bool { raw & Self.executeDisableBit != 0 }
    /// The physical page number (bits 12...51 shifted down); meaningful only when present.
    @inlinable public var ppn: UInt64 { (raw & Self.addressMask) >> 12 }
    /// The swap slot of a not-present, non-empty entry, or nil.
    @inlinable public var swapSlot: UInt64? {
        (raw & Self.presentBit == 0 && raw != 0) ? raw >> 1 : nil
    }

    /// Sets or clears one flag bit.
    @inlinable
    public mutating func set(_ bit: UInt64, _ on: Bool) {
        if on { raw |= bit } else { raw &= ~bit }
    }

    /// The entry with another physical page number, flags unchanged.
    @inlinable
    public func with(ppn: UInt64) -> PageTableEntry {
        PageTableEntry(raw: (raw & ~Self.addressMask) | ((ppn << 12) & Self.addressMask))
    }

    /// Human-readable flags, e.g. `P RW US A D ppn=0x5` or `swap=3`.
    public var description: String {
        if raw == 0 { return "empty" }
        if let slot = swapSlot { return "swap=\(slot)" }
        var parts = ["P"]
        parts.append(isWritable ? "RW" : "RO")
        if isUser { parts.append("US") }
        if isWriteThrough { parts.append("WT") }
        if isCacheDisabled { parts.append("CD") }
        if isAccessed { parts.append("A") }
        if isDirty { parts.append("D") }
        if isPageSize { parts.append("PS") }
        if isGlobal { parts.append("G") }
        if isExecuteDisabled { parts.append("XD") }
        parts.append("ppn=0x" + String(ppn, radix: 16))
        return parts.joined(separator: " ")
    }
}
