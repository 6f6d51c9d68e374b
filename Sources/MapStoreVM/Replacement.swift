/// Which frame to take back when none is free.
public enum ReplacementPolicy: Equatable, Sendable, CustomStringConvertible {
    /// The frame allocated longest ago.
    case fifo
    /// The frame used longest ago (exact LRU over every access).
    case lru
    /// Second chance: a hand sweeps the frames in PFN order, clearing A bits, and takes the
    /// first frame whose A bits (and software referenced flag) were all clear.
    case clock
    /// Belady's optimal policy: the frame whose next use in the trace is farthest away.
    case opt
    /// A uniformly random frame, from a seeded generator.
    case random(seed: UInt64)

    /// Parses `fifo`, `lru`, `clock`, `opt`, `random` or `random:SEED`.
    public init?(trace text: String) {
        switch text {
        case "fifo": self = .fifo
        case "lru": self = .lru
        case "clock": self = .clock
        case "opt": self = .opt
        case "random": self = .random(seed: 0)
        default:
            guard text.hasPrefix("random:"), let seed = parseTraceNumber(Substring(text.dropFirst(7))) else { return nil }
            self = .random(seed: seed)
        }
    }

    /// The trace spelling.
    public var description: String {
        switch self {
        case .fifo: "fifo"
        case .lru: "lru"
        case .clock: "clock"
        case .opt: "opt"
        case .random(let seed): "random:\(seed)"
        }
    }
}

extension Kernel {
    /// A data frame of `kind`, the lowest free PFN; evicts a victim first when the frame
    /// limit (or physical memory) is reached.
    func allocateFrame(kind: FrameKind) -> UInt64 {
        while true {
            if frameLimit.map({ memory.dataFramesInUse < $0 }) ?? true,
               let pfn = memory.allocateFrame(kind: kind, stamp: time) {
                let inUse = UInt64(memory.dataFramesInUse)
                if inUse > countersStorage.pointee.framesPeak { countersStorage.pointee.framesPeak = inUse }
                return pfn
            }
            guard let victim = chooseVictim() else {
                preconditionFailure("no frame can be evicted: every frame is in use by the fault being handled")
            }
            evict(victim)
        }
    }

    /// The frames a policy may choose from: allocated, not pinned by the fault in progress.
    func evictionCandidates() -> [UInt64] {
        memory.allocatedPFNs.filter { !pinned.contains($0) }
    }

    /// The policy's victim, or nil when no frame can be evicted.
    func chooseVictim() -> UInt64? {
        let candidates = evictionCandidates()
        guard !candidates.isEmpty else { return nil }
        switch policy {
        case .fifo:
            return candidates.min { memory[$0].allocatedAt < memory[$1].allocatedAt }
        case .lru:
            return candidates.min { memory.lastUse(of: $0) < memory.lastUse(of: $1) }
        case .random:
            return candidates[Int(random.next() % UInt64(candidates.count))]
        case .clock:
            return clockVictim(candidates)
        case .opt:
            return optVictim(candidates)
        }
    }

    /// Second chance over the candidates in PFN order, starting after the hand.
    func clockVictim(_ candidates: [UInt64]) -> UInt64 {
        let start = candidates.firstIndex { $0 > clockHand } ?? 0
        for step in 0...candidates.count {
            let pfn = candidates[(start + step) % candidates.count]
            if clearReferenced(pfn) { continue }
            clockHand = pfn
            return pfn
        }
        clockHand = candidates[start]
        return candidates[start]
    }

    /// Clears the A bit in every PTE mapping `pfn` (with invlpg) and the software referenced
    /// flag; returns whether any was set.
    func clearReferenced(_ pfn: UInt64) -> Bool {
        var referenced = memory[pfn].referenced
        memory[pfn].referenced = false
        for mapping in memory.mappings(of: pfn) {
            var pte = readPTE(pid: Int(mapping.pid), vpn: mapping.vpn)
            if pte.isAccessed {
                referenced = true
                if pte.isPageSize, let pde = hugePDE(pid: Int(mapping.pid), vpn: mapping.vpn) {
                    // The one A bit of a 2 MiB page: cleared without splitting it.
                    var young = pde
                    young.set(PageTableEntry.accessedBit, false)
                    setHugePDE(pid: Int(mapping.pid), region: mapping.vpn & ~(hugeSpan - 1), young)
                } else {
                    pte.set(PageTableEntry.accessedBit, false)
                    setPTE(pid: Int(mapping.pid), vpn: mapping.vpn, pte)
                }
            }
        }
        return referenced
    }

    /// OPT: the candidate whose next use in ``future`` is farthest (never used: first choice,
    /// lowest PFN). A future access names the frame its PTE maps now, or, when not mapped,
    /// the page-cache frame of the file page its VMA maps.
    func optVictim(_ candidates: [UInt64]) -> UInt64 {
        var unseen = Set(candidates)
        var lastSeen = candidates[0]
        var index = futureIndex + 1
        while index < future.count && !unseen.isEmpty {
            let access = future[index]
            index += 1
            let pid = Int(access.pid)
            guard pid < processes.count else { continue }
            let vpn = access.va >> pageShift
            let pte = readPTE(pid: pid, vpn: vpn)
            var pfn: UInt64?
            if pte.isPresent {
                pfn = pte.ppn
            } else if pte.raw == 0, let vma = processes[pid].vma(containing: access.va), let fileID = vma.fileID {
                pfn = files[fileID].cache[vma.filePage(vpn: vpn, pageShift: preset.pageShift)]
            }
            if let pfn, unseen.remove(pfn) != nil { lastSeen = pfn }
        }
        if let never = unseen.min() { return never }
        return lastSeen
    }

    /// Takes `pfn` back: a clean file page is dropped, a dirty one written back first, an
    /// anonymous page goes to swap (a frame of a huge page after splitting it).
    func evict(_ pfn: UInt64) {
        countersStorage.pointee.evictions += 1
        let info = memory[pfn]
        switch info.kind {
        case .file:
            let dirty = isDirty(pfn)
            for mapping in memory.mappings(of: pfn) {
                setPTE(pid: Int(mapping.pid), vpn: mapping.vpn, .empty)
            }
            if dirty { writeBack(pfn) }
            files[Int(info.fileID)].cache[info.pageIndex] = nil
            memory.freeFrame(pfn)
        case .anonymous, .ksm:
            if let head = memory.hugeFolio(containing: pfn) {
                // A huge page is split before any of it goes to swap; an unmapped frame of it
                // is freed by the split, which is all its eviction needs.
                splitHugeFolio(head)
                if memory[pfn].kind == .free { return }
            }
            swapOut(pfn)
        case .free, .zero:
            preconditionFailure("evicting PFN \(pfn), which holds no page")
        }
    }
}
