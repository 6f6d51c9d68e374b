import Testing
@testable import MapStoreVM

/// Nested paging (issue 20): the guest's tables live at guest frames 2^36 - 1 downward, its
/// data frames from guest frame 1; host frames are handed out from 1 in the order the MMU first
/// touches guest frames.
@Suite struct NestedPagingTests {
    static let top = ExtendedPageTables.guestFrames - 1

    /// A guest with one private anonymous page written at `va`.
    static func guest(va: UInt64 = 0x7f6a_28a1_2345) throws -> (Kernel, pid: Int, first: AccessResult) {
        let kernel = Kernel(nested: true)
        let pid = try kernel.spawn(name: "A")
        try kernel.mmap(pid: pid, addr: va & ~0xFFF, length: 0x4000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        let first = kernel.access(pid: pid, va: va, op: .write, value: 5)
        return (kernel, pid, first)
    }

    /// With every guest frame backed and the TLB empty (nothing of the EPT is cached: the model
    /// has no EPT TLB or paging-structure cache), one access walks the guest's 4 levels, and
    /// each of the 4 table addresses and the data address takes a 4-read EPT walk:
    /// 4 + 5 x 4 = 24 reads, all through the caches.
    @Test func aColdNestedWalkCosts24MemoryReads() throws {
        let (kernel, pid, _) = try Self.guest()
        kernel.mmu.tlb.flushAll()
        let before = kernel.counters
        let result = kernel.access(pid: pid, va: 0x7f6a_28a1_2345, op: .read)
        let after = kernel.counters
        #expect(!result.tlbHit && result.fault == .none && result.value == 5)
        #expect(after.walks - before.walks == 1)
        #expect(after.walkReads - before.walkReads == 4)
        #expect(after.eptWalks - before.eptWalks == 5)
        #expect(after.eptWalkReads - before.eptWalkReads == 20)
        #expect(after.eptFaults == before.eptFaults)
        let walkLookups = { (c: Counters) in c.walkL1dHits + c.walkL1dMisses }
        #expect(walkLookups(after) - walkLookups(before) == 24)
        // The TLB now caches guest-virtual to host-physical: the next access reads nothing.
        let again = kernel.access(pid: pid, va: 0x7f6a_28a1_2346, op: .read)
        #expect(again.tlbHit && again.pa == result.pa.map { $0 + 1 } && again.gpa == result.gpa.map { $0 + 1 })
        #expect(kernel.counters.walkReads == after.walkReads && kernel.counters.eptWalkReads == after.eptWalkReads)
        #expect(kernel.checkInvariants() == [])
    }

    /// Without nested paging the same cold access is the plain 4-read walk.
    @Test func theSameWalkWithoutNestingReadsFour() throws {
        let kernel = Kernel()
        let pid = try kernel.spawn(name: "A")
        try kernel.mmap(pid: pid, addr: 0x7f6a_28a1_2000, length: 0x1000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        _ = kernel.access(pid: pid, va: 0x7f6a_28a1_2345, op: .write)
        kernel.mmu.tlb.flushAll()
        let before = kernel.counters
        let result = kernel.access(pid: pid, va: 0x7f6a_28a1_2345, op: .read)
        #expect(result.gpa == nil && kernel.counters.walkReads - before.walkReads == 4)
        #expect(kernel.counters.eptWalks == 0 && kernel.counters.eptWalkReads == 0 && kernel.counters.eptFaults == 0)
    }

    /// The first write: the walk meets the unbacked guest CR3 table (host frame 1), faults in
    /// the guest, whose kernel allocates three tables and data frame 1; the restarted walk backs
    /// each table (host frames 2, 3, 4) and the data frame (host frame 5): five EPT violations.
    @Test func guestFramesGetHostFramesOnFirstUse() throws {
        let (kernel, pid, first) = try Self.guest()
        #expect(first.fault == .zero)
        #expect(first.gpa == 0x1345 && first.pa == 0x5345)
        #expect(kernel.counters.eptFaults == 5)
        let ept = try #require(kernel.mmu.ept)
        #expect((0..<4).map { ept.hostFrame(of: Self.top - $0) } == [1, 2, 3, 4])
        #expect(ept.hostFrame(of: 1) == 5 && ept.hostFrame(of: 2) == nil)
        // A read of an untouched page maps the guest's zero page: guest frame 0 is new to the host.
        let zero = kernel.access(pid: pid, va: 0x7f6a_28a1_3000, op: .read)
        #expect(zero.gpa == 0 && zero.pa == 0x6000 && kernel.counters.eptFaults == 6)
        // A guest frame freed and handed out again keeps its host frame: no new violation.
        try kernel.madvise(pid: pid, addr: 0x7f6a_28a1_2000, length: 0x1000, advice: .dontneed)
        let reused = kernel.access(pid: pid, va: 0x7f6a_28a1_4000, op: .write)
        #expect(reused.gpa == 0x1000 && reused.pa == 0x5000 && kernel.counters.eptFaults == 6)
        #expect(ept.backedFrames == 6)
        #expect(kernel.checkInvariants() == [])
    }

    /// A host frame recorded as backing a guest frame the EPT maps elsewhere is reported.
    @Test func aWrongHostToGuestRecordIsReported() throws {
        let (kernel, _, _) = try Self.guest()
        let ept = try #require(kernel.mmu.ept)
        ept.guestFrameOfHost[5] = 2
        #expect(kernel.checkInvariants().contains("host frame 5 backs guest frame 2, but the EPT maps that to nil"))
    }

    @Test func recordsCarryTheGuestPhysicalAddress() throws {
        let trace = try TraceParser.parse("preset skylake\nnested on\nspawn A\nmmap A 0x10000 0x1000 rw private anon\nw A 0x10008 3\nr A 0x20000\n")
        #expect(trace.nested)
        let replayer = TraceReplayer(trace: trace)
        var rows: [String] = []
        try replayer.run { access, result in rows.append(TraceOutput.jsonRow(access, result, process: "A", nested: true)) }
        #expect(rows[0].contains(#""pa":"0x5008","gpa":"0x1008","tlb":"miss""#), "\(rows[0])")
        #expect(rows[1].contains(#""pa":null,"gpa":null,"tlb":"miss","fault":"segv""#), "\(rows[1])")
        #expect(TraceOutput.tableHeader(nested: true).contains("PA              GPA             TLB"))
    }

    /// A guest gets 4 KiB pages where a host would get a 2 MiB one: the EPT maps 4 KiB host
    /// frames, so a guest huge page would not be contiguous in host memory.
    @Test func aGuestGetsNoHugePages() throws {
        for nested in [false, true] {
            let kernel = Kernel(nested: nested)
            let pid = try kernel.spawn(name: "A")
            try kernel.mmap(pid: pid, addr: 0x4000_0000, length: 0x20_0000, protection: [.read, .write], shared: false, file: nil, offset: 0)
            try kernel.madvise(pid: pid, addr: 0x4000_0000, length: 0x20_0000, advice: .hugepage)
            let result = kernel.access(pid: pid, va: 0x4000_0000, op: .write, value: 7)
            #expect(result.fault == .zero && result.value == 7)
            #expect(kernel.counters.hugePages == (nested ? 0 : 1), "nested \(nested)")
            #expect(kernel.counters.thpFaults == (nested ? 0 : 1), "nested \(nested)")
            #expect(kernel.checkInvariants().isEmpty)
        }
    }
}
