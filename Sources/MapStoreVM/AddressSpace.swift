/// Page protection of a mapping (`PROT_READ`, `PROT_WRITE`, `PROT_EXEC`).
public struct Protection: OptionSet, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The raw bits.
    public var rawValue: UInt8
    /// Wraps raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// PROT_READ.
    public static let read = Protection(rawValue: 1)
    /// PROT_WRITE.
    public static let write = Protection(rawValue: 2)
    /// PROT_EXEC.
    public static let exec = Protection(rawValue: 4)
    /// PROT_NONE.
    public static let none: Protection = []

    /// Parses the trace spelling: `r`, `rw`, `rx`, `rwx` or `none`.
    public init?(trace text: String) {
        switch text {
        case "none": self = []
        case "r": self = [.read]
        case "rw": self = [.read, .write]
        case "rx": self = [.read, .exec]
        case "rwx": self = [.read, .write, .exec]
        default: return nil
        }
    }

    /// The trace spelling.
    public var description: String {
        if isEmpty { return "none" }
        return (contains(.read) ? "r" : "") + (contains(.write) ? "w" : "") + (contains(.exec) ? "x" : "")
    }
}

/// A virtual memory area: one `mmap`ed range of a process with one protection and backing.
public struct VMA: Equatable, Sendable {
    /// First byte (page aligned).
    public var start: UInt64
    /// One past the last byte (page aligned).
    public var end: UInt64
    /// Protection.
    public var protection: Protection
    /// MAP_SHARED (true) or MAP_PRIVATE (false).
    public var shared: Bool
    /// The backing file's id, or nil for anonymous memory. Shared anonymous memory is
    /// backed by a hidden zero-filled file (Linux's shmem), so it has an id too.
    public var fileID: Int?
    /// Byte offset in the file of `start` (page aligned).
    public var fileOffset: UInt64
    /// madvise(MADV_MERGEABLE) was applied: KSM may merge its anonymous pages.
    public var mergeable = false
    /// madvise(MADV_RANDOM) or (MADV_SEQUENTIAL) was applied, or nil.
    public var readAdvice: Advice? = nil
    /// madvise(MADV_HUGEPAGE) was applied (Linux's VM_HUGEPAGE): in `madvise` THP mode, the
    /// whole 2 MiB regions of private anonymous memory get huge pages.
    public var hugepage = false

    /// Whether `va` lies inside.
    @inlinable public func contains(_ va: UInt64) -> Bool { va >= start && va < end }

    /// The file page that backs virtual page `vpn`, for a file mapping.
    @inlinable public func filePage(vpn: UInt64, pageShift: Int) -> UInt64 {
        (fileOffset >> UInt64(pageShift)) + vpn - (start >> UInt64(pageShift))
    }

    /// Whether an access of kind `op` is allowed by the protection.
    @inlinable public func allows(_ op: AccessKind) -> Bool {
        switch op {
        case .read: protection.contains(.read)
        case .write: protection.contains(.write)
        case .fetch: protection.contains(.exec)
        }
    }

    /// Whether this is private anonymous memory.
    public var isPrivateAnonymous: Bool { fileID == nil && !shared }
}

/// The kind of a memory access.
public enum AccessKind: UInt8, Sendable {
    /// A data read (`r`).
    case read
    /// A data write (`w`).
    case write
    /// An instruction fetch (`x`).
    case fetch

    /// The trace spelling: `r`, `w`, `x`.
    public var traceName: String {
        switch self {
        case .read: "r"
        case .write: "w"
        case .fetch: "x"
        }
    }
}

/// A simulated process: its name, page-table root (CR3), PCID and VMAs.
public struct SimulatedProcess: Sendable {
    /// The trace's name for it (`A`, `B`, ...).
    public var name: String
    /// The PFN of the top-level page table.
    public var cr3: UInt64
    /// The address-space tag its TLB entries carry (PCID).
    public var asid: UInt16
    /// The VMAs, sorted by start address, never overlapping.
    public var vmas: [VMA] = []

    /// The index of the VMA containing `va`, or nil.
    public func vmaIndex(containing va: UInt64) -> Int? {
        var low = 0, high = vmas.count
        while low < high {
            let mid = (low + high) / 2
            if vmas[mid].end <= va { low = mid + 1 } else { high = mid }
        }
        return low < vmas.count && vmas[low].contains(va) ? low : nil
    }

    /// The VMA containing `va`, or nil.
    public func vma(containing va: UInt64) -> VMA? {
        vmaIndex(containing: va).map { vmas[$0] }
    }

    /// Joins neighbouring VMAs that differ only in their bounds (Linux's vma_merge): same
    /// protection, sharing, backing (file offsets continuing), KSM, read-hint and THP flags.
    mutating func mergeAdjacent(pageShift: Int) {
        var index = 0
        while index + 1 < vmas.count {
            let left = vmas[index], right = vmas[index + 1]
            var joined = left
            joined.end = right.end
            let continues = left.fileID == nil || right.fileOffset == left.fileOffset &+ (left.end &- left.start)
            if left.end == right.start && left.protection == right.protection && left.shared == right.shared
                && left.fileID == right.fileID && continues && left.mergeable == right.mergeable
                && left.readAdvice == right.readAdvice && left.hugepage == right.hugepage {
                vmas[index] = joined
                vmas.remove(at: index + 1)
            } else {
                index += 1
            }
        }
    }

    /// Cuts VMAs so that `start` and `end` are VMA boundaries, then returns the indices
    /// of the VMAs inside [`start`, `end`).
    mutating func split(at start: UInt64, _ end: UInt64, pageShift: Int) -> Range<Int> {
        for boundary in [start, end] {
            if let index = vmaIndex(containing: boundary), vmas[index].start != boundary {
                var left = vmas[index]
                var right = vmas[index]
                left.end = boundary
                right.start = boundary
                if right.fileID != nil { right.fileOffset += boundary - left.start }
                vmas[index] = left
                vmas.insert(right, at: index + 1)
            }
        }
        let first = vmas.firstIndex { $0.start >= start } ?? vmas.count
        var last = first
        while last < vmas.count && vmas[last].end <= end { last += 1 }
        return first..<last
    }
}
