/// How the kernel resolved (or refused) the page fault of one access.
public enum FaultKind: UInt8, Sendable, CustomStringConvertible {
    /// No fault: the MMU translated the access.
    case none
    /// Demand-zero: a read mapped the zero page, or a write got a fresh zeroed frame.
    case zero
    /// The page was in memory (page cache, swap cache), or only its PTE needed fixing
    /// (write-notify of a shared page, reuse of an exclusive anonymous page).
    case minor
    /// The page had to be read from its file or from swap.
    case major
    /// A copy-on-write fault that copied the page into a new frame.
    case cow
    /// The mapping's protection forbids the access (SIGSEGV, SEGV_ACCERR).
    case protection
    /// No mapping at the address, or past the end of the mapped file (SIGSEGV / SIGBUS).
    case segv

    /// The name used in trace output.
    public var description: String {
        switch self {
        case .none: "none"
        case .zero: "zero"
        case .minor: "minor"
        case .major: "major"
        case .cow: "cow"
        case .protection: "protection"
        case .segv: "segv"
        }
    }
}

/// What one access did.
@frozen
public struct AccessResult: Equatable, Sendable {
    /// The kind of access.
    public var op: AccessKind
    /// The virtual address.
    public var va: UInt64
    /// The physical address (host-physical under nested paging), or nil when the access was
    /// refused (protection, segv).
    public var pa: UInt64?
    /// Whether the first translation attempt hit in a TLB.
    public var tlbHit: Bool
    /// The fault the access took.
    public var fault: FaultKind
    /// The byte read or written (nil when refused).
    public var value: UInt8?
    /// The level of the memory system that served the data (nil when refused or with the
    /// caches off).
    public var cache: MemoryLevel?
    /// Under nested paging, the guest-physical address (nil when refused or not nested).
    public var gpa: UInt64?

    /// A result with every field given.
    @inlinable
    public init(op: AccessKind, va: UInt64, pa: UInt64?, tlbHit: Bool, fault: FaultKind, value: UInt8?,
                cache: MemoryLevel? = nil, gpa: UInt64? = nil) {
        self.op = op
        self.va = va
        self.pa = pa
        self.tlbHit = tlbHit
        self.fault = fault
        self.value = value
        self.cache = cache
        self.gpa = gpa
    }

    /// The physical page number, or nil.
    public func pfn(pageShift: Int) -> UInt64? { pa.map { $0 >> UInt64(pageShift) } }
}

/// A file the trace declared: `size` bytes, byte i = i mod 251 until written back.
public struct SimulatedFile: Sendable {
    /// Its name in the trace.
    public var name: String
    /// Its size in bytes.
    public var size: UInt64
    /// Shared anonymous memory's hidden backing object (reads as zeros).
    public var isShmem: Bool
    /// Pages written back by msync or eviction, by page index.
    public var writtenPages: [UInt64: [UInt8]] = [:]
    /// The page cache: page index -> PFN.
    public var cache = PageCacheIndex()
    /// Pages held in large folios (several pages managed as one: mapped together by
    /// fault-around, dirtied and cleaned together): page index -> the folio's pages.
    /// Pages not listed are single-page folios.
    public var largeFolios: [UInt64: Range<UInt64>] = [:]
}

/// A Linux-style kernel over the simulated MMU: processes, VMAs, demand paging, the page
/// cache, copy-on-write, write-back, swap, replacement and KSM.
///
/// Every PTE change goes through ``setPTE(pid:vpn:_:)``, which keeps the reverse mappings
/// and swap reference counts right and invalidates the TLB entry (invlpg).
public final class Kernel {
    /// The machine shape.
    public let preset: Preset
    /// Physical memory (frames and page tables).
    public let memory: PhysicalMemory
    /// The MMU (TLBs and page walker).
    public let mmu: MMU
    @usableFromInline let countersStorage: UnsafeMutablePointer<Counters>
    /// The MMU's caches and EPT, also held here for the access path.
    @usableFromInline let caches: Caches
    @usableFromInline let ept: ExtendedPageTables?
    /// Whether this kernel is a guest under EPT (``ept`` is set).
    @usableFromInline let nested: Bool
    @usableFromInline let pageShift: UInt64
    @usableFromInline let offsetMask: UInt64
    @usableFromInline let userLimit: UInt64
    /// The huge zero page's first PFN (UInt64.max without huge pages): an access at or above
    /// it reads zeros without touching data-frame bookkeeping.
    @usableFromInline let hugeZeroFirst: UInt64

