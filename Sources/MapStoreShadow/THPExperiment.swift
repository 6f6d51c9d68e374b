import MapStoreVM

#if canImport(Glibc)
import Glibc
#endif

/// The `thp` workload of `mapstore vm compare` (docs/shadow.md): transparent huge pages on
/// real memory against the VM model's, page by page. It needs no database.
///
/// One anonymous private mapping of five 2 MiB regions and a 16-page tail, aligned on 2 MiB
/// and advised MADV_HUGEPAGE, gets the same ``steps`` in this process and in the model (a
/// ``Kernel`` with the mapping at the same virtual address): a write to region 0 (a huge
/// page), a read of region 1 (the huge zero page), a read then a write in region 2 (the
/// huge zero page, then a huge page), a write to region 3 then an mprotect of one of its
/// pages (a split), a write to region 4 then a munmap of one of its pages (a split), a
/// write to the tail (not a whole region: a 4 KiB page). Then ``KernelProbe`` reads pagemap,
/// kpageflags and smaps for the mapping, and ``THPReport`` compares.
///
/// Fault counts are the calling thread's (`RUSAGE_THREAD`) over the steps only.
public struct THPExperiment {
    /// The name `vm compare --workload` knows it by.
    public static let workload = "thp"

    /// One thing the workload does, at a page index of the mapping.
    public enum Step: Equatable, Sendable {
        /// A one-byte write at the start of the page.
        case write(page: Int)
        /// A one-byte read at the start of the page.
        case read(page: Int)
        /// mprotect(PROT_READ) of `count` pages.
        case protectReadOnly(page: Int, count: Int)
        /// munmap of `count` pages.
        case unmap(page: Int, count: Int)
    }

    /// Base pages in a 2 MiB region.
    public static let regionPages = 512
    /// Whole 2 MiB regions in the mapping.
    public static let regions = 5
    /// Pages past the last whole region: never a huge page.
    public static let tailPages = 16
    /// Pages in the mapping.
    public static var pages: Int { regions * regionPages + tailPages }

    /// What the workload does, in order (see the type's description).
    public static let steps: [Step] = [
        .write(page: 0),
        .read(page: 512),
        .read(page: 1024), .write(page: 1029),
        .write(page: 1536), .protectReadOnly(page: 1552, count: 1),
        .write(page: 2048), .unmap(page: 2148, count: 1),
        .write(page: 2560),
        .read(page: 1000),
    ]

    /// An experiment.
    public init() {}

