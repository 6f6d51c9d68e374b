/// The geometry of one TLB level: how many entries and how many ways per set.
public struct TLBGeometry: Equatable, Sendable {
    /// Total entries.
    public var entries: Int
    /// Ways per set (associativity).
    public var ways: Int
    /// Number of sets (`entries / ways`, a power of two).
    public var sets: Int { entries / ways }

    /// A TLB level of `entries` entries, `ways`-way set associative.
    public init(entries: Int, ways: Int) {
        precondition(ways > 0 && entries % ways == 0, "entries must be a multiple of ways")
        let sets = entries / ways
        precondition(sets > 0 && sets & (sets - 1) == 0, "the number of sets must be a power of two")
        self.entries = entries
        self.ways = ways
    }
}

/// A machine the model can simulate: address widths, page size, page-table shape, TLBs.
///
/// The virtual page number is split into `levels` fields of `bitsPerLevel` bits, top
/// level first (CSAPP's VPN1...VPN4); the low `pageShift` bits are the VPO.
public struct Preset: Equatable, Sendable {
    /// The name used by `preset NAME` and `--preset NAME`.
    public var name: String
    /// Width of a virtual address in bits.
    public var virtualBits: Int
    /// Width of a physical address in bits.
    public var physicalBits: Int
    /// log2 of the page size.
    public var pageShift: Int
    /// Number of page-table levels.
    public var levels: Int
    /// VPN bits translated by each level.
    public var bitsPerLevel: Int
    /// The TLB levels, L1 first. Every preset has at least one.
    public var tlbs: [TLBGeometry]
    /// The caches behind the TLB (issue 20), L1 first.
    public var caches: CacheHierarchyGeometry
    /// The L1 dTLB's separate array for 2 MiB pages, or nil when the preset has no huge
    /// pages (csapp-small). A 2 MiB page is a page-directory entry with PS = 1.
    public var hugeTLB: TLBGeometry?
    /// Whether the L2 TLB (STLB) also holds 2 MiB entries, in the same sets as the 4 KiB
    /// ones: Skylake's STLB does; Nehalem's (core-i7) L2 TLB holds 4 KiB entries only.
    public var l2HoldsHugePages: Bool

    /// A preset with the given geometry; traps if the widths do not add up.
    public init(name: String, virtualBits: Int, physicalBits: Int, pageShift: Int,
                levels: Int, bitsPerLevel: Int, tlbs: [TLBGeometry], caches: CacheHierarchyGeometry = .coreI7,
                hugeTLB: TLBGeometry? = nil, l2HoldsHugePages: Bool = false) {
        precondition(pageShift + levels * bitsPerLevel == virtualBits,
                     "VPO + VPN bits must equal the virtual address width")
        precondition(!tlbs.isEmpty, "a preset needs a TLB")
        precondition(hugeTLB == nil || levels >= 2, "2 MiB pages need a page-directory level")
        precondition(!l2HoldsHugePages || (hugeTLB != nil && tlbs.count > 1), "an L2 holds 2 MiB entries only with huge pages and an L2")
        self.name = name
        self.virtualBits = virtualBits
        self.physicalBits = physicalBits
        self.pageShift = pageShift
        self.levels = levels
        self.bitsPerLevel = bitsPerLevel
        self.tlbs = tlbs
        self.caches = caches
        self.hugeTLB = hugeTLB
        self.l2HoldsHugePages = l2HoldsHugePages
    }

    /// Bytes per page.
    @inlinable public var pageSize: Int { 1 << pageShift }
    /// Entries in one page table (`2^bitsPerLevel`).
    @inlinable public var entriesPerTable: Int { 1 << bitsPerLevel }
    /// Whether the preset has 2 MiB pages (a page-directory entry with PS = 1).
    @inlinable public var hasHugePages: Bool { hugeTLB != nil }
    /// Base pages in one huge page: one page table's reach (512 on core-i7 and skylake).
    @inlinable public var pagesPerHugePage: Int { entriesPerTable }
    /// Physical frames the physical address width allows.
    @inlinable public var physicalFrames: UInt64 { 1 << UInt64(physicalBits - pageShift) }

