/// Everything the model counts. One instance per kernel; the replayer prints it as the summary.
public struct Counters: Equatable, Sendable {
    /// Accesses replayed (reads + writes + fetches).
    public var accesses: UInt64 = 0
    /// Byte reads.
    public var reads: UInt64 = 0
    /// Byte writes.
    public var writes: UInt64 = 0
    /// Instruction fetches.
    public var fetches: UInt64 = 0
    /// L1 TLB hits.
    public var tlbL1Hits: UInt64 = 0
    /// L1 TLB misses.
    public var tlbL1Misses: UInt64 = 0
    /// L2 TLB (STLB) hits; always 0 on a preset without one.
    public var tlbL2Hits: UInt64 = 0
    /// L2 TLB misses; always 0 on a preset without one.
    public var tlbL2Misses: UInt64 = 0
    /// Page walks started by the MMU (TLB misses, and writes that re-walk to set D).
    public var walks: UInt64 = 0
    /// PTE reads from simulated memory during walks.
    public var walkReads: UInt64 = 0
    /// Demand-zero faults (a read mapping the zero page, a write getting a zeroed frame).
    public var faultsZero: UInt64 = 0
    /// Minor faults: the page was in memory (page cache, swap cache, write-notify, reuse).
    public var faultsMinor: UInt64 = 0
    /// Major faults: the page had to be read from its file or from swap.
    public var faultsMajor: UInt64 = 0
    /// Copy-on-write faults that copied a frame.
    public var faultsCow: UInt64 = 0
    /// Accesses the mapping's protection forbids (SIGSEGV, SEGV_ACCERR).
    public var faultsProtection: UInt64 = 0
    /// Accesses to no mapping, or past the end of a mapped file (SIGSEGV/SIGBUS).
    public var faultsSegv: UInt64 = 0
    /// Frames taken back by the replacement policy.
    public var evictions: UInt64 = 0
    /// Pages read back from swap (major faults on a swap entry).
    public var swapIns: UInt64 = 0
    /// Pages written to swap.
    public var swapOuts: UInt64 = 0
    /// Dirty file pages written back (msync or eviction).
    public var writebacks: UInt64 = 0
    /// Pages KSM merged into another frame.
    public var ksmMerges: UInt64 = 0
    /// Data frames in use now (the zero page not counted).
    public var framesInUse: UInt64 = 0
    /// The most data frames ever in use at once.
    public var framesPeak: UInt64 = 0
    /// Page-table frames in use now.
    public var pageTableFrames: UInt64 = 0
    /// Switches of CR3 from one process to another.
    public var contextSwitches: UInt64 = 0
    /// Whole-TLB flushes (CR3 switches without PCID).
    public var tlbFlushes: UInt64 = 0
    /// Single-entry invalidations (invlpg) after PTE changes.
    public var invlpgs: UInt64 = 0
    /// L1 d-cache hits of data accesses (issue 20; page-walk reads are in the `walk...` counters).
    public var l1dHits: UInt64 = 0
    /// L1 d-cache misses of data accesses.
    public var l1dMisses: UInt64 = 0
    /// L2 hits of data accesses.
    public var l2Hits: UInt64 = 0
    /// L2 misses of data accesses.
    public var l2Misses: UInt64 = 0
    /// L3 hits of data accesses.
    public var l3Hits: UInt64 = 0
    /// L3 misses of data accesses (served by memory).
    public var l3Misses: UInt64 = 0
    /// L1 d-cache hits of page-walk reads (PTE reads, and EPT entry reads under nested paging).
    public var walkL1dHits: UInt64 = 0
    /// L1 d-cache misses of page-walk reads.
    public var walkL1dMisses: UInt64 = 0
    /// L2 hits of page-walk reads.
    public var walkL2Hits: UInt64 = 0
    /// L2 misses of page-walk reads.
    public var walkL2Misses: UInt64 = 0
    /// L3 hits of page-walk reads.
    public var walkL3Hits: UInt64 = 0
    /// L3 misses of page-walk reads.
    public var walkL3Misses: UInt64 = 0
    /// Dirty lines the last cache level wrote back to memory.
    public var cacheWritebacks: UInt64 = 0
    /// Cycles: over every data access and page-walk read, the latency of the level that served it.
    public var cycles: UInt64 = 0
    /// Nested paging: EPT walks (one per guest-physical address translated, issue 20).
    public var eptWalks: UInt64 = 0
    /// Nested paging: EPT entry reads from host memory during EPT walks.
    public var eptWalkReads: UInt64 = 0
    /// Nested paging: EPT violations, each a guest frame getting its host frame on first use.
    public var eptFaults: UInt64 = 0
    /// Copy-on-write faults (counted in ``faultsCow``) that also had to read the file page
    /// in first: Linux reports those as major faults (getrusage `ru_majflt`). Kept out of
    /// ``fields`` so the trace summary is unchanged; the shadow uses it.
    public var cowFileReads: UInt64 = 0

