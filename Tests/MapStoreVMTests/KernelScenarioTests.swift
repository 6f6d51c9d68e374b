import Testing
@testable import MapStoreVM

/// Each scenario is a trace in Tests/Fixtures/traces; the expected results are read off the
/// model's rules (lowest free PFN first from 1, PFN 0 the zero page, file byte i = i mod 251).
@Suite struct SimulationKernelScenarioTests {
    @Test func demandZero() throws {
        let (kernel, accesses) = try replay(try fixture("demand-zero.trace"))
        #expect(accesses.map(\.fault) == [.zero, .zero, .none, .zero, .segv, .none])
        #expect(accesses.map(\.pa) == [0x0, 0x1010, 0x1010, 0x2000, nil, 0x2000])
        #expect(accesses.map(\.value) == [0, 7, 7, 9, nil, 9])
        #expect(kernel.counters.framesInUse == 2)
    }

    @Test func sharedFileAtDifferentAddressesIsOneFrame() throws {
        let (kernel, accesses) = try replay(try fixture("shared-file.trace"))
        #expect(accesses.map(\.fault) == [.major, .minor, .major])
        #expect(accesses[0].pa == 0x1123 && accesses[1].pa == 0x1123)
        #expect(accesses[0].value == fileByte(0x2123) && accesses[1].value == fileByte(0x2123))
        #expect(accesses[2].pa == 0x2000)
        #expect(kernel.memory[1].mapCount == 2)
    }

    @Test func privateFileMappingCopiesOnWrite() throws {
        let (kernel, accesses) = try replay(try fixture("private-cow.trace"))
        #expect(accesses.map(\.fault) == [.major, .cow, .none, .minor])
        #expect(accesses.map(\.pa) == [0x1005, 0x2005, 0x2005, 0x1005])
        #expect(accesses.map(\.value) == [5, 200, 200, 5])
        #expect(kernel.memory[2].kind == .anonymous && kernel.memory[1].kind == .file)
        #expect(kernel.files[0].writtenPages.isEmpty, "a private write never reaches the file")
    }

    @Test func forkSharesPagesCopyOnWrite() throws {
        let (kernel, accesses) = try replay(try fixture("fork-cow.trace"))
        #expect(accesses.map(\.fault) == [.zero, .none, .cow, .minor, .none, .none])
        #expect(accesses.map(\.pa) == [0x1000, 0x1000, 0x2000, 0x1000, 0x1000, 0x2000])
        #expect(accesses.map(\.value) == [11, 11, 22, 33, 33, 22])
        #expect(kernel.counters.faultsCow == 1)
    }

    @Test func forkMarksPrivateWritablePagesReadOnlyInBoth() throws {
        let kernel = Kernel()
        let a = try kernel.spawn(name: "A")
        try kernel.mmap(pid: a, addr: 0x400000, length: 0x1000, protection: [.read, .write], shared: false, file: nil, offset: 0)
        _ = kernel.access(pid: a, va: 0x400000, op: .write)
        #expect(kernel.pte(pid: a, va: 0x400000).isWritable)
        let b = try kernel.fork(parent: a, childName: "B")
        #expect(!kernel.pte(pid: a, va: 0x400000).isWritable)
        #expect(!kernel.pte(pid: b, va: 0x400000).isWritable)
        #expect(kernel.pte(pid: b, va: 0x400000).ppn == 1)
        #expect(kernel.memory[1].mapCount == 2)
        #expect(kernel.checkInvariants() == [])
    }

    @Test func sharedAnonymousMemoryStaysSharedAcrossFork() throws {
        let (_, accesses) = try replay("""
            spawn A
            mmap A 0x800000 0x1000 rw shared anon
            w A 0x800000 5
            fork A B
            r B 0x800000
            w B 0x800000 6
            r A 0x800000
            """)
        #expect(accesses.map(\.fault) == [.zero, .minor, .minor, .none])
        #expect(accesses.map(\.value) == [5, 5, 6, 6])
        #expect(Set(accesses.map(\.pa)) == [0x1000])
    }

