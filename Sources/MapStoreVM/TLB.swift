/// One set-associative TLB level with true-LRU replacement and PCID (ASID) tags.
///
/// Entries are kept in flat buffers allocated once, so a lookup never allocates.
/// The set index is the low bits of the VPN; an entry matches on the whole VPN and the
/// address-space tag.
public final class TLBLevel {
    /// Number of sets (a power of two).
    public let sets: Int
    /// log2 of the base pages in a 2 MiB entry, to report its first VPN (``entries``).
    let hugeShift: Int
    /// Ways per set.
    public let ways: Int
    @usableFromInline let setMask: UInt64
    @usableFromInline let keys: UnsafeMutablePointer<UInt64>
    @usableFromInline let ppns: UnsafeMutablePointer<UInt64>
    @usableFromInline let flags: UnsafeMutablePointer<UInt8>
    @usableFromInline let stamps: UnsafeMutablePointer<UInt64>
    @usableFromInline let clock: UnsafeMutablePointer<UInt64>

    /// Cached permission and dirty bits of a TLB entry.
    public enum Flag {
        /// The PTE's R/W.
        public static let writable: UInt8 = 1
        /// The PTE's U/S.
        public static let user: UInt8 = 2
        /// The PTE's XD.
        public static let executeDisable: UInt8 = 4
        /// The PTE's D, as it was when the entry was filled.
        public static let dirty: UInt8 = 8
    }

    /// An empty TLB of the given geometry; a 2 MiB entry spans `2^hugeShift` VPNs.
    public init(_ geometry: TLBGeometry, hugeShift: Int = 9) {
        self.hugeShift = hugeShift
        sets = geometry.sets
        ways = geometry.ways
        setMask = UInt64(geometry.sets - 1)
        let count = geometry.entries
        keys = .allocate(capacity: count); keys.initialize(repeating: 0, count: count)
        ppns = .allocate(capacity: count); ppns.initialize(repeating: 0, count: count)
        flags = .allocate(capacity: count); flags.initialize(repeating: 0, count: count)
        stamps = .allocate(capacity: count); stamps.initialize(repeating: 0, count: count)
        clock = .allocate(capacity: 1); clock.initialize(to: 0)
    }

    deinit {
        keys.deallocate(); ppns.deallocate(); flags.deallocate(); stamps.deallocate(); clock.deallocate()
    }

    /// The tag word of an entry: valid bit, VPN and ASID. Zero is an invalid entry.
    @inlinable
    static func key(vpn: UInt64, asid: UInt16) -> UInt64 {
        (1 << 63) | (vpn << 12) | UInt64(asid & 0xFFF)
    }

    /// The tag word of a 2 MiB entry: as ``key(vpn:asid:)`` of the huge page number, with
    /// bit 62 set so that it never equals a 4 KiB entry's.
    @inlinable
    static func key(hugePage: UInt64, asid: UInt16) -> UInt64 {
        (1 << 63) | (1 << 62) | (hugePage << 12) | UInt64(asid & 0xFFF)
    }

    /// The slot holding (`vpn`, `asid`), refreshed as most recently used, or -1.
    @inlinable
    public func lookup(vpn: UInt64, asid: UInt16) -> Int {
        lookup(key: Self.key(vpn: vpn, asid: asid), set: vpn)
    }

    /// The slot holding the 2 MiB entry of huge page number `hugePage` (the VPN without its
    /// low nine bits) for `asid`, refreshed as most recently used, or -1. Its set index is the
    /// low bits of the huge page number.
    @inlinable
    public func lookup(hugePage: UInt64, asid: UInt16) -> Int {
        lookup(key: Self.key(hugePage: hugePage, asid: asid), set: hugePage)
    }

    @inlinable
    func lookup(key: UInt64, set number: UInt64) -> Int {
        let base = Int(number & setMask) &* ways
        for slot in base..<(base &+ ways) where keys[slot] == key {
            clock.pointee &+= 1
            stamps[slot] = clock.pointee
            return slot
        }
        return -1
    }

    /// Inserts (`vpn`, `asid`) -> `ppn`, replacing the set's least recently used entry.
    @inlinable
    public func fill(vpn: UInt64, asid: UInt16, ppn: UInt64, flags entryFlags: UInt8) {
        fill(key: Self.key(vpn: vpn, asid: asid), set: vpn, ppn: ppn, flags: entryFlags)
    }

    /// Inserts the 2 MiB entry `hugePage` -> `ppn` (the first of its 512 frames).
    @inlinable
    public func fill(hugePage: UInt64, asid: UInt16, ppn: UInt64, flags entryFlags: UInt8) {
        fill(key: Self.key(hugePage: hugePage, asid: asid), set: hugePage, ppn: ppn, flags: entryFlags)
    }