    /// The processes, indexed by pid (the order `spawn`/`fork` created them).
    @exclusivity(unchecked) public internal(set) var processes: [SimulatedProcess] = []
    /// The files, indexed by file id.
    @exclusivity(unchecked) public internal(set) var files: [SimulatedFile] = []
    /// The data-frame limit (`frames N`), or nil for unlimited. Lowering it below the frames
    /// in use evicts at once (as lowering a cgroup's memory.max reclaims).
    public var frameLimit: Int? {
        didSet {
            guard let limit = frameLimit else { return }
            while memory.dataFramesInUse > limit, let victim = chooseVictim() { evict(victim) }
        }
    }
    /// The replacement policy used when no frame is free.
    public var policy: ReplacementPolicy {
        didSet { if case .random(let seed) = policy { random = SplitMix64(seed: seed) } }
    }
    /// Fault-around window in pages (1 turns it off); rounded down to a power of two.
    @exclusivity(unchecked) public var faultAround: Int
    /// Whether TLB entries keep their PCID across CR3 switches (otherwise a switch flushes).
    @exclusivity(unchecked) public var pcid: Bool

    @exclusivity(unchecked) @usableFromInline var current = -1
    @exclusivity(unchecked) @usableFromInline var currentCR3: UInt64 = 0
    @exclusivity(unchecked) @usableFromInline var currentASID: UInt16 = 0
    /// Logical time: one tick per access; stamps FIFO and LRU.
    @exclusivity(unchecked) @usableFromInline var time: UInt64 = 0
    @exclusivity(unchecked) var pinned: [UInt64] = []
    @exclusivity(unchecked) var clockHand: UInt64 = 0
    @exclusivity(unchecked) var random = SplitMix64(seed: 0)
    @exclusivity(unchecked) var swap = SwapArea()
    /// The whole trace's accesses, for OPT; `futureIndex` is the access being served.
    @exclusivity(unchecked) public var future: ContiguousArray<TraceAccess> = []
    /// Index in ``future`` of the access being served.
    @exclusivity(unchecked) public var futureIndex = 0

    /// A kernel for `preset`. `pcid` defaults to on for the x86-64 presets, off for csapp-small.
    /// With `nested` (issue 20) it is a guest under EPT: its physical memory is guest-physical,
    /// 48 bits wide (what a 4-level EPT maps), and the MMU translates every guest-physical
    /// address to a host frame; traps unless the preset has 4 KiB pages and 4 levels. A guest
    /// gets no 2 MiB pages: this EPT maps 4 KiB host frames, so a guest huge page would not be
    /// contiguous in host memory, and a TLB entry covers the smaller of the two page sizes.
    public init(preset: Preset = .coreI7, frameLimit: Int? = nil, policy: ReplacementPolicy = .lru,
                faultAround: Int = 16, pcid: Bool? = nil, nested: Bool = false) {
        precondition(!nested || preset.supportsNestedPaging, "nested paging needs 4 KiB pages and 4 levels")
        var preset = preset
        if nested {
            preset.hugeTLB = nil
            preset.l2HoldsHugePages = false
        }
        self.preset = preset
        memory = PhysicalMemory(pageSize: preset.pageSize, entriesPerTable: preset.entriesPerTable,
                                physicalFrames: nested ? min(preset.physicalFrames, ExtendedPageTables.guestFrames) : preset.physicalFrames,
                                hugePages: preset.hasHugePages)
        hugeZeroFirst = memory.hugeZeroPFN ?? .max
        countersStorage = .allocate(capacity: 1)
        countersStorage.initialize(to: Counters())
        mmu = MMU(preset: preset, memory: memory, counters: countersStorage, ept: nested ? ExtendedPageTables() : nil)
        caches = mmu.caches
        ept = mmu.ept
        self.nested = nested
        pageShift = UInt64(preset.pageShift)
        offsetMask = UInt64(preset.pageSize - 1)
        userLimit = preset.levels > 1 ? 1 << UInt64(preset.virtualBits - 1) : 1 << UInt64(preset.virtualBits)
        self.frameLimit = frameLimit
        self.policy = policy
        self.faultAround = faultAround
        self.pcid = pcid ?? (preset.levels > 1)
        if case .random(let seed) = policy { random = SplitMix64(seed: seed) }
    }

    deinit {
        countersStorage.deinitialize(count: 1)
        countersStorage.deallocate()
    }

