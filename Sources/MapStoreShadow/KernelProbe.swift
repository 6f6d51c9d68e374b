#if canImport(Glibc)
import Glibc
import Synchronization
#endif

/// What the kernel says about one page of a mapping.
public struct ObservedPage: Sendable, Equatable {
    /// `/proc/self/pagemap` bit 63: a PTE maps the page.
    public var present = false
    /// Bit 61: a page-cache (file) page or shared anonymous memory; false for a private
    /// anonymous page (a copy-on-write copy).
    public var fileBacked = false
    /// Bit 56: only this process maps the page.
    public var exclusive = false
    /// The physical frame (root only; 0 otherwise).
    public var pfn: UInt64 = 0
    /// `/proc/kpageflags` bit 4 (PG_dirty of the folio), or nil without root.
    public var dirty: Bool?
    /// `/proc/kpageflags` bits 15/16: the page is part of a large (compound) folio; nil without root.
    public var largeFolio: Bool?
    /// `/proc/kpageflags` bit 22 (THP) without bit 24: a page of a transparent huge page (or
    /// of another large rmappable folio); nil without root.
    public var thp: Bool?
    /// `/proc/kpageflags` bit 24 (ZERO_PAGE): the zero page or the huge zero page; nil without root.
    public var zeroPage: Bool?

    /// An observation with the given fields.
    public init(present: Bool = false, fileBacked: Bool = false, exclusive: Bool = false, pfn: UInt64 = 0,
                dirty: Bool? = nil, largeFolio: Bool? = nil, thp: Bool? = nil, zeroPage: Bool? = nil) {
        self.present = present
        self.fileBacked = fileBacked
        self.exclusive = exclusive
        self.pfn = pfn
        self.dirty = dirty
        self.largeFolio = largeFolio
        self.thp = thp
        self.zeroPage = zeroPage
    }

    /// Present and not file-backed: an anonymous page.
    public var anonymous: Bool { present && !fileBacked }
}

/// Sums of `/proc/self/smaps` over the VMAs of one mapping, in KiB.
public struct SmapsSummary: Sendable, Equatable {
    /// VMAs counted.
    public var vmas = 0
    /// Rss.
    public var rss = 0
    /// Shared_Clean + Shared_Dirty.
    public var shared = 0
    /// Private_Clean.
    public var privateClean = 0
    /// Private_Dirty.
    public var privateDirty = 0
    /// Anonymous.
    public var anonymous = 0
    /// Referenced.
    public var referenced = 0
    /// AnonHugePages: anonymous memory mapped by 2 MiB entries (the huge zero page not counted).
    public var anonHugePages = 0

    /// An empty summary.
    public init() {}
}

/// Reads what the real kernel did for a mapping of this process (docs/shadow.md).
///
/// Needs root for: PFNs in `/proc/self/pagemap` (without CAP_SYS_ADMIN they read as 0),
/// `/proc/kpageflags` (dirty and large-folio flags) and the large-folio layout of the page
/// cache. Without root, present / file-backed / exclusive, smaps, mincore and getrusage
/// still work; dirty is then not compared, and the report says so. Nothing here traps: a
/// file that cannot be read gives an empty answer and a note.
public enum KernelProbe {
    /// Where ``keep(_:)`` puts what it is given.
    private static let sink = Atomic<UInt>(0)

    /// Keeps the loads that made `value` from being removed as dead code: an experiment's
    /// reads are page touches the kernel must see, and an optimized build drops a load whose
    /// result nobody uses (`withExtendedLifetime` of a plain integer does not count as a use).
    /// A relaxed atomic add is a use no optimizer removes.
    static func keep<Value: FixedWidthInteger>(_ value: Value) {
        sink.add(UInt(truncatingIfNeeded: value), ordering: .relaxed)
    }

    /// `/proc/kpageflags` bits (include/uapi/linux/kernel-page-flags.h).
    static let kpfReferenced: UInt64 = 1 << 2, kpfDirty: UInt64 = 1 << 4, kpfAnon: UInt64 = 1 << 12,
               kpfCompoundHead: UInt64 = 1 << 15, kpfCompoundTail: UInt64 = 1 << 16,
               kpfTHP: UInt64 = 1 << 22, kpfZeroPage: UInt64 = 1 << 24

