/// The model's invariants, checked from scratch (bbolt's `tx_check`, for the VM model).
extension Kernel {
    /// Every broken invariant, one line each; empty when the model is consistent.
    ///
    /// - every present leaf PTE points at an allocated data frame or the zero page, never at a
    ///   free frame or a page table; every present upper-level PTE points at a page table;
    /// - every non-empty PTE lies inside a VMA of its process;
    /// - reverse mappings list exactly the PTEs that map each frame;
    /// - swap PTEs name live slots, whose reference counts equal the PTEs naming them;
    /// - the page cache and the frames agree, and the frame limit holds;
    /// - every TLB entry matches the page table of its address space (same PPN, same
    ///   R/W, U/S and XD; D cached only if the PTE has D);
    /// - the caches are inclusive and every line sits in the set its address indexes;
    /// - under nested paging, every host frame is the one the EPT maps its guest frame to.
    public func checkInvariants() -> [String] {
        var problems: [String] = []
        let census = checkPageTables(&problems)
        checkFrames(mapCounts: census.mapCounts, &problems)
        checkPageCache(&problems)
        checkSwapSlots(references: census.swapReferences, &problems)
        if let limit = frameLimit, memory.dataFramesInUse > limit {
            problems.append("\(memory.dataFramesInUse) data frames in use, limit \(limit)")
        }
        checkTLBs(&problems)
        problems += mmu.caches.checkInvariants()
        problems += mmu.ept?.checkInvariants() ?? []
        return problems
    }

    /// What the leaf PTEs of every process reference: how many map each frame, how many
    /// name each swap slot (to compare with the counts the frames and slots keep).
    private struct PTECensus {
        var mapCounts: [UInt64: Int32] = [:]
        var swapReferences: [UInt64: Int] = [:]
    }

    /// Walks every process's page tables: the tables themselves (and that each page-table
    /// frame in use is reachable), then each leaf PTE.
    private func checkPageTables(_ problems: inout [String]) -> PTECensus {
        var census = PTECensus()
        var tableCount = 0
        for pid in processes.indices {
            tableCount += 1
            checkTables(pid: pid, table: processes[pid].cr3, level: 0, problems: &problems, tables: &tableCount)
            forEachLeaf(pid: pid, from: 0, to: userLimit >> pageShift) { vpn, pte in
                checkLeaf(pid: pid, vpn: vpn, pte: pte, census: &census, &problems)
            }
        }
        if tableCount != memory.tableFramesInUse {
            problems.append("\(memory.tableFramesInUse) page-table frames in use, \(tableCount) reachable")
        }
        return census
    }

    /// One leaf PTE: inside a VMA; when present, on an allocated frame with its reverse
    /// mapping (or the zero page, read-only); when swapped, naming a live slot.
    private func checkLeaf(pid: Int, vpn: UInt64, pte: PageTableEntry, census: inout PTECensus, _ problems: inout [String]) {
        let name = processes[pid].name
        let va = vpn << pageShift
        if processes[pid].vma(containing: va) == nil {
            problems.append("\(name): PTE at 0x\(String(va, radix: 16)) lies outside every VMA")
        }
        if pte.isPresent {
            let pfn = pte.ppn
            if pfn != 0 {
                if pfn >= UInt64(memory.frames.count) || memory[pfn].kind == .free {
                    problems.append("\(name): PTE at 0x\(String(va, radix: 16)) points at free frame \(pfn)")
                    return
                }
                census.mapCounts[pfn, default: 0] += 1
                if !memory.mappings(of: pfn).contains(ReverseMapping(pid: Int32(pid), vpn: vpn)) {
                    problems.append("\(name): frame \(pfn) lacks the reverse mapping of VPN 0x\(String(vpn, radix: 16))")
                }
            } else if pte.isWritable {
                problems.append("\(name): the zero page is mapped writable at 0x\(String(va, radix: 16))")
            }
        } else if let slot = pte.swapSlot {
            if !swap.isLive(slot) {
                problems.append("\(name): swap PTE at 0x\(String(va, radix: 16)) names free slot \(slot)")
            }
            census.swapReferences[slot, default: 0] += 1
        }
    }