    /// A snapshot of every counter.
    public var counters: Counters {
        var snapshot = countersStorage.pointee
        snapshot.framesInUse = UInt64(memory.dataFramesInUse)
        snapshot.pageTableFrames = UInt64(memory.tableFramesInUse)
        mmu.caches.report(into: &snapshot)
        return snapshot
    }

    // MARK: Processes and files

    /// Declares a file of `size` bytes; returns its id.
    @discardableResult
    public func addFile(name: String, size: UInt64) -> Int {
        files.append(SimulatedFile(name: name, size: size, isShmem: false))
        return files.count - 1
    }

    /// Creates a process with an empty address space; returns its pid.
    @discardableResult
    public func spawn(name: String) throws(VMError) -> Int {
        guard processes.count < 4095 else { throw VMError.tooManyProcesses(limit: 4095) }
        guard let cr3 = memory.allocateTable() else { throw VMError.noFrameForPageTable }
        processes.append(SimulatedProcess(name: name, cr3: cr3, asid: UInt16(processes.count + 1)))
        return processes.count - 1
    }

    /// The pid of the process called `name`, or nil.
    public func pid(named name: String) -> Int? {
        processes.firstIndex { $0.name == name }
    }

    /// fork: a child whose private pages are shared copy-on-write with the parent.
    ///
    /// Private writable PTEs become read-only in both; a 2 MiB page is copied as one entry,
    /// write-protected too (Linux's copy_huge_pmd). Shared mappings are not copied
    /// (the child faults them in, as Linux does for VMAs without anonymous pages).
    @discardableResult
    public func fork(parent: Int, childName: String) throws(VMError) -> Int {
        let child = try spawn(name: childName)
        processes[child].vmas = processes[parent].vmas
        for vma in processes[parent].vmas where !vma.shared {
            forEachHugePDE(pid: parent, from: vma.start >> pageShift, to: vma.end >> pageShift) { region, pde in
                var copy = pde
                if pde.isWritable {
                    copy.set(PageTableEntry.writableBit, false)
                    setHugePDE(pid: parent, region: region, copy)
                }
                setHugePDE(pid: child, region: region, copy)
            }
            forEachLeaf(pid: parent, from: vma.start >> pageShift, to: vma.end >> pageShift) { vpn, pte in
                var copy = pte
                if pte.isPresent && pte.isWritable {
                    copy.set(PageTableEntry.writableBit, false)
                    setPTE(pid: parent, vpn: vpn, copy)
                }
                setPTE(pid: child, vpn: vpn, copy)
            }
        }
        return child
    }

    // MARK: The access path

    /// One user-mode access by process `pid`: translate, fault and restart if needed, then
    /// read or write the byte in simulated memory.
    public func access(pid: Int, va: UInt64, op: AccessKind, value: UInt8 = 1) -> AccessResult {
        let counters = countersStorage
        counters.pointee.accesses &+= 1
        switch op {
        case .read: counters.pointee.reads &+= 1
        case .write: counters.pointee.writes &+= 1
        case .fetch: counters.pointee.fetches &+= 1
        }
        time &+= 1
        if pid != current { switchTo(pid: pid) }
        guard va < userLimit else {
            counters.pointee.faultsSegv &+= 1
            return AccessResult(op: op, va: va, pa: nil, tlbHit: false, fault: .segv, value: nil)
        }
        var translation = translate(va: va, op: op)
        let tlbHit = translation.tlbHit
        var fault = FaultKind.none
        if translation.status != .ok {
            fault = handleFault(pid: pid, va: va, op: op)
            if fault == .segv || fault == .protection {
                return AccessResult(op: op, va: va, pa: nil, tlbHit: tlbHit, fault: fault, value: nil)
            }
            translation = translate(va: va, op: op)
            precondition(translation.status == .ok, "the access still faults after the kernel resolved it")
        }
        // The bytes live in this kernel's memory, guest-physical under nested paging.
        let pa = nested ? ept.unsafelyUnwrapped.guestAddress(ofHost: translation.pa) : translation.pa
        let pfn = pa >> pageShift
        let cache = mmu.cachesEnabled ? caches.access(pa: translation.pa, write: op == .write, walk: false) : nil
        if pfn >= hugeZeroFirst {  // the huge zero page, mapped read-only: reads see zeros
            return AccessResult(op: op, va: va, pa: translation.pa, tlbHit: tlbHit, fault: fault, value: 0, cache: cache)
        }
        let offset = Int(pa & offsetMask)
        memory.touch(pfn, stamp: time)
        let byte: UInt8
        if op == .write {
            memory.writeByte(pfn, offset: offset, value)
            byte = value
        } else {
            byte = memory.readByte(pfn, offset: offset)
        }
        return AccessResult(op: op, va: va, pa: translation.pa, tlbHit: tlbHit, fault: fault, value: byte, cache: cache,
                            gpa: nested ? pa : nil)
    }