    /// Core i7 (CSAPP 9.7): 48-bit VA, 52-bit PA, 4 KiB pages, 4 levels of 9 bits,
    /// L1 dTLB 64 entries 4-way, L2 TLB 512 entries 4-way (4 KiB pages only, as on
    /// Nehalem), and 32 entries 4-way in the L1 dTLB for 2 MiB pages.
    public static let coreI7 = Preset(
        name: "core-i7", virtualBits: 48, physicalBits: 52, pageShift: 12, levels: 4, bitsPerLevel: 9,
        tlbs: [TLBGeometry(entries: 64, ways: 4), TLBGeometry(entries: 512, ways: 4)],
        hugeTLB: TLBGeometry(entries: 32, ways: 4))

    /// Skylake: as Core i7, with an L1 dTLB of 64 entries 4-way, 32 entries 4-way for 2 MiB
    /// pages, and an STLB of 1536 entries 12-way shared by 4 KiB and 2 MiB pages.
    public static let skylake = Preset(
        name: "skylake", virtualBits: 48, physicalBits: 52, pageShift: 12, levels: 4, bitsPerLevel: 9,
        tlbs: [TLBGeometry(entries: 64, ways: 4), TLBGeometry(entries: 1536, ways: 12)],
        hugeTLB: TLBGeometry(entries: 32, ways: 4), l2HoldsHugePages: true)

    /// CSAPP's small memory system (9.6.4): 14-bit VA, 12-bit PA, 64-byte pages, one level,
    /// a TLB of 16 entries 4-way, and the book's cache: 16 sets, direct-mapped, 4-byte blocks.
    public static let csappSmall = Preset(
        name: "csapp-small", virtualBits: 14, physicalBits: 12, pageShift: 6, levels: 1, bitsPerLevel: 8,
        tlbs: [TLBGeometry(entries: 16, ways: 4)], caches: .csappSmall)

    /// Every preset, in the order the CLI lists them.
    public static let all: [Preset] = [.coreI7, .skylake, .csappSmall]

    /// The preset called `name`, or nil.
    public static func named(_ name: String) -> Preset? {
        all.first { $0.name == name }
    }

    /// The address split of `va`: VPN fields top level first, the VPO, and the L1 TLB index and tag.
    public func split(_ va: UInt64) -> AddressSplit {
        let vpn = va >> UInt64(pageShift)
        var fields: [UInt64] = []
        for level in 0..<levels {
            let shift = UInt64((levels - 1 - level) * bitsPerLevel)
            fields.append((vpn >> shift) & UInt64(entriesPerTable - 1))
        }
        let sets = UInt64(tlbs[0].sets)
        let indexBits = UInt64(sets.trailingZeroBitCount)
        return AddressSplit(vpn: vpn, vpnFields: fields, vpo: va & UInt64(pageSize - 1),
                            tlbIndex: vpn & (sets - 1), tlbTag: vpn >> indexBits)
    }
}

extension Preset {
    /// Whether the L1 set of an address is known before translation: its index and offset bits
    /// (CI + CO) fit in the page offset, which translation leaves alone (a VIPT L1).
    public var l1SetFromOffset: Bool {
        caches.levels[0].offsetBits + caches.levels[0].indexBits <= pageShift
    }

    /// Whether `nested on` can run on this preset: the EPT's 4 levels of 9 bits over 4 KiB
    /// pages need a guest of the same shape.
    public var supportsNestedPaging: Bool { pageShift == 12 && levels == 4 }

    /// The split of physical address `pa` for every cache level, L1 first: tag, set, offset.
    public func cacheSplit(_ pa: UInt64) -> [CacheAddressSplit] {
        caches.levels.map { $0.split(pa) }
    }
}

/// A virtual address cut into the fields the MMU uses.
public struct AddressSplit: Equatable, Sendable {
    /// The whole virtual page number.
    public var vpn: UInt64
    /// The VPN fields, one per page-table level, top level first (VPN1, VPN2, ...).
    public var vpnFields: [UInt64]
    /// The virtual page offset.
    public var vpo: UInt64
    /// The L1 TLB set index (TLBI): the low bits of the VPN.
    public var tlbIndex: UInt64
    /// The L1 TLB tag (TLBT): the VPN bits above the index.
    public var tlbTag: UInt64
}