    @Test func writeNotifyAndMsync() throws {
        let (kernel, accesses) = try replay(try fixture("write-notify.trace"))
        #expect(accesses.map(\.fault) == [.major, .minor, .none, .minor])
        #expect(kernel.counters.writebacks == 1)
        #expect(kernel.files[0].writtenPages[0]?[0...1] == [42, 43])
        #expect(kernel.memory[1].dirty)
    }

    @Test func msyncWritesBackAndDataSurvivesEviction() throws {
        let (kernel, accesses) = try replay(try fixture("msync.trace"))
        #expect(accesses.allSatisfy { $0.fault == .major })
        #expect(accesses.map(\.value) == [42, fileByte(0x1000), fileByte(0x2000), 42, 7, fileByte(0x1000), fileByte(0x2000), 7])
        #expect(kernel.counters.writebacks == 2)
        #expect(kernel.counters.evictions == 6)
    }

    @Test func dontneedDropsThePrivateCopy() throws {
        let (kernel, accesses) = try replay(try fixture("dontneed.trace"))
        #expect(accesses.map(\.fault) == [.cow, .none, .minor])
        #expect(accesses.map(\.value) == [99, 99, 3])
        #expect(accesses.map(\.pa) == [0x2003, 0x2003, 0x1003])
        #expect(kernel.counters.framesInUse == 1)
    }

    @Test func ksmMergesAndBreaks() throws {
        let (kernel, accesses) = try replay(try fixture("ksm.trace"))
        #expect(kernel.counters.ksmMerges == 2)
        #expect(accesses.map(\.pa) == [0x1010, 0x2010, 0x3010, 0x4010, 0x1010, 0x1010, 0x2010, 0x1010])
        #expect(accesses.map(\.fault) == [.zero, .zero, .zero, .zero, .none, .none, .cow, .none])
        #expect(accesses.map(\.value) == [5, 5, 6, 5, 5, 5, 8, 5])
        #expect(kernel.memory[1].kind == .ksm)
        #expect(kernel.memory[1].mapCount == 2)
        #expect(!kernel.pte(pid: 0, va: 0x100010).isWritable)
    }

    @Test func ksmLeavesSharedAndUnmarkedPagesAlone() throws {
        let (kernel, _) = try replay("""
            file f 8192
            spawn A
            mmap A 0x100000 0x2000 rw private anon
            mmap A 0x200000 0x2000 rw shared f 0
            w A 0x100000 1
            w A 0x101000 1
            w A 0x200000 0
            ksm-scan
            """)
        #expect(kernel.counters.ksmMerges == 0)
    }

    @Test func swapOutAndIn() throws {
        let (kernel, accesses) = try replay(try fixture("swap.trace"))
        #expect(accesses.map(\.fault) == [.zero, .zero, .zero, .major, .major])
        #expect(accesses.map(\.value) == [1, 2, 3, 1, 2])
        #expect(accesses.map(\.pa) == [0x1000, 0x2000, 0x1000, 0x2000, 0x1000])
        let counters = kernel.counters
        #expect(counters.swapOuts == 3 && counters.swapIns == 2 && counters.evictions == 3)
        #expect(kernel.pte(pid: 0, va: 0x602000).swapSlot == 1)
    }

    @Test func swappedPageSharedByForkComesBackOnce() throws {
        let (kernel, accesses) = try replay("""
            frames 2
            spawn A
            mmap A 0x600000 0x3000 rw private anon
            w A 0x600000 1
            fork A B
            w A 0x601000 2
            w A 0x602000 3
            r B 0x600000
            r A 0x600000
            w A 0x600000 4
            r B 0x600000
            """)
        // Page 0 (shared by A and B) is swapped out once (one slot, two swap PTEs); B's read
        // brings it back (major), A's finds it in the swap cache (minor).
        #expect(accesses.map(\.fault) == [.zero, .zero, .zero, .major, .minor, .cow, .none])
        #expect(accesses.map(\.value) == [1, 2, 3, 1, 1, 4, 1])
        #expect(kernel.counters.swapIns == 1)
    }

