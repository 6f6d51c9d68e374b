/// The memory system calls a trace can make: mmap, munmap, mprotect, msync, madvise.
public enum Advice: String, Sendable {
    /// MADV_DONTNEED: drop the pages; private ones read back as zero or as the file.
    case dontneed
    /// MADV_WILLNEED: read file pages into the page cache ahead of use.
    case willneed
    /// MADV_MERGEABLE: let KSM merge the anonymous pages.
    case mergeable
    /// MADV_RANDOM: read-ahead off. Linux keeps the hint in the VMA's flags, so advising
    /// part of a VMA splits it, and the split clips fault-around windows.
    case random
    /// MADV_SEQUENTIAL: aggressive read-ahead; splits the VMA like ``random``.
    case sequential
    /// MADV_NORMAL: clears ``random`` and ``sequential``; VMAs left alike merge again.
    case normal
    /// MADV_HUGEPAGE: private anonymous memory in the range gets 2 MiB pages where a whole,
    /// aligned 2 MiB region lies inside the VMA (THP `madvise` mode). A VMA flag: advising
    /// part of a VMA splits it.
    case hugepage
    /// MADV_NOHUGEPAGE: clears ``hugepage``; 2 MiB pages already mapped stay.
    case nohugepage
}

extension Kernel {
    func checkRange(_ addr: UInt64, _ length: UInt64, _ call: String) throws(VMError) -> (from: UInt64, to: UInt64) {
        guard addr & offsetMask == 0 else { throw VMError.unalignedAddress(call: call, address: addr) }
        guard length > 0 else { throw VMError.emptyRange(call: call) }
        let end = addr &+ ((length + offsetMask) & ~offsetMask)
        guard end > addr, end <= userLimit else { throw VMError.pastUserSpace(call: call) }
        return (addr >> pageShift, end >> pageShift)
    }

    /// mmap(MAP_FIXED): maps [`addr`, `addr + length`) of `pid`, replacing what was there.
    /// `file` nil is anonymous memory; shared anonymous memory gets a hidden zero-filled file.
    public func mmap(pid: Int, addr: UInt64, length: UInt64, protection: Protection, shared: Bool,
                     file: Int?, offset: UInt64) throws(VMError) {
        let (from, to) = try checkRange(addr, length, "mmap")
        guard offset & offsetMask == 0 else { throw VMError.unalignedFileOffset(offset: offset) }
        try munmap(pid: pid, addr: addr, length: length)
        var fileID = file
        if fileID == nil && shared {
            files.append(SimulatedFile(name: "[shmem \(files.count)]", size: (to - from) << pageShift, isShmem: true))
            fileID = files.count - 1
        }
        let vma = VMA(start: from << pageShift, end: to << pageShift, protection: protection, shared: shared,
                      fileID: fileID, fileOffset: file == nil ? 0 : offset)
        let index = processes[pid].vmas.firstIndex { $0.start >= vma.end } ?? processes[pid].vmas.count
        processes[pid].vmas.insert(vma, at: index)
    }

    /// munmap: removes the mappings in the range and empties their PTEs.
    public func munmap(pid: Int, addr: UInt64, length: UInt64) throws(VMError) {
        let (from, to) = try checkRange(addr, length, "munmap")
        let inside = splitVMAs(pid: pid, from: from, to: to)
        zap(pid: pid, from: from, to: to)
        processes[pid].vmas.removeSubrange(inside)
    }

    /// mprotect: changes the protection of the VMAs in the range and brings their PTEs in
    /// line (write permission removed, XD and U/S recomputed; write permission is never
    /// added here: the next write faults and the kernel decides). A 2 MiB page the range
    /// covers in part is split first; one it covers whole keeps its single entry.
    public func mprotect(pid: Int, addr: UInt64, length: UInt64, protection: Protection) throws(VMError) {
        let (from, to) = try checkRange(addr, length, "mprotect")
        let inside = splitVMAs(pid: pid, from: from, to: to)
        for index in inside { processes[pid].vmas[index].protection = protection }
        forEachHugePDE(pid: pid, from: from, to: to) { region, pde in
            guard let vma = processes[pid].vma(containing: region << pageShift) else { return }
            setHugePDE(pid: pid, region: region, makeHugePDE(pde.ppn, writable: pde.isWritable, vma: vma, from: pde))
        }
        forEachLeaf(pid: pid, from: from, to: to) { vpn, pte in
            guard pte.isPresent, let vma = processes[pid].vma(containing: vpn << pageShift) else { return }
            setPTE(pid: pid, vpn: vpn, makePTE(pte.ppn, writable: pte.isWritable, vma: vma, from: pte))
        }
    }

    /// msync(MS_SYNC): writes back the dirty page-cache pages behind the shared file
    /// mappings in the range and cleans them. As in Linux (`vfs_fsync_range`), this is
    /// write-back of the file range, so a page dirtied by `pwrite` or by another process
    /// is cleaned too, and a large folio is cleaned whole.
    public func msync(pid: Int, addr: UInt64, length: UInt64) throws(VMError) {
        let (from, to) = try checkRange(addr, length, "msync")
        for vma in processes[pid].vmas where vma.shared && vma.end > from << pageShift && vma.start < to << pageShift {
            guard let fileID = vma.fileID else { continue }
            let first = max(from, vma.start >> pageShift), last = min(to, vma.end >> pageShift)
            for vpn in first..<last {
                let page = vma.filePage(vpn: vpn, pageShift: preset.pageShift)
                guard let pfn = files[fileID].cache[page], isDirty(pfn) else { continue }
                writeBack(pfn)
            }
        }
    }

    /// madvise: DONTNEED zaps the range (a 2 MiB page it covers in part is split first),
    /// WILLNEED reads file pages ahead, MERGEABLE marks private VMAs for KSM, HUGEPAGE and
    /// NOHUGEPAGE set and clear the VMA's THP flag.
    public func madvise(pid: Int, addr: UInt64, length: UInt64, advice: Advice) throws(VMError) {
        let (from, to) = try checkRange(addr, length, "madvise")
        switch advice {
        case .dontneed:
            zap(pid: pid, from: from, to: to)
        case .willneed:
            for vma in processes[pid].vmas where vma.end > from << pageShift && vma.start < to << pageShift {
                readAhead(vma: vma, from: max(from, vma.start >> pageShift), to: min(to, vma.end >> pageShift))
            }
        case .mergeable:
            let inside = splitVMAs(pid: pid, from: from, to: to)
            for index in inside where !processes[pid].vmas[index].shared {
                processes[pid].vmas[index].mergeable = true
            }
        case .random, .sequential, .normal:
            let inside = splitVMAs(pid: pid, from: from, to: to)
            for index in inside { processes[pid].vmas[index].readAdvice = advice == .normal ? nil : advice }
            processes[pid].mergeAdjacent(pageShift: preset.pageShift)
        case .hugepage, .nohugepage:
            let inside = splitVMAs(pid: pid, from: from, to: to)
            for index in inside { processes[pid].vmas[index].hugepage = advice == .hugepage }
            processes[pid].mergeAdjacent(pageShift: preset.pageShift)
        }
    }
}
