import MapStore
import MapStoreTestSupport
import MapStoreVM
import Testing
@testable import MapStoreShadow

/// The kernel behaviours shadow mode taught the model (measured on Linux 6.18, docs/shadow.md).
@Suite struct ShadowModelTests {
    let base: UInt64 = 0x7f00_0000_0000

    /// A kernel with a 64-page file, every page cached, pages 16..<32 one large folio.
    func kernel(shared: Bool) throws -> (Kernel, Int) {
        let kernel = Kernel()
        let file = kernel.addFile(name: "data", size: 64 * 4096)
        for page in 0..<64 { kernel.cachePage(file: file, page: UInt64(page)) }
        kernel.setLargeFolio(file: file, pages: 16..<32)
        let pid = try kernel.spawn(name: "A")
        try kernel.mmap(pid: pid, addr: base, length: 64 * 4096, protection: [.read, .write], shared: shared, file: file, offset: 0)
        return (kernel, pid)
    }

    func present(_ kernel: Kernel, _ pid: Int) -> [Int] {
        (0..<64).filter { kernel.pte(pid: pid, va: base + UInt64($0) * 4096).isPresent }
    }

    @Test func readFaultMapsTheWindowAndWholeLargeFolios() throws {
        let (kernel, pid) = try kernel(shared: true)
        #expect(kernel.access(pid: pid, va: base + 3 * 4096, op: .read).fault == .minor)
        #expect(present(kernel, pid) == Array(0..<16))
        #expect(kernel.access(pid: pid, va: base + 20 * 4096, op: .read).fault == .minor)
        #expect(present(kernel, pid) == Array(0..<32))
    }

    @Test func writeFaultOnAnUnmappedPageMapsItsWholeFolioWritable() throws {
        let (kernel, pid) = try kernel(shared: true)
        #expect(kernel.access(pid: pid, va: base + 17 * 4096, op: .write).fault == .minor)
        #expect(present(kernel, pid) == Array(16..<32))
        #expect(kernel.access(pid: pid, va: base + 18 * 4096, op: .write).fault == .none)
        // A single-page folio: only the page.
        #expect(kernel.access(pid: pid, va: base + 40 * 4096, op: .write).fault == .minor)
        #expect(present(kernel, pid) == Array(16..<32) + [40])
    }

    @Test func msyncCleansAWholeFolioAndWriteProtectsIt() throws {
        let (kernel, pid) = try kernel(shared: true)
        _ = kernel.access(pid: pid, va: base + 17 * 4096, op: .write)
        let pfn = kernel.files[0].cache[20]!
        #expect(kernel.isDirty(pfn), "dirtying one page dirties its folio")
        try kernel.msync(pid: pid, addr: base + 17 * 4096, length: 4096)
        #expect(!kernel.isDirty(pfn))
        #expect(kernel.access(pid: pid, va: base + 20 * 4096, op: .write).fault == .minor, "write-notify again")
        #expect(kernel.access(pid: pid, va: base + 21 * 4096, op: .write).fault == .minor, "per page")
    }

    @Test func aPMDSizedFolioIsWriteNotifiedOnce() throws {
        let kernel = Kernel()
        let file = kernel.addFile(name: "data", size: 1024 * 4096)
        for page in 0..<1024 { kernel.cachePage(file: file, page: UInt64(page)) }
        kernel.setLargeFolio(file: file, pages: 0..<512)
        let pid = try kernel.spawn(name: "A")
        let base: UInt64 = 0x7f00_0000_0000  // 2 MiB aligned
        try kernel.mmap(pid: pid, addr: base, length: 1024 * 4096, protection: [.read, .write], shared: true, file: file, offset: 0)
        #expect(kernel.access(pid: pid, va: base + 5 * 4096, op: .read).fault == .minor)
        #expect(kernel.access(pid: pid, va: base + 6 * 4096, op: .write).fault == .minor)
        #expect(kernel.access(pid: pid, va: base + 300 * 4096, op: .write).fault == .none, "one PMD: all of it is writable now")
        try kernel.msync(pid: pid, addr: base, length: 512 * 4096)
        #expect(kernel.access(pid: pid, va: base + 9 * 4096, op: .write).fault == .minor)
        #expect(kernel.access(pid: pid, va: base + 10 * 4096, op: .write).fault == .none)
    }