    /// One translation by the MMU; under nested paging the host backs every guest frame an
    /// EPT violation names (counted in `eptFaults`) and the translation starts over, as the
    /// guest's instruction does when the host resumes it.
    @inline(__always)
    func translate(va: UInt64, op: AccessKind) -> Translation {
        var translation = mmu.translate(va: va, op: op, cr3: currentCR3, asid: currentASID)
        let tlbHit = translation.tlbHit
        while translation.status == .eptViolation, let ept {
            ept.back(gpa: translation.pa)
            countersStorage.pointee.eptFaults &+= 1
            translation = mmu.translate(va: va, op: op, cr3: currentCR3, asid: currentASID)
        }
        translation.tlbHit = tlbHit
        return translation
    }

    /// Loads CR3 with `pid`'s page table; without PCID the TLB is flushed.
    func switchTo(pid: Int) {
        if current >= 0 { countersStorage.pointee.contextSwitches += 1 }
        current = pid
        currentCR3 = processes[pid].cr3
        currentASID = processes[pid].asid
        if !pcid {
            mmu.tlb.flushAll()
            countersStorage.pointee.tlbFlushes += 1
        }
    }

    // MARK: Page faults

    /// The page-fault handler: decides what the fault means and fixes the page tables.
    func handleFault(pid: Int, va: UInt64, op: AccessKind) -> FaultKind {
        let kind = resolveFault(pid: pid, va: va, op: op)
        switch kind {
        case .none: break
        case .zero: countersStorage.pointee.faultsZero += 1
        case .minor: countersStorage.pointee.faultsMinor += 1
        case .major: countersStorage.pointee.faultsMajor += 1
        case .cow: countersStorage.pointee.faultsCow += 1
        case .protection: countersStorage.pointee.faultsProtection += 1
        case .segv: countersStorage.pointee.faultsSegv += 1
        }
        return kind
    }

    func resolveFault(pid: Int, va: UInt64, op: AccessKind) -> FaultKind {
        guard let vma = processes[pid].vma(containing: va) else { return .segv }
        guard vma.allows(op) else { return .protection }
        let vpn = va >> pageShift
        if let kind = hugeFault(pid: pid, vpn: vpn, vma: vma, op: op) { return kind }
        let pte = readPTE(pid: pid, vpn: vpn)
        if pte.isPresent {
            return presentFault(pid: pid, vpn: vpn, pte: pte, vma: vma, op: op)
        }
        if let slot = pte.swapSlot {
            return swapIn(pid: pid, vpn: vpn, slot: slot, vma: vma, op: op)
        }
        if let fileID = vma.fileID {
            return fileFault(pid: pid, vpn: vpn, vma: vma, fileID: fileID, op: op)
        }
        // Private anonymous memory: demand-zero.
        if op == .write {
            let pfn = allocateFrame(kind: .anonymous)
            setPTE(pid: pid, vpn: vpn, makePTE(pfn, writable: true, vma: vma))
        } else {
            setPTE(pid: pid, vpn: vpn, makePTE(0, writable: false, vma: vma))
        }
        return .zero
    }

    /// A fault on a present page: a write to a read-only PTE (COW or write-notify), or PTE
    /// bits that lag behind an mprotect.
    func presentFault(pid: Int, vpn: UInt64, pte: PageTableEntry, vma: VMA, op: AccessKind) -> FaultKind {
        if op != .write || pte.isWritable {
            setPTE(pid: pid, vpn: vpn, makePTE(pte.ppn, writable: pte.isWritable, vma: vma, from: pte))
            return .minor
        }
        if vma.shared {
            // Write-notify: the first write to a clean shared page marks it dirty.
            markDirty(pte.ppn)
            setPTE(pid: pid, vpn: vpn, makePTE(pte.ppn, writable: true, vma: vma, from: pte))
            makePMDFolioWritable(pid: pid, vpn: vpn, vma: vma, pfn: pte.ppn)
            return .minor
        }
        return copyOnWrite(pid: pid, vpn: vpn, pte: pte, vma: vma)
    }

