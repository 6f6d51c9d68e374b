/// The host's side of nested paging (issue 20): the extended page tables that translate the
/// guest's physical addresses to host-physical ones, and the host frames behind them.
///
/// The EPT is a 4-level radix tree of 512-entry tables over the 36-bit guest frame number
/// (48-bit guest-physical addresses), its tables real 64-bit words in host memory, allocated
/// from the highest host PFN down. An entry is present when any of its R, W, X bits (0, 1, 2) is
/// set; bits 12...51 hold the next table's host PFN, or in the leaf the host frame's; a leaf also
/// carries memory type WB (6, bits 3...5). Host frames are handed out lowest free first from
/// host PFN 1 when the guest first uses a guest frame (an EPT violation) and never taken back:
/// the host does not see the guest free a frame.
///
/// Tags only, as the caches: the bytes stay in the guest's ``PhysicalMemory``; a host frame
/// records which guest frame it backs.
public final class ExtendedPageTables {
    /// Host physical memory: it holds the EPT's tables; its data frames are the host frames.
    public let memory: PhysicalMemory
    /// The host PFN of the top-level EPT table (the EPTP's address).
    public let root: UInt64
    /// By host PFN: the guest frame it backs (index 0 unused).
    @exclusivity(unchecked) @usableFromInline var guestFrameOfHost: ContiguousArray<UInt64> = [0]

    /// Entry bits R, W and X: any of them makes the entry present.
    @usableFromInline static let readWriteExecute: UInt64 = 0b111
    /// The leaf's memory type, write-back (6), in bits 3...5.
    static let writeBack: UInt64 = 6 << 3
    /// EPT levels, 9 bits of the guest frame number each.
    @usableFromInline static let levels = 4
    /// Guest frames the EPT can map: 2^36 (48-bit guest-physical addresses).
    public static let guestFrames: UInt64 = 1 << 36

    /// An empty EPT over host memory of 2^40 frames (52-bit host-physical addresses).
    public init() {
        memory = PhysicalMemory(pageSize: 4096, entriesPerTable: 512, physicalFrames: 1 << 40)
        guard let root = memory.allocateTable() else { preconditionFailure("host memory has no room for the EPT root") }
        self.root = root
    }

    /// Index of guest frame `gfn` in an EPT table of `level` (0 is the top).
    @inlinable
    static func index(_ gfn: UInt64, level: Int) -> Int {
        Int((gfn >> UInt64(9 * (3 - level))) & 511)
    }

    /// The host's EPT-violation handler: backs the guest frame of `gpa` with the lowest free
    /// host frame, creating EPT tables on the way; returns the host PFN.
    @discardableResult
    public func back(gpa: UInt64) -> UInt64 {
        let gfn = gpa >> 12
        precondition(gfn < Self.guestFrames, "guest-physical address past 48 bits")
        var table = root
        for level in 0..<(Self.levels - 1) {
            let index = Self.index(gfn, level: level)
            var entry = memory.readPTE(table: table, index: index).raw
            if entry & Self.readWriteExecute == 0 {
                guard let child = memory.allocateTable() else { preconditionFailure("host memory has no room for an EPT table") }
                entry = (child << 12) | Self.readWriteExecute
                memory.writePTE(table: table, index: index, PageTableEntry(raw: entry))
            }
            table = (entry & PageTableEntry.addressMask) >> 12
        }
        let index = Self.index(gfn, level: Self.levels - 1)
        precondition(memory.readPTE(table: table, index: index).raw & Self.readWriteExecute == 0, "guest frame backed twice")
        guard let host = memory.allocateFrame(kind: .anonymous, stamp: 0) else { preconditionFailure("host memory is full") }
        memory.writePTE(table: table, index: index, PageTableEntry(raw: (host << 12) | Self.writeBack | Self.readWriteExecute))
        if Int(host) >= guestFrameOfHost.count {
            guestFrameOfHost.append(contentsOf: repeatElement(0, count: Int(host) + 1 - guestFrameOfHost.count))
        }
        guestFrameOfHost[Int(host)] = gfn
        return host
    }

    /// The host frame backing guest frame `gfn`, or nil: the EPT read in software (no
    /// counters, no caches).
    public func hostFrame(of gfn: UInt64) -> UInt64? {
        var table = root
        for level in 0..<Self.levels {
            let entry = memory.readPTE(table: table, index: Self.index(gfn, level: level)).raw
            guard entry & Self.readWriteExecute != 0 else { return nil }
            table = (entry & PageTableEntry.addressMask) >> 12
        }
        return table
    }

    /// The guest-physical address that host-physical address `hpa` backs.
    @inlinable
    public func guestAddress(ofHost hpa: UInt64) -> UInt64 {
        (guestFrameOfHost[Int(hpa >> 12)] << 12) | (hpa & 0xFFF)
    }

    /// Guest frames backed by a host frame.
    public var backedFrames: Int { memory.dataFramesInUse }

    /// Every broken EPT invariant: each host frame is the one the EPT maps its guest frame to.
    public func checkInvariants() -> [String] {
        var problems: [String] = []
        for host in 1..<guestFrameOfHost.count where hostFrame(of: guestFrameOfHost[host]) != UInt64(host) {
            problems.append("host frame \(host) backs guest frame \(guestFrameOfHost[host]), but the EPT maps that to \(String(describing: hostFrame(of: guestFrameOfHost[host])))")
        }
        if guestFrameOfHost.count - 1 != backedFrames {
            problems.append("\(backedFrames) host frames allocated, \(guestFrameOfHost.count - 1) recorded")
        }
        return problems
    }
}

extension MMU {
    /// The hardware EPT walk under nested paging: translates guest-physical `gpa` to
    /// host-physical with 4 entry reads (counted in `eptWalks` and `eptWalkReads`, each looked
    /// up in the caches at its host-physical address). Nil on an EPT violation, whose address
    /// is left in ``pendingViolation``. Without nested paging, `gpa` is already host-physical.
    @inlinable
    func hostAddress(_ gpa: UInt64) -> UInt64? {
        guard let ept else { return gpa }
        counters.pointee.eptWalks &+= 1
        var table = ept.root
        let gfn = gpa >> 12
        for level in 0..<ExtendedPageTables.levels {
            let index = ExtendedPageTables.index(gfn, level: level)
            counters.pointee.eptWalkReads &+= 1
            if cachesEnabled { caches.access(pa: (table << 12) | UInt64(index &* 8), write: false, walk: true) }
            let entry = ept.memory.readPTE(table: table, index: index).raw
            guard entry & ExtendedPageTables.readWriteExecute != 0 else {
                pendingViolation = gpa
                return nil
            }
            table = (entry & PageTableEntry.addressMask) >> 12
        }
        return (table << 12) | (gpa & 0xFFF)
    }
}
