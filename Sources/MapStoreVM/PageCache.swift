/// The page cache: one set of frames per file, shared by every mapping of it in every
/// process, and write-back of dirty pages.
extension Kernel {
    /// The page-cache frame of page `page` of `file`; reads it in when absent (`loaded`).
    func pageCacheFrame(file: Int, page: UInt64) -> (pfn: UInt64, loaded: Bool) {
        if let pfn = files[file].cache[page] {
            memory[pfn].referenced = true
            return (pfn, false)
        }
        let pfn = allocateFrame(kind: .file)
        memory[pfn].fileID = Int32(file)
        memory[pfn].pageIndex = page
        if let bytes = files[file].writtenPages[page] {
            memory.putContents(memory.contents(from: bytes), into: pfn)
        } else if !files[file].isShmem {
            memory.setFilePattern(pfn, page: page)
        }
        files[file].cache[page] = pfn
        return (pfn, true)
    }

    /// Whether a page-cache frame differs from its file: PG_dirty or a D bit in a PTE.
    package func isDirty(_ pfn: UInt64) -> Bool {
        if memory[pfn].dirty { return true }
        return memory.mappings(of: pfn).contains { readPTE(pid: Int($0.pid), vpn: $0.vpn).isDirty }
    }

    /// Writes a page-cache frame back to its file and cleans it: PG_dirty and every D bit
    /// are cleared and shared mappings are write-protected again, so the next write is
    /// write-notified (Linux's page_mkclean).
    func writeBack(_ pfn: UInt64) {
        let info = memory[pfn]
        if let folio = files[Int(info.fileID)].largeFolios[info.pageIndex] {
            // A large folio is written back, and cleaned, as one.
            for page in folio {
                if let member = files[Int(info.fileID)].cache[page] { writeBackFrame(member) }
            }
        } else {
            writeBackFrame(pfn)
        }
    }

    /// Writes back one frame (see ``writeBack(_:)``).
    private func writeBackFrame(_ pfn: UInt64) {
        let info = memory[pfn]
        files[Int(info.fileID)].writtenPages[info.pageIndex] = memory.contents(pfn)
        countersStorage.pointee.writebacks += 1
        memory[pfn].dirty = false
        for mapping in memory.mappings(of: pfn) {
            var pte = readPTE(pid: Int(mapping.pid), vpn: mapping.vpn)
            pte.set(PageTableEntry.dirtyBit, false)
            pte.set(PageTableEntry.writableBit, false)
            setPTE(pid: Int(mapping.pid), vpn: mapping.vpn, pte)
        }
    }

    /// Reads the file pages behind [`from`, `to`) VPNs of a file VMA into the page cache
    /// (MADV_WILLNEED's readahead), mapping nothing.
    func readAhead(vma: VMA, from: UInt64, to: UInt64) {
        guard let fileID = vma.fileID else { return }
        for vpn in from..<to {
            let page = vma.filePage(vpn: vpn, pageShift: preset.pageShift)
            guard page < filePages(fileID) else { break }
            _ = pageCacheFrame(file: fileID, page: page)
        }
    }
}