    /// The window of docs/shadow.md: a mapping starting 15 pages past a 64 KiB boundary; a read of
    /// mapping page 20 maps the cached pages 17...32 (virtual pages 32...47 of the aligned
    /// 16-page window) for one counted fault.
    @Test func faultAroundMapsTheAlignedWindow() throws {
        let (kernel, accesses) = try replay("""
            file f 262144
            spawn A
            mmap A 0x1000f000 0x40000 r shared f 0
            madvise A 0x1000f000 0x40000 willneed
            r A 0x10023000
            """)
        #expect(accesses.map(\.fault) == [.minor])
        let present = (0..<64).filter { kernel.pte(pid: 0, va: 0x1000f000 + UInt64($0) * 0x1000).isPresent }
        #expect(present == Array(17...32))
        #expect(kernel.counters.resolvedFaults == 1)
    }

    @Test func faultAroundOneIsOff() throws {
        let (kernel, _) = try replay("""
            fault-around 1
            file f 65536
            spawn A
            mmap A 0x10000000 0x10000 r shared f 0
            madvise A 0x10000000 0x10000 willneed
            r A 0x10000000
            """)
        #expect((0..<16).filter { kernel.pte(pid: 0, va: 0x10000000 + UInt64($0) * 0x1000).isPresent } == [0])
    }

    @Test func segvAndProtectionAreReportedAndReplayGoesOn() throws {
        let (kernel, accesses) = try replay("""
            file f 4096
            spawn A
            mmap A 0x10000 0x2000 r private anon
            mmap A 0x20000 0x2000 rx private f 0
            w A 0x10000
            x A 0x10000
            r A 0x90000
            x A 0x20010
            r A 0x21000
            r A 0x10000
            """)
        #expect(accesses.map(\.fault) == [.protection, .protection, .segv, .major, .segv, .zero])
        #expect(accesses[3].value == 16)
        #expect(kernel.counters.faultsProtection == 2 && kernel.counters.faultsSegv == 2)
    }

    @Test func munmapFreesAnonymousFramesAndKeepsThePageCache() throws {
        let (kernel, accesses) = try replay("""
            file f 4096
            spawn A
            mmap A 0x10000 0x1000 rw private anon
            mmap A 0x20000 0x1000 rw shared f 0
            w A 0x10000 1
            w A 0x20000 2
            munmap A 0x10000 0x11000
            r A 0x10000
            mmap A 0x30000 0x1000 r shared f 0
            r A 0x30000
            """)
        #expect(accesses.map(\.fault) == [.zero, .major, .segv, .minor])
        #expect(accesses[3].value == 2)
        #expect(kernel.counters.framesInUse == 1)
        #expect(kernel.memory[2].dirty, "the D bit moved to the page when its PTE was zapped")
    }

    @Test func loweringTheFrameLimitEvictsAtOnce() throws {
        let (kernel, accesses) = try replay("""
            spawn A
            mmap A 0x100000 0x8000 rw private anon
            w A 0x100000 1
            w A 0x101000 2
            w A 0x102000 3
            w A 0x103000 4
            frames 2
            r A 0x100000
            """)
        #expect(kernel.counters.swapOuts >= 2)
        #expect(accesses.last?.fault == .major && accesses.last?.value == 1)
        #expect(kernel.counters.framesInUse <= 2)
    }