    /// Runs the steps on real memory, predicts them in the model, and compares. Throws when
    /// the mapping cannot be made (mmap fails).
    public func run() throws -> THPReport {
        let pageSize = 4096
        let length = Self.pages * pageSize
        let huge = Self.regionPages * pageSize
        guard let reservation = mmap(nil, length + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              reservation != MAP_FAILED else {
            throw THPExperimentError(message: "mmap of \(length + huge) bytes failed: \(String(cString: strerror(errno)))")
        }
        // Keep the 2 MiB-aligned part of the reservation, give the rest back.
        let start = UInt(bitPattern: reservation)
        let base = (start + UInt(huge) - 1) / UInt(huge) * UInt(huge)
        if base > start { munmap(reservation, Int(base - start)) }
        let end = start + UInt(length + huge), mappedEnd = base + UInt(length)
        if end > mappedEnd { munmap(UnsafeMutableRawPointer(bitPattern: mappedEnd), Int(end - mappedEnd)) }
        defer { munmap(UnsafeMutableRawPointer(bitPattern: base), length) }
        let memory = UnsafeMutableRawPointer(bitPattern: base)!
        var notes = Self.settingsNotes()
        if madvise(memory, length, MADV_HUGEPAGE) != 0 {
            notes.append("madvise(MADV_HUGEPAGE) failed: \(String(cString: strerror(errno)))")
        }
        if KernelProbe.addressSanitizerIsLoaded {
            notes.append("AddressSanitizer is loaded: its shadow-memory reads add faults of their own")
        }

        // Before the window: the steps are read (a static's first use allocates, which can
        // fault), and each kind of step runs once on scratch memory, so that the first
        // execution of its code (a text page mapped in) and of its syscall's symbol binding
        // do not fault inside the window.
        let steps = Self.steps
        if let scratch = mmap(nil, 4 * pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), scratch != MAP_FAILED {
            var warm: UInt8 = 0
            for step in [Step.write(page: 0), .read(page: 0), .protectReadOnly(page: 1, count: 1), .unmap(page: 2, count: 1)] {
                warm &+= Self.perform(step, on: scratch, pageSize: pageSize)
            }
            munmap(scratch, 4 * pageSize)
            KernelProbe.keep(warm)
        }
        var sink: UInt8 = 0
        let before = KernelProbe.faults()
        for step in steps { sink &+= Self.perform(step, on: memory, pageSize: pageSize) }
        let after = KernelProbe.faults()
        KernelProbe.keep(sink)

        let (observed, probeNotes) = KernelProbe.observe(base: base, count: Self.pages, pageSize: pageSize)
        let smaps = KernelProbe.smaps(base: base, length: length)
        let prediction = try Self.predict(base: UInt64(base))
        return THPReport(predicted: prediction.pages, observed: observed,
                         predictedFaults: prediction.faults, observedFaults: after.minor - before.minor + after.major - before.major,
                         predictedAnonHugeKiB: prediction.anonHugeKiB, smaps: smaps, notes: notes + probeNotes, base: base)
    }

    /// Does `step` on real memory at `memory`; returns the byte a read read (0 otherwise).
    private static func perform(_ step: Step, on memory: UnsafeMutableRawPointer, pageSize: Int) -> UInt8 {
        switch step {
        case let .write(page): memory.storeBytes(of: 1, toByteOffset: page * pageSize, as: UInt8.self)
        case let .read(page): return memory.load(fromByteOffset: page * pageSize, as: UInt8.self)
        case let .protectReadOnly(page, count): mprotect(memory + page * pageSize, count * pageSize, PROT_READ)
        case let .unmap(page, count): munmap(memory + page * pageSize, count * pageSize)
        }
        return 0
    }

    /// The model's prediction for the mapping at `base`: per page, the faults the steps
    /// take, and the KiB mapped by 2 MiB entries.
    public static func predict(base: UInt64) throws -> (pages: [THPReport.Page], faults: Int, anonHugeKiB: Int) {
        let kernel = Kernel(preset: .coreI7)
        let pid = try kernel.spawn(name: "thp")
        let pageSize: UInt64 = 4096
        let length = UInt64(pages) * pageSize
        try kernel.mmap(pid: pid, addr: base, length: length, protection: [.read, .write], shared: false, file: nil, offset: 0)
        try kernel.madvise(pid: pid, addr: base, length: length, advice: .hugepage)
        for step in steps {
            switch step {
            case let .write(page): _ = kernel.access(pid: pid, va: base + UInt64(page) * pageSize, op: .write)
            case let .read(page): _ = kernel.access(pid: pid, va: base + UInt64(page) * pageSize, op: .read)
            case let .protectReadOnly(page, count):
                try kernel.mprotect(pid: pid, addr: base + UInt64(page) * pageSize, length: UInt64(count) * pageSize, protection: [.read])
            case let .unmap(page, count):
                try kernel.munmap(pid: pid, addr: base + UInt64(page) * pageSize, length: UInt64(count) * pageSize)
            }
        }
        let predicted = (0..<UInt64(pages)).map { page -> THPReport.Page in
            let pte = kernel.readPTE(pid: pid, vpn: base / pageSize + page)
            guard pte.isPresent else { return THPReport.Page() }
            let hugeZero = kernel.memory.isHugeZero(pte.ppn)
            // pagemap sets bit 61 (file or shared) for the huge zero page, not the 4 KiB one.
            return THPReport.Page(present: true, anonymous: !hugeZero, thp: kernel.memory.hugeFolio(containing: pte.ppn) != nil,
                                  zeroPage: hugeZero || pte.ppn == 0, pfn: pte.ppn)
        }
        let counters = kernel.counters
        return (predicted, Int(counters.resolvedFaults), Int(counters.hugePages) * regionPages * Int(pageSize) / 1024)
    }

    /// The THP settings of this kernel, as notes (the model assumes `madvise` mode with the
    /// huge zero page on).
    static func settingsNotes() -> [String] {
        let directory = "/sys/kernel/mm/transparent_hugepage/"
        var notes: [String] = []
        for name in ["enabled", "defrag", "use_zero_page"] {
            guard let file = fopen(directory + name, "r") else {
                notes.append("\(directory)\(name) unreadable: the kernel may have no THP")
                continue
            }
            defer { fclose(file) }
            var line = [CChar](repeating: 0, count: 256)
            guard fgets(&line, Int32(line.count), file) != nil else { continue }
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.split(separator: "\n").first.map(String.init) ?? ""
            notes.append("transparent_hugepage/\(name): \(text)")
        }
        return notes
    }
}

/// The `thp` workload could not set up its mapping.
public struct THPExperimentError: Error, CustomStringConvertible {
    /// What failed.
    public var message: String
    /// The message.
    public var description: String { message }
}