    /// Whether this process runs as root (effective uid 0).
    public static var isRoot: Bool { geteuid() == 0 }

    /// Whether AddressSanitizer runs in this process. Its checks read shadow memory beside
    /// every access, and the first read of a shadow page is a fault of its own, so fault
    /// counts taken under it are higher than the program's.
    public static var addressSanitizerIsLoaded: Bool { dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil }

    /// Minor and major page faults of the calling thread so far (`getrusage(RUSAGE_THREAD)`;
    /// the kernel charges a fault to the thread that took it).
    public static func faults() -> (minor: Int, major: Int) {
        var usage = rusage()
        // RUSAGE_THREAD is 1 on Linux; Glibc's Swift module leaves it out (it is _GNU_SOURCE only).
        let rusageThread: Int32 = 1
        guard getrusage(rusageThread, &usage) == 0 else { return (0, 0) }
        return (Int(usage.ru_minflt), Int(usage.ru_majflt))
    }

    /// The pagemap words of `count` pages from `base`, or nil (with the reason) when unreadable.
    static func pagemap(base: UInt, count: Int, pageSize: Int) -> ([UInt64]?, String?) {
        let fd = open("/proc/self/pagemap", O_RDONLY)
        guard fd >= 0 else { return (nil, "/proc/self/pagemap: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var words = [UInt64](repeating: 0, count: count)
        let want = count * 8
        let got = words.withUnsafeMutableBytes { buffer -> Int in
            var done = 0
            while done < want {
                let n = pread(fd, buffer.baseAddress! + done, want - done, off_t((Int(base) / pageSize) * 8 + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
            return done
        }
        guard got == want else { return (nil, "/proc/self/pagemap: short read (\(got) of \(want) bytes)") }
        return (words, nil)
    }

    /// The kpageflags word of each PFN (0 for PFN 0), or nil when `/proc/kpageflags` is unreadable.
    static func pageFlags(_ pfns: [UInt64]) -> [UInt64]? {
        let fd = open("/proc/kpageflags", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result = [UInt64](repeating: 0, count: pfns.count)
        for (index, pfn) in pfns.enumerated() where pfn != 0 {
            var word: UInt64 = 0
            let n = pread(fd, &word, 8, off_t(pfn * 8))
            if n != 8 { return nil }
            result[index] = word
        }
        return result
    }

    /// Observes `count` pages from `base`: pagemap bits, and (as root) kpageflags.
    /// Returns the pages and notes on what could not be read.
    public static func observe(base: UInt, count: Int, pageSize: Int) -> (pages: [ObservedPage], notes: [String]) {
        var notes: [String] = []
        let (words, problem) = pagemap(base: base, count: count, pageSize: pageSize)
        guard let words else {
            return ([ObservedPage](repeating: ObservedPage(), count: count), [problem ?? "pagemap unreadable"])
        }
        var pages = words.map { word in
            ObservedPage(present: word >> 63 & 1 == 1, fileBacked: word >> 61 & 1 == 1,
                         exclusive: word >> 56 & 1 == 1, pfn: word >> 63 & 1 == 1 ? word & ((1 << 55) - 1) : 0)
        }
        let anyPFN = pages.contains { $0.pfn != 0 }
        if !anyPFN && pages.contains(where: \.present) {
            notes.append("no PFNs in /proc/self/pagemap (not root): dirty and large folios not observed")
            return (pages, notes)
        }
        guard let flags = pageFlags(pages.map(\.pfn)) else {
            notes.append("/proc/kpageflags unreadable (needs root): dirty and large folios not observed")
            return (pages, notes)
        }
        for index in pages.indices where pages[index].present {
            let word = flags[index]
            pages[index].dirty = word & kpfDirty != 0
            pages[index].largeFolio = word & (kpfCompoundHead | kpfCompoundTail) != 0
            pages[index].zeroPage = word & kpfZeroPage != 0
            pages[index].thp = word & kpfTHP != 0 && word & kpfZeroPage == 0
        }
        return (pages, notes)
    }

    /// Which of `count` pages from `base` are resident (`mincore`): for a file mapping,
    /// whether the page is in the page cache, mapped here or not. Nil on failure.
    public static func resident(base: UInt, count: Int, pageSize: Int) -> [Bool]? {
        guard count > 0, let address = UnsafeMutableRawPointer(bitPattern: base) else { return [] }
        var vector = [UInt8](repeating: 0, count: count)
        let rc = vector.withUnsafeMutableBufferPointer { mincore(address, count * pageSize, $0.baseAddress!) }
        guard rc == 0 else { return nil }
        return vector.map { $0 & 1 == 1 }
    }

    /// The state of a file's page cache that the model needs as its starting point.
    public struct PageCacheState: Sendable, Equatable {
        /// Runs of file pages held in large folios.
        public var largeFolios: [Range<UInt64>] = []
        /// Cached pages that are dirty (written, not yet written back).
        public var dirtyPages: [UInt64] = []
    }

    /// The large folios and dirty pages of the page cache of the file open as `fd` (`pages`
    /// pages, of which `cached` are in the page cache). Maps the file a second time, touches
    /// the cached pages, reads their PFNs and kpageflags, and unmaps: run it before a
    /// measured window. Root only; nil (with no side effect) otherwise.
    public static func pageCache(fd: Int32, pages: Int, cached: [Bool], pageSize: Int) -> PageCacheState? {
        guard isRoot, pages > 0 else { return nil }
        let length = pages * pageSize
        guard let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else { return nil }
        defer { munmap(map, length) }
        // Touching a page marked PG_readahead would start async readahead that lands during
        // the measured window; MADV_RANDOM turns readahead off for this mapping.
        _ = madvise(map, length, MADV_RANDOM)
        var sink: UInt8 = 0
        for page in 0..<min(pages, cached.count) where cached[page] {
            sink &+= map.load(fromByteOffset: page * pageSize, as: UInt8.self)
        }
        keep(sink)
        let (words, _) = pagemap(base: UInt(bitPattern: map), count: pages, pageSize: pageSize)
        guard let words else { return nil }
        let pfns = words.map { $0 >> 63 & 1 == 1 ? $0 & ((1 << 55) - 1) : 0 }
        guard let flags = pageFlags(pfns) else { return nil }
        var folios: [Range<UInt64>] = []
        let dirty = (0..<pages).filter { pfns[$0] != 0 && flags[$0] & kpfDirty != 0 }.map { UInt64($0) }
        var page = 0
        while page < pages {
            guard pfns[page] != 0, flags[page] & kpfCompoundHead != 0 else { page += 1; continue }
            var end = page + 1
            while end < pages, pfns[end] == pfns[page] + UInt64(end - page), flags[end] & kpfCompoundTail != 0 { end += 1 }
            if end - page > 1 { folios.append(UInt64(page)..<UInt64(end)) }
            page = end
        }
        return PageCacheState(largeFolios: folios, dirtyPages: dirty)
    }

    /// Sums `/proc/self/smaps` over the VMAs that start inside [`base`, `base + length`).
    public static func smaps(base: UInt, length: Int) -> SmapsSummary? {
        guard let file = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(file) }
        var summary = SmapsSummary()
        var inside = false
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.contains("-"), !first.hasSuffix(":"), let dash = first.firstIndex(of: "-"),
               let start = UInt(first[..<dash], radix: 16) {
                inside = start >= base && start < base + UInt(length)
                if inside { summary.vmas += 1 }
                continue
            }
            guard inside, fields.count >= 2, let value = Int(fields[1]) else { continue }
            switch first {
            case "Rss:": summary.rss += value
            case "Shared_Clean:", "Shared_Dirty:": summary.shared += value
            case "Private_Clean:": summary.privateClean += value
            case "Private_Dirty:": summary.privateDirty += value
            case "Anonymous:": summary.anonymous += value
            case "Referenced:": summary.referenced += value
            case "AnonHugePages:": summary.anonHugePages += value
            default: break
            }
        }
        return summary
    }
}
