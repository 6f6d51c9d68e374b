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
    ///   R/W, U/S and XD; D cached only if the PTE has D), a 2 MiB entry a PS = 1 entry;
    /// - every 2 MiB page lies whole inside one private anonymous VMA and maps the huge zero
    ///   page or a huge folio: 512 allocated anonymous frames, contiguous and aligned on 512,
    ///   each with the reverse mapping of its VPN; ``Counters/hugePages`` counts them; a huge
    ///   folio has at least one frame mapped;
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
        var hugePages = 0
        for pid in processes.indices {
            tableCount += 1
            checkTables(pid: pid, table: processes[pid].cr3, level: 0, problems: &problems, tables: &tableCount)
            forEachLeaf(pid: pid, from: 0, to: userLimit >> pageShift) { vpn, pte in
                checkLeaf(pid: pid, vpn: vpn, pte: pte, census: &census, &problems)
            }
            forEachHugePDE(pid: pid, from: 0, to: userLimit >> pageShift) { region, pde in
                if checkHugePage(pid: pid, region: region, pde: pde, census: &census, &problems) { hugePages += 1 }
            }
        }
        if tableCount != memory.tableFramesInUse {
            problems.append("\(memory.tableFramesInUse) page-table frames in use, \(tableCount) reachable")
        }
        if UInt64(hugePages) != countersStorage.pointee.hugePages {
            problems.append("\(hugePages) 2 MiB pages mapped, hugePages counts \(countersStorage.pointee.hugePages)")
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

    /// One 2 MiB page: inside one private anonymous VMA, on the huge zero page (read-only) or
    /// on a huge folio whose frames each carry the reverse mapping of their VPN. Returns
    /// whether it maps a huge folio (a page ``Counters/hugePages`` counts).
    private func checkHugePage(pid: Int, region: UInt64, pde: PageTableEntry, census: inout PTECensus,
                               _ problems: inout [String]) -> Bool {
        let name = processes[pid].name
        let va = region << pageShift
        let where_ = "\(name): 2 MiB page at 0x\(String(va, radix: 16))"
        guard let vma = processes[pid].vma(containing: va), vma.end >= (region + hugeSpan) << pageShift,
              vma.isPrivateAnonymous else {
            problems.append("\(where_) is not inside one private anonymous VMA")
            return false
        }
        if memory.isHugeZero(pde.ppn) {
            if pde.ppn != memory.hugeZeroPFN { problems.append("\(where_) maps the huge zero page at frame \(pde.ppn), not its start") }
            if pde.isWritable { problems.append("\(where_) maps the huge zero page writable") }
            return false
        }
        guard memory.hugeFolio(containing: pde.ppn) == pde.ppn else {
            problems.append("\(where_) maps frames \(pde.ppn)... that are not one aligned huge folio")
            return false
        }
        for page in 0..<hugeSpan {
            let pfn = pde.ppn + page
            guard pfn < UInt64(memory.frames.count), memory[pfn].kind == .anonymous else {
                problems.append("\(where_): frame \(pfn) is not an allocated anonymous frame")
                continue
            }
            census.mapCounts[pfn, default: 0] += 1
            if !memory.mappings(of: pfn).contains(ReverseMapping(pid: Int32(pid), vpn: region + page)) {
                problems.append("\(name): frame \(pfn) lacks the reverse mapping of VPN 0x\(String(region + page, radix: 16))")
            }
        }
        return true
    }

    /// Every allocated frame: its map count is the PTEs that map it; a file frame is in its
    /// page cache; an unmapped anonymous frame is in the swap cache or in a huge folio that
    /// is still mapped. Every huge folio's frames are allocated, anonymous and not swap cache.
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
            } else if let head = memory.hugeFolio(containing: pfn) {
                if info.kind != .anonymous || info.swapSlot != 0 {
                    problems.append("frame \(pfn) of the huge folio at \(head) is \(info.kind) with swap slot \(info.swapSlot)")
                }
            } else if info.mapCount == 0 && (info.swapSlot == 0 || swap.cachedFrame(info.swapSlot) != pfn) {
                problems.append("anonymous frame \(pfn) is leaked: unmapped and not in the swap cache")
            }
        }
        for head in memory.hugeFolios.sorted() {
            let frames = head..<(head + hugeSpan)
            if head % hugeSpan != 0 || frames.upperBound > UInt64(memory.frames.count) || frames.contains(where: { memory[$0].kind == .free }) {
                problems.append("huge folio at \(head) is not 512 aligned allocated frames")
            } else if frames.allSatisfy({ memory[$0].mapCount == 0 }) {
                problems.append("huge folio at \(head) is leaked: none of its frames is mapped")
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
        var levels = mmu.tlb.levels.enumerated().map { ("L\($0.offset + 1)", $0.element) }
        if let huge = mmu.tlb.l1Huge { levels.append(("L1 2M", huge)) }
        for (levelName, level) in levels {
            for entry in level.entries {
                guard let pid = processes.firstIndex(where: { $0.asid == entry.asid }) else {
                    problems.append("TLB \(levelName) holds an entry of unknown PCID \(entry.asid)")
                    continue
                }
                let cr3 = processes[pid].cr3
                let pte = (entry.huge ? mmu.peekHuge(vpn: entry.vpn, cr3: cr3) : mmu.peek(vpn: entry.vpn, cr3: cr3)) ?? .empty
                let what = "TLB \(levelName) \(entry.huge ? "2 MiB " : "")entry \(processes[pid].name) VPN 0x\(String(entry.vpn, radix: 16))"
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
            if pte.isPageSize {
                // A 2 MiB page (checked with the leaves) is legal only in a page-directory entry.
                if level != preset.levels - 2 || !preset.hasHugePages {
                    problems.append("\(processes[pid].name): level-\(level + 1) PTE \(index) has PS set")
                }
                continue
            }
            if !memory.isTableFrame(pte.ppn) {
                problems.append("\(processes[pid].name): level-\(level + 1) PTE \(index) points at \(pte.ppn), not a page table")
                continue
            }
            tables += 1
            checkTables(pid: pid, table: pte.ppn, level: level + 1, problems: &problems, tables: &tables)
        }
    }
}
