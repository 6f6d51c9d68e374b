/// The swap area: numbered slots (from 1, lowest free first) holding evicted anonymous
/// pages, each with a count of the swap PTEs that name it and an optional swap-cache frame.
struct SwapArea {
    struct Slot {
        var refs = 0
        var contents: PhysicalMemory.Contents?
        var cachedFrame: UInt64 = 0
    }

    private(set) var slots: [Slot] = [Slot()]  // slot 0 is never used
    private var free = MinHeap()

    /// Slots holding a page.
    var slotsInUse: Int { slots.count - 1 - freeCount }
    private var freeCount = 0

    /// Stores `contents` in the lowest free slot; the slot starts with no references.
    mutating func allocate(_ contents: PhysicalMemory.Contents) -> UInt64 {
        if let slot = free.popMin() {
            freeCount -= 1
            slots[Int(slot)] = Slot(refs: 0, contents: contents, cachedFrame: 0)
            return slot
        }
        slots.append(Slot(refs: 0, contents: contents, cachedFrame: 0))
        return UInt64(slots.count - 1)
    }

    func refs(_ slot: UInt64) -> Int { slots[Int(slot)].refs }
    func contents(_ slot: UInt64) -> PhysicalMemory.Contents? { slots[Int(slot)].contents }
    func cachedFrame(_ slot: UInt64) -> UInt64 { slots[Int(slot)].cachedFrame }
    func isLive(_ slot: UInt64) -> Bool { slot > 0 && Int(slot) < slots.count && slots[Int(slot)].contents != nil }

    mutating func retain(_ slot: UInt64) { slots[Int(slot)].refs += 1 }
    mutating func setCachedFrame(_ slot: UInt64, _ pfn: UInt64) { slots[Int(slot)].cachedFrame = pfn }

    /// Drops one reference; when none are left, frees the slot and returns its contents
    /// and swap-cache frame for the caller to release.
    mutating func release(_ slot: UInt64) -> (contents: PhysicalMemory.Contents, cachedFrame: UInt64)? {
        slots[Int(slot)].refs -= 1
        guard slots[Int(slot)].refs == 0, let contents = slots[Int(slot)].contents else { return nil }
        let cached = slots[Int(slot)].cachedFrame
        slots[Int(slot)] = Slot()
        free.insert(slot)
        freeCount += 1
        return (contents, cached)
    }
}

extension Kernel {
    /// Drops a swap PTE's reference to `slot`; the last one frees the slot, and its swap-cache
    /// frame too if nothing maps it.
    func releaseSwap(_ slot: UInt64) {
        guard let (contents, cached) = swap.release(slot) else { return }
        memory.release(contents)
        if cached != 0 {
            memory[cached].swapSlot = 0
            releaseIfUnused(cached)
        }
    }

    /// Swaps an anonymous (or KSM) frame out: its contents go to a swap slot (unless it is a
    /// clean swap-cache page whose slot already holds them) and every PTE mapping it becomes
    /// a swap entry. The frame is freed when its last PTE goes.
    func swapOut(_ pfn: UInt64) {
        let info = memory[pfn]
        let mappers = memory.mappings(of: pfn)
        var slot = info.swapSlot
        if mappers.isEmpty {
            // An unmapped swap-cache page: its slot already holds the contents.
            if slot != 0 { swap.setCachedFrame(slot, 0) }
            memory[pfn].swapSlot = 0
            memory.freeFrame(pfn)
            return
        }
        if slot == 0 {
            slot = swap.allocate(memory.takeContents(pfn))
            countersStorage.pointee.swapOuts += 1
        } else {
            swap.setCachedFrame(slot, 0)
        }
        memory[pfn].swapSlot = 0
        for mapping in mappers {
            setPTE(pid: Int(mapping.pid), vpn: mapping.vpn, PageTableEntry(swapSlot: slot))
        }
    }

    /// A fault on a swap entry: map the swap-cache page (minor) or read the slot into a new
    /// frame (major). The page is writable only if this was the slot's last reference;
    /// otherwise it stays shared read-only and a write copies it.
    func swapIn(pid: Int, vpn: UInt64, slot: UInt64, vma: VMA, op: AccessKind) -> FaultKind {
        var pfn = swap.cachedFrame(slot)
        var kind = FaultKind.minor
        if pfn == 0 {
            pfn = allocateFrame(kind: .anonymous)
            memory.putContents(memory.duplicate(swap.contents(slot)!), into: pfn)
            memory[pfn].swapSlot = slot
            swap.setCachedFrame(slot, pfn)
            countersStorage.pointee.swapIns += 1
            kind = .major
        }
        let exclusive = swap.refs(slot) == 1 && memory[pfn].mapCount == 0
        setPTE(pid: pid, vpn: vpn, makePTE(pfn, writable: exclusive, vma: vma))
        if op == .write && !exclusive {
            let copied = copyOnWrite(pid: pid, vpn: vpn, pte: readPTE(pid: pid, vpn: vpn), vma: vma)
            return copied == .cow ? .cow : kind
        }
        return kind
    }
}