    /// The write half of copy-on-write: reuse an exclusive anonymous page, or copy.
    func copyOnWrite(pid: Int, vpn: UInt64, pte: PageTableEntry, vma: VMA) -> FaultKind {
        let old = pte.ppn
        if old == 0 {
            let pfn = allocateFrame(kind: .anonymous)
            setPTE(pid: pid, vpn: vpn, makePTE(pfn, writable: true, vma: vma))
            return .zero
        }
        let info = memory[old]
        if info.kind == .anonymous && info.mapCount == 1 && (info.swapSlot == 0 || swap.refs(info.swapSlot) == 0) {
            setPTE(pid: pid, vpn: vpn, makePTE(old, writable: true, vma: vma, from: pte))
            return .minor
        }
        pinned.append(old)
        let pfn = allocateFrame(kind: .anonymous)
        pinned.removeLast()
        memory.putContents(memory.copyContents(old), into: pfn)
        setPTE(pid: pid, vpn: vpn, makePTE(pfn, writable: true, vma: vma))
        return .cow
    }

    /// A not-present fault in a file mapping (shared anonymous memory included).
    func fileFault(pid: Int, vpn: UInt64, vma: VMA, fileID: Int, op: AccessKind) -> FaultKind {
        let page = vma.filePage(vpn: vpn, pageShift: preset.pageShift)
        guard page < filePages(fileID) else { return .segv }  // SIGBUS past the end of the file
        let (pfn, loaded) = pageCacheFrame(file: fileID, page: page)
        let kind: FaultKind = loaded ? (files[fileID].isShmem && files[fileID].writtenPages[page] == nil ? .zero : .major) : .minor
        if op == .write {
            if vma.shared {
                markDirty(pfn)
                setPTE(pid: pid, vpn: vpn, makePTE(pfn, writable: true, vma: vma))
                mapFolioForWrite(pid: pid, vpn: vpn, vma: vma, fileID: fileID, page: page)
                return kind
            }
            pinned.append(pfn)
            let copy = allocateFrame(kind: .anonymous)
            pinned.removeLast()
            memory.putContents(memory.copyContents(pfn), into: copy)
            setPTE(pid: pid, vpn: vpn, makePTE(copy, writable: true, vma: vma))
            if loaded { countersStorage.pointee.cowFileReads += 1 }
            return .cow
        }
        setPTE(pid: pid, vpn: vpn, makePTE(pfn, writable: false, vma: vma))
        mapAround(pid: pid, vpn: vpn, vma: vma, fileID: fileID)
        return kind
    }

    /// Fault-around: maps the already-cached pages of the aligned window around `vpn`,
    /// clipped to the VMA, read-only and without counting faults.
    func mapAround(pid: Int, vpn: UInt64, vma: VMA, fileID: Int) {
        guard faultAround > 1 else { return }
        let window = UInt64(1) << UInt64(Int.bitWidth - 1 - faultAround.leadingZeroBitCount)
        let first = max(vpn & ~(window - 1), vma.start >> pageShift)
        let last = min((vpn & ~(window - 1)) + window, vma.end >> pageShift)
        let pages = filePages(fileID)
        for other in first..<last where other != vpn {
            let page = vma.filePage(vpn: other, pageShift: preset.pageShift)
            guard page < pages, let pfn = files[fileID].cache[page],
                  readPTE(pid: pid, vpn: other).raw == 0 else { continue }
            setPTE(pid: pid, vpn: other, makePTE(pfn, writable: false, vma: vma))
        }
        guard !files[fileID].largeFolios.isEmpty else { return }
        // Linux 6.18 maps a large folio that the window touches whole, when the folio lies
        // inside the VMA and inside one page table (2 MiB with 4 KiB pages).
        let tableSpan = UInt64(preset.entriesPerTable)
        var done = Set<UInt64>()
        for other in first..<last {
            let page = vma.filePage(vpn: other, pageShift: preset.pageShift)
            guard let folio = files[fileID].largeFolios[page], done.insert(folio.lowerBound).inserted else { continue }
            let folioStart = other - (page - folio.lowerBound)
            let folioEnd = folioStart + UInt64(folio.count)
            guard folioStart >= vma.start >> pageShift, folioEnd <= vma.end >> pageShift,
                  folioStart / tableSpan == (folioEnd - 1) / tableSpan, folio.upperBound <= pages else { continue }
            for member in folioStart..<folioEnd {
                let memberPage = folio.lowerBound + (member - folioStart)
                guard let pfn = files[fileID].cache[memberPage], readPTE(pid: pid, vpn: member).raw == 0 else { continue }
                setPTE(pid: pid, vpn: member, makePTE(pfn, writable: false, vma: vma))
            }
        }
    }