    // MARK: Huge pages (TransparentHugePages.swift)

    /// Faults that allocated a 2 MiB page (Linux's vmstat `thp_fault_alloc`): a first write
    /// to a whole 2 MiB region of a `hugepage` VMA, or a write to the huge zero page.
    public var thpFaults: UInt64 = 0
    /// Read faults that mapped the huge zero page (use_zero_page = 1).
    public var thpZeroFaults: UInt64 = 0
    /// Faults that could have mapped a 2 MiB page but fell back to 4 KiB pages: no free
    /// aligned run of 512 frames, or fewer than 512 left under `frames N` (`thp_fault_fallback`).
    public var thpFallbacks: UInt64 = 0
    /// 2 MiB entries split into 512 PTEs (`thp_split_pmd`).
    public var thpSplits: UInt64 = 0
    /// 2 MiB pages mapped by one page-directory entry now, over every process (the huge zero
    /// page not counted): smaps' AnonHugePages / 2048 kB.
    public var hugePages: UInt64 = 0

    /// An all-zero set of counters.
    public init() {}

    /// Every counter with its name, in a fixed order (the summary's order).
    public var fields: [(name: String, value: UInt64)] {
        [("accesses", accesses), ("reads", reads), ("writes", writes), ("fetches", fetches),
         ("tlbL1Hits", tlbL1Hits), ("tlbL1Misses", tlbL1Misses), ("tlbL2Hits", tlbL2Hits),
         ("tlbL2Misses", tlbL2Misses), ("walks", walks), ("walkReads", walkReads),
         ("faultsZero", faultsZero), ("faultsMinor", faultsMinor), ("faultsMajor", faultsMajor),
         ("faultsCow", faultsCow), ("faultsProtection", faultsProtection), ("faultsSegv", faultsSegv),
         ("evictions", evictions), ("swapIns", swapIns), ("swapOuts", swapOuts),
         ("writebacks", writebacks), ("ksmMerges", ksmMerges), ("framesInUse", framesInUse),
         ("framesPeak", framesPeak), ("pageTableFrames", pageTableFrames),
         ("contextSwitches", contextSwitches), ("tlbFlushes", tlbFlushes), ("invlpgs", invlpgs),
         ("l1dHits", l1dHits), ("l1dMisses", l1dMisses), ("l2Hits", l2Hits), ("l2Misses", l2Misses),
         ("l3Hits", l3Hits), ("l3Misses", l3Misses), ("walkL1dHits", walkL1dHits), ("walkL1dMisses", walkL1dMisses),
         ("walkL2Hits", walkL2Hits), ("walkL2Misses", walkL2Misses), ("walkL3Hits", walkL3Hits),
         ("walkL3Misses", walkL3Misses), ("cacheWritebacks", cacheWritebacks), ("cycles", cycles),
         ("eptWalks", eptWalks), ("eptWalkReads", eptWalkReads), ("eptFaults", eptFaults)]
            + [("thpFaults", thpFaults), ("thpZeroFaults", thpZeroFaults), ("thpFallbacks", thpFallbacks),
               ("thpSplits", thpSplits), ("hugePages", hugePages)]
    }

    /// Faults of every kind that the kernel resolved (zero + minor + major + cow).
    public var resolvedFaults: UInt64 { faultsZero + faultsMinor + faultsMajor + faultsCow }
}
