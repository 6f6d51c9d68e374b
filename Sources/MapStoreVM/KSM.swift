/// Kernel same-page merging: identical anonymous pages in MERGEABLE areas share one frame.
extension Kernel {
    /// One full KSM pass. Pages are visited by process, then address; the first page with
    /// given contents becomes the stable copy, and every later identical page is remapped to
    /// it read-only (its own frame freed). A merged frame becomes a KSM frame: a write to it
    /// always copies (COW). Pages of a huge page are left alone (Linux's KSM would split the
    /// huge page to merge them). Returns the number of pages merged in this pass.
    @discardableResult
    public func ksmScan() -> Int {
        var stable: [[UInt8]: UInt64] = [:]
        var merged = 0
        for pid in processes.indices {
            for vma in processes[pid].vmas where vma.mergeable && !vma.shared {
                forEachLeaf(pid: pid, from: vma.start >> pageShift, to: vma.end >> pageShift) { vpn, pte in
                    guard pte.isPresent, pte.ppn != 0 else { return }
                    let kind = memory[pte.ppn].kind
                    guard kind == .anonymous || kind == .ksm, memory.hugeFolio(containing: pte.ppn) == nil else { return }
                    let bytes = memory.contents(pte.ppn)
                    guard let target = stable[bytes] else {
                        stable[bytes] = pte.ppn
                        return
                    }
                    guard target != pte.ppn else { return }
                    if memory[target].kind != .ksm { makeKSMFrame(target) }
                    setPTE(pid: pid, vpn: vpn, makePTE(target, writable: false, vma: vma, from: pte))
                    merged += 1
                }
            }
        }
        countersStorage.pointee.ksmMerges += UInt64(merged)
        return merged
    }

    /// Turns an anonymous frame into a KSM frame: read-only in every PTE that maps it.
    func makeKSMFrame(_ pfn: UInt64) {
        memory[pfn].kind = .ksm
        for mapping in memory.mappings(of: pfn) {
            var pte = readPTE(pid: Int(mapping.pid), vpn: mapping.vpn)
            pte.set(PageTableEntry.writableBit, false)
            setPTE(pid: Int(mapping.pid), vpn: mapping.vpn, pte)
        }
    }
}