    @Test func pwriteDirtiesAndFdatasyncCleans() throws {
        let (kernel, pid) = try kernel(shared: false)
        _ = kernel.access(pid: pid, va: base + 2 * 4096, op: .read)
        kernel.pwrite(file: 0, page: 2)
        let pfn = kernel.files[0].cache[2]!
        #expect(kernel.isDirty(pfn))
        #expect(kernel.pte(pid: pid, va: base + 2 * 4096).isPresent, "pwrite leaves the mapping alone")
        kernel.fdatasync(file: 0)
        #expect(!kernel.isDirty(pfn))
        #expect(kernel.counters.faultsMajor == 0)
    }

    @Test func madviseRandomSplitsTheVMAAndClipsFaultAround() throws {
        let (kernel, pid) = try kernel(shared: true)
        try kernel.madvise(pid: pid, addr: base, length: 6 * 4096, advice: .random)
        #expect(kernel.processes[pid].vmas.count == 2)
        #expect(kernel.processes[pid].vmas[0].readAdvice == .random)
        _ = kernel.access(pid: pid, va: base + 2 * 4096, op: .read)
        #expect(present(kernel, pid) == Array(0..<6))
    }

    @Test func dontNeedOnAPrivateCopyDropsIt() throws {
        let (kernel, pid) = try kernel(shared: false)
        #expect(kernel.access(pid: pid, va: base + 5 * 4096, op: .write, value: 9).fault == .cow)
        try kernel.madvise(pid: pid, addr: base + 5 * 4096, length: 4096, advice: .dontneed)
        let read = kernel.access(pid: pid, va: base + 5 * 4096, op: .read)
        #expect(read.value == UInt8((5 * 4096) % 251))
        #expect(kernel.memory[kernel.pte(pid: pid, va: base + 5 * 4096).ppn].kind == .file)
    }
}

/// The recorder and the comparison, without the kernel.
@Suite struct ShadowRecorderTests {
    @Test func recordsWhatTheStoreTouches() throws {
        let dir = TemporaryDirectory()
        let recorder = ShadowRecorder(capacity: 1024)
        var options = Options.testing(.readOnly, durability: .full)
        options.shadowRecorder = recorder
        let db = try Database(path: dir.file(), options: options)
        try db.write { txn in try txn.put("a", "1") }
        _ = try db.read { try $0.get("a") }
        let events = recorder.events
        guard case let .mapped(_, length, fileBytes, pageSize, mode)? = events.first else {
            Issue.record("first event is not the mapping: \(events.prefix(2))")
            return
        }
        #expect(length == 1 << 30 && fileBytes == 2 * pageSize && mode == .readOnly)
        #expect(events.contains(.advised(.automatic, from: 0, bytes: fileBytes)))
        #expect(events.contains(.read(first: 0, count: 2)), "a reader looks at both meta pages")
        #expect(events.contains { if case .store = $0 { true } else { false } }, "a .readOnly commit pwrites")
        #expect(events.contains(.fileSync))
        #expect(!events.contains { if case .write = $0 { true } else { false } }, "a .readOnly map is never written")
    }

    @Test func largeFolioDivergencesAreNotMismatches() {
        let predicted = [PredictedPage(), PredictedPage(present: true), PredictedPage(), PredictedPage()]
        let observed = [ObservedPage(), ObservedPage(present: true, fileBacked: true, exclusive: true, dirty: false, largeFolio: false),
                        ObservedPage(present: true, fileBacked: true, exclusive: true, dirty: false, largeFolio: true),
                        ObservedPage(present: true, fileBacked: true, exclusive: true, dirty: false, largeFolio: false)]
        let report = ShadowReport(workload: "t", mode: .readOnly, predicted: predicted, observed: observed,
                                  predictedFaults: (1, 0), observedFaults: (1, 0))
        #expect(report.outcomes == [.match, .match, .largeFolio, .mismatch])
        #expect(report.compared == 3 && report.matching == 2)
        #expect(abs(report.agreement - 2.0 / 3.0) < 1e-9)
        #expect(report.present.mismatches == 1 && report.largeFolioDivergences == 1)
        #expect(report.svg.hasPrefix("<svg") && report.svg.contains("#d0021b"))
    }
}