    /// A write fault on an unmapped page of a shared file mapping: Linux 6.18 maps the
    /// page's whole large folio writable at once (measured: after one write fault, writes
    /// to the other pages of the folio take no fault), when the folio lies inside the VMA
    /// and one page table and none of its other pages is mapped yet.
    func mapFolioForWrite(pid: Int, vpn: UInt64, vma: VMA, fileID: Int, page: UInt64) {
        guard let folio = files[fileID].largeFolios[page] else { return }
        let folioStart = vpn - (page - folio.lowerBound)
        let folioEnd = folioStart + UInt64(folio.count)
        let tableSpan = UInt64(preset.entriesPerTable)
        guard folioStart >= vma.start >> pageShift, folioEnd <= vma.end >> pageShift,
              folioStart / tableSpan == (folioEnd - 1) / tableSpan, folio.upperBound <= filePages(fileID) else { return }
        for member in folioStart..<folioEnd where member != vpn {
            let memberPage = folio.lowerBound + (member - folioStart)
            guard files[fileID].cache[memberPage] != nil, readPTE(pid: pid, vpn: member).raw == 0 else { return }
        }
        for member in folioStart..<folioEnd where member != vpn {
            let pfn = files[fileID].cache[folio.lowerBound + (member - folioStart)]!
            setPTE(pid: pid, vpn: member, makePTE(pfn, writable: true, vma: vma))
        }
    }

    /// A folio as large as a page table's reach (512 pages with 4 KiB pages), aligned on it
    /// in both the file and the address space, is mapped by Linux with one PMD entry: one
    /// write-notify fault makes all of it writable (measured on 6.18: after a write fault
    /// on a 2 MiB folio, writes to its other 511 pages take none). The model keeps 4 KiB
    /// PTEs and upgrades them together.
    func makePMDFolioWritable(pid: Int, vpn: UInt64, vma: VMA, pfn: UInt64) {
        let info = memory[pfn]
        guard info.kind == .file, info.fileID >= 0,
              let folio = files[Int(info.fileID)].largeFolios[info.pageIndex],
              folio.count == preset.entriesPerTable else { return }
        let folioStart = vpn - (info.pageIndex - folio.lowerBound)
        let folioEnd = folioStart + UInt64(folio.count)
        guard folioStart % UInt64(folio.count) == 0, folioStart >= vma.start >> pageShift,
              folioEnd <= vma.end >> pageShift else { return }
        for member in folioStart..<folioEnd where member != vpn {
            let other = readPTE(pid: pid, vpn: member)
            guard other.isPresent, !other.isWritable else { continue }
            setPTE(pid: pid, vpn: member, makePTE(other.ppn, writable: true, vma: vma, from: other))
        }
    }

    /// Marks a page-cache frame dirty (PG_dirty), with every page of its large folio.
    func markDirty(_ pfn: UInt64) {
        memory[pfn].dirty = true
        let info = memory[pfn]
        guard info.kind == .file, info.fileID >= 0,
              let folio = files[Int(info.fileID)].largeFolios[info.pageIndex] else { return }
        for page in folio where page != info.pageIndex {
            if let other = files[Int(info.fileID)].cache[page] { memory[other].dirty = true }
        }
    }

    /// A PTE for `pfn` with `vma`'s user and execute bits. PROT_NONE pages get U/S = 0,
    /// so every user access faults (Linux uses a not-present PTE with a software bit).
    func makePTE(_ pfn: UInt64, writable: Bool, vma: VMA, from old: PageTableEntry? = nil) -> PageTableEntry {
        var pte = PageTableEntry(ppn: pfn, writable: writable && vma.protection.contains(.write),
                                 user: !vma.protection.isEmpty,
                                 executeDisable: !vma.protection.contains(.exec))
        if let old {
            pte.set(PageTableEntry.accessedBit, old.isAccessed)
            pte.set(PageTableEntry.dirtyBit, old.isDirty)
        }
        return pte
    }

    /// Pages in file `fileID`.
    func filePages(_ fileID: Int) -> UInt64 {
        (files[fileID].size + UInt64(preset.pageSize) - 1) >> pageShift
    }
}

/// A small, fast, seedable generator (SplitMix64), so random replacement and the tests'
/// random traces repeat exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