    /// Skylake's STLB (1536 entries) holds a working set of 100 pages that the 64-entry L1 cannot.
    @Test func skylakeSTLBCatchesL1Misses() throws {
        var lines = ["preset skylake", "spawn A", "mmap A 0x10000000 0x64000 rw private anon"]
        for round in 0..<3 {
            for page in 0..<100 { lines.append("\(round == 0 ? "w" : "r") A 0x\(String(0x1000_0000 + page * 0x1000, radix: 16))") }
        }
        let (kernel, _) = try replay(lines.joined(separator: "\n"))
        let counters = kernel.counters
        #expect(counters.tlbL2Hits == 200, "rounds 2 and 3 miss the L1 (LRU, cyclic) and hit the STLB")
        #expect(counters.walks == 200, "round 1: a walk before and after each demand-zero fault")
        // Four reads per walk, except the very first: its PML4 entry is not present yet, so it stops
        // after one read.
        #expect(counters.walkReads == 4 * counters.walks - 3)
    }
}

extension SimulationKernelScenarioTests {
    /// csapp-small has 64 physical frames (12-bit PA, 64-byte pages): PFN 63 holds the page
    /// table, so without any `frames` limit, 256 written pages must go through swap.
    @Test func csappSmallRunsOutOfPhysicalMemory() throws {
        var lines = ["preset csapp-small", "spawn A", "mmap A 0x0 0x4000 rw private anon"]
        for page in 0..<256 { lines.append("w A 0x\(String(page * 64 + 5, radix: 16)) \(page % 256)") }
        for page in 0..<256 { lines.append("r A 0x\(String(page * 64 + 5, radix: 16))") }
        let (kernel, accesses) = try replay(lines.joined(separator: "\n"))
        #expect(kernel.memory.lowestTablePFN == 63)
        #expect(kernel.counters.framesPeak == 62, "PFN 1...62: PFN 0 is the zero page, 63 the page table")
        #expect(kernel.counters.swapOuts > 0)
        #expect(accesses.suffix(256).map(\.value) == (0..<256).map { UInt8($0) })
        #expect(accesses.allSatisfy { ($0.pa ?? 0) < 1 << 12 }, "every PA fits in 12 bits")
    }
}

extension SimulationKernelScenarioTests {
    /// What the kernel refuses, as the stable cases of its own error (not the store's).
    @Test func refusedCallsThrowVMError() throws {
        let kernel = Kernel(preset: .coreI7)
        let pid = try kernel.spawn(name: "A")
        #expect(throws: VMError.unalignedAddress(call: "mmap", address: 0x1001)) {
            try kernel.mmap(pid: pid, addr: 0x1001, length: 0x1000, protection: [.read], shared: false, file: nil, offset: 0)
        }
        #expect(throws: VMError.emptyRange(call: "munmap")) { try kernel.munmap(pid: pid, addr: 0x1000, length: 0) }
        #expect(throws: VMError.pastUserSpace(call: "mprotect")) {
            try kernel.mprotect(pid: pid, addr: (1 << 47) - 0x1000, length: 0x2000, protection: [.read])
        }
        let file = kernel.addFile(name: "f", size: 0x4000)
        #expect(throws: VMError.unalignedFileOffset(offset: 0x800)) {
            try kernel.mmap(pid: pid, addr: 0x1000, length: 0x1000, protection: [.read], shared: true, file: file, offset: 0x800)
        }
        #expect(VMError.unalignedAddress(call: "mmap", address: 0x1001).description == "mmap: address 0x1001 is not page aligned")
        #expect(VMError.tooManyProcesses(limit: 4095).code == "tooManyProcesses")
    }

    /// A replay names the line of a command the kernel refused, with the error's description.
    @Test func replayReportsARefusedCommandWithItsLine() throws {
        let trace = try TraceParser.parse("spawn A\nmmap A 0x7ffffffff000 0x2000 rw private anon\n")
        #expect(throws: TraceReplayError(line: 2, message: "mmap: range ends past the user address space")) {
            try TraceReplayer(trace: trace).run()
        }
    }
}
