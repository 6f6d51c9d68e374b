import MapStoreTestSupport
import Testing
@testable import MapStoreVM

/// `checkInvariants()` finds what it promises to find: a PTE changed behind the kernel's
/// back (not through `setPTE`, so no reverse mapping, reference or TLB entry follows it)
/// is reported by each check it breaks, and a sound model reports nothing.
@Suite struct InvariantsTests {
    /// A process with one private anonymous page written at `va` (its PTE present, writable
    /// and dirty, the TLB holding it), and where that PTE lives.
    static func writtenPage(at va: UInt64 = 0x10000) throws -> (Kernel, pid: Int, table: UInt64, index: Int) {
        let kernel = Kernel()
        let pid = try kernel.spawn(name: "A")
        try kernel.mmap(pid: pid, addr: va, length: 0x2000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        _ = kernel.access(pid: pid, va: va, op: .write)
        let (table, index) = try #require(kernel.leafLocation(pid: pid, vpn: va >> 12, create: false))
        #expect(kernel.checkInvariants() == [])
        return (kernel, pid, table, index)
    }

    @Test func aTLBEntryThatCachesDOverACleanPTEIsReported() throws {
        let (kernel, _, table, index) = try Self.writtenPage()
        let pte = kernel.memory.readPTE(table: table, index: index)
        kernel.memory.writePTE(table: table, index: index, PageTableEntry(raw: pte.raw & ~PageTableEntry.dirtyBit))
        let problems = kernel.checkInvariants()
        #expect(!problems.isEmpty)
        #expect(problems.allSatisfy { $0.hasSuffix("VPN 0x10 caches D but the PTE is clean") }, "\(problems)")
    }

    @Test func aFrameNoPTEMapsAnyMoreIsReportedByTheFrameAndTLBChecks() throws {
        let (kernel, _, table, index) = try Self.writtenPage()
        let pfn = kernel.memory.readPTE(table: table, index: index).ppn
        kernel.memory.writePTE(table: table, index: index, .empty)
        let problems = kernel.checkInvariants()
        #expect(problems.contains("frame \(pfn): mapCount 1, 0 PTEs map it"), "\(problems)")
        #expect(problems.contains { $0.hasPrefix("TLB L1 entry A VPN 0x10 -> PPN \(pfn), page table says") }, "\(problems)")
    }

    @Test func aPTEOutsideEveryVMAOrOnAFreeFrameIsReported() throws {
        let (kernel, pid, _, _) = try Self.writtenPage()
        // A leaf in the same table, past the 2-page VMA, pointing past every frame there is.
        let (table, index) = try #require(kernel.leafLocation(pid: pid, vpn: 0x13, create: false))
        let free = UInt64(kernel.memory.frames.count) + 5
        kernel.memory.writePTE(table: table, index: index, PageTableEntry(ppn: free, writable: false, executeDisable: true))
        let problems = kernel.checkInvariants()
        #expect(problems == ["A: PTE at 0x13000 lies outside every VMA", "A: PTE at 0x13000 points at free frame \(free)"])
    }
}