    @inlinable
    func fill(key: UInt64, set number: UInt64, ppn: UInt64, flags entryFlags: UInt8) {
        let base = Int(number & setMask) &* ways
        // The entry itself if present (a re-walk to set D refills it), else an invalid way,
        // else the least recently used. Taking the first invalid way without looking for the
        // key first would leave a stale duplicate that invlpg could miss.
        var victim = -1
        var empty = -1
        var oldest = base
        for slot in base..<(base &+ ways) {
            let current = keys[slot]
            if current == key { victim = slot; break }
            if current == 0 { if empty < 0 { empty = slot } } else if stamps[slot] < stamps[oldest] || keys[oldest] == 0 { oldest = slot }
        }
        if victim < 0 { victim = empty >= 0 ? empty : oldest }
        keys[victim] = key
        ppns[victim] = ppn
        flags[victim] = entryFlags
        clock.pointee &+= 1
        stamps[victim] = clock.pointee
    }

    /// Drops the entry for (`vpn`, `asid`) if present (invlpg). Returns whether one was dropped.
    @discardableResult
    public func invalidate(vpn: UInt64, asid: UInt16) -> Bool {
        invalidate(key: Self.key(vpn: vpn, asid: asid), set: vpn)
    }

    /// Drops the 2 MiB entry of `hugePage` for `asid` if present. Returns whether one was dropped.
    @discardableResult
    public func invalidate(hugePage: UInt64, asid: UInt16) -> Bool {
        invalidate(key: Self.key(hugePage: hugePage, asid: asid), set: hugePage)
    }

    func invalidate(key: UInt64, set number: UInt64) -> Bool {
        let base = Int(number & setMask) &* ways
        for slot in base..<(base + ways) where keys[slot] == key {
            keys[slot] = 0
            return true
        }
        return false
    }

    /// Drops every entry tagged `asid`.
    public func flush(asid: UInt16) {
        for slot in 0..<(sets * ways) where keys[slot] != 0 && UInt16(keys[slot] & 0xFFF) == asid {
            keys[slot] = 0
        }
    }

    /// Drops every entry.
    public func flushAll() {
        keys.update(repeating: 0, count: sets * ways)
    }

    /// One valid entry, for inspection and invariant checks.
    public struct Entry: Equatable, Sendable {
        /// Virtual page number (of a 2 MiB entry: its first 4 KiB page's).
        public var vpn: UInt64
        /// A 2 MiB entry (see ``lookup(hugePage:asid:)``).
        public var huge: Bool
        /// Address-space tag (PCID).
        public var asid: UInt16
        /// Physical page number.
        public var ppn: UInt64
        /// Cached flags (``Flag``).
        public var flags: UInt8
        /// Set index the entry lives in.
        public var set: Int
    }

    /// Every valid entry.
    public var entries: [Entry] {
        (0..<(sets * ways)).compactMap { slot in
            let key = keys[slot]
            guard key != 0 else { return nil }
            let huge = key & (1 << 62) != 0
            let number = (key & ~(3 << 62)) >> 12
            return Entry(vpn: huge ? number << UInt64(hugeShift) : number, huge: huge, asid: UInt16(key & 0xFFF),
                         ppn: ppns[slot], flags: flags[slot], set: slot / ways)
        }
    }
}

/// The TLB hierarchy of a preset: an L1 and an optional unified L2 (STLB), inclusive, and
/// the L1's separate array for 2 MiB pages (``l1Huge``). On skylake the L2 holds 2 MiB
/// entries too (``l2HoldsHugePages``), in its same sets.
public final class TLB {
    /// The first-level TLB (4 KiB pages).
    public let l1: TLBLevel
    /// The second-level TLB, if the preset has one.
    public let l2: TLBLevel?
    /// The L1 dTLB's entries for 2 MiB pages, if the preset has huge pages.
    public let l1Huge: TLBLevel?
    /// Whether ``l2`` also caches 2 MiB entries.
    public let l2HoldsHugePages: Bool

    /// The TLBs of `preset`.
    public init(preset: Preset) {
        let hugeShift = preset.bitsPerLevel
        l1 = TLBLevel(preset.tlbs[0], hugeShift: hugeShift)
        l2 = preset.tlbs.count > 1 ? TLBLevel(preset.tlbs[1], hugeShift: hugeShift) : nil
        l1Huge = preset.hugeTLB.map { TLBLevel($0, hugeShift: hugeShift) }
        l2HoldsHugePages = preset.l2HoldsHugePages
    }

    /// invlpg of an address inside a 2 MiB page: drops its entry from every level that holds one.
    public func invalidate(hugePage: UInt64, asid: UInt16) {
        l1Huge?.invalidate(hugePage: hugePage, asid: asid)
        if l2HoldsHugePages { l2?.invalidate(hugePage: hugePage, asid: asid) }
    }

    /// Every level, L1 first.
    public var levels: [TLBLevel] { l2.map { [l1, $0] } ?? [l1] }

    /// invlpg: drops (`vpn`, `asid`) from every level.
    public func invalidate(vpn: UInt64, asid: UInt16) {
        l1.invalidate(vpn: vpn, asid: asid)
        l2?.invalidate(vpn: vpn, asid: asid)
    }

    /// Drops every entry of `asid` from every level.
    public func flush(asid: UInt16) {
        l1.flush(asid: asid)
        l2?.flush(asid: asid)
        l1Huge?.flush(asid: asid)
    }

    /// Drops everything.
    public func flushAll() {
        l1.flushAll()
        l2?.flushAll()
        l1Huge?.flushAll()
    }
}