    /// Every allocated frame: its map count is the PTEs that map it; a file frame is in its
    /// page cache; an unmapped anonymous frame is in the swap cache.
    private func checkFrames(mapCounts: [UInt64: Int32], _ problems: inout [String]) {
        for pfn in memory.allocatedPFNs {
            let info = memory[pfn]
            if info.mapCount != mapCounts[pfn, default: 0] {
                problems.append("frame \(pfn): mapCount \(info.mapCount), \(mapCounts[pfn, default: 0]) PTEs map it")
            }
            if info.kind == .file {
                if files[Int(info.fileID)].cache[info.pageIndex] != pfn {
                    problems.append("frame \(pfn) is not in the page cache it claims")
                }
            } else if info.mapCount == 0 && (info.swapSlot == 0 || swap.cachedFrame(info.swapSlot) != pfn) {
                problems.append("anonymous frame \(pfn) is leaked: unmapped and not in the swap cache")
            }
        }
    }

    /// Every page cache entry holds a frame of that file page.
    private func checkPageCache(_ problems: inout [String]) {
        for (fileID, file) in files.enumerated() {
            for (page, pfn) in file.cache where memory[pfn].kind != .file || memory[pfn].fileID != Int32(fileID) || memory[pfn].pageIndex != page {
                problems.append("\(file.name) page \(page): cached frame \(pfn) holds something else")
            }
        }
    }

    /// Every live swap slot's reference count is the PTEs that name it.
    private func checkSwapSlots(references: [UInt64: Int], _ problems: inout [String]) {
        for slot in 1..<UInt64(swap.slots.count) where swap.isLive(slot) {
            if swap.refs(slot) != references[slot, default: 0] {
                problems.append("swap slot \(slot): \(swap.refs(slot)) references, \(references[slot, default: 0]) PTEs")
            }
        }
    }

    /// Every TLB entry agrees with its address space's page table: same PPN, same W, U and
    /// XD, and D only over a dirty PTE.
    private func checkTLBs(_ problems: inout [String]) {
        for (levelIndex, level) in mmu.tlb.levels.enumerated() {
            for entry in level.entries {
                guard let pid = processes.firstIndex(where: { $0.asid == entry.asid }) else {
                    problems.append("TLB L\(levelIndex + 1) holds an entry of unknown PCID \(entry.asid)")
                    continue
                }
                let pte = mmu.peek(vpn: entry.vpn, cr3: processes[pid].cr3) ?? .empty
                let what = "TLB L\(levelIndex + 1) entry \(processes[pid].name) VPN 0x\(String(entry.vpn, radix: 16))"
                // Under nested paging the TLB caches guest-virtual to host-physical.
                let ppn = mmu.ept.map { $0.hostFrame(of: pte.ppn) ?? UInt64.max } ?? pte.ppn
                if !pte.isPresent || ppn != entry.ppn {
                    problems.append("\(what) -> PPN \(entry.ppn), page table says \(pte)")
                    continue
                }
                let flags = MMU.tlbFlags(pte)
                let mask = TLBLevel.Flag.writable | TLBLevel.Flag.user | TLBLevel.Flag.executeDisable
                if flags & mask != entry.flags & mask {
                    problems.append("\(what) has permissions \(entry.flags), PTE \(pte)")
                }
                if entry.flags & TLBLevel.Flag.dirty != 0 && !pte.isDirty {
                    problems.append("\(what) caches D but the PTE is clean")
                }
            }
        }
    }

    private func checkTables(pid: Int, table: UInt64, level: Int, problems: inout [String], tables: inout Int) {
        guard level < preset.levels - 1 else { return }
        for index in 0..<preset.entriesPerTable {
            let pte = memory.readPTE(table: table, index: index)
            guard pte.isPresent else { continue }
            if !memory.isTableFrame(pte.ppn) {
                problems.append("\(processes[pid].name): level-\(level + 1) PTE \(index) points at \(pte.ppn), not a page table")
                continue
            }
            tables += 1
            checkTables(pid: pid, table: pte.ppn, level: level + 1, problems: &problems, tables: &tables)
        }
    }
}
