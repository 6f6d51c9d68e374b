/// The shape of one cache level: size, associativity, line size and hit latency.
public struct CacheGeometry: Equatable, Sendable {
    /// The level's name in output: `L1`, `L2`, `L3`.
    public var name: String
    /// Capacity in bytes.
    public var bytes: Int
    /// Ways per set (1: direct-mapped).
    public var ways: Int
    /// Bytes per line (block), a power of two.
    public var lineBytes: Int
    /// Cycles an access served by this level costs.
    public var latency: Int

    /// A level of `bytes` bytes, `ways`-way set associative, with `lineBytes`-byte lines;
    /// traps unless the number of sets is a power of two.
    public init(name: String, bytes: Int, ways: Int, lineBytes: Int, latency: Int) {
        precondition(lineBytes > 0 && lineBytes & (lineBytes - 1) == 0, "the line size must be a power of two")
        precondition(ways > 0 && bytes % (ways * lineBytes) == 0, "bytes must be a multiple of ways x line size")
        let sets = bytes / (ways * lineBytes)
        precondition(sets > 0 && sets & (sets - 1) == 0, "the number of sets must be a power of two")
        self.name = name
        self.bytes = bytes
        self.ways = ways
        self.lineBytes = lineBytes
        self.latency = latency
    }

    /// Number of sets (S).
    @inlinable public var sets: Int { bytes / (ways * lineBytes) }
    /// Block-offset bits (b): the width of CO.
    @inlinable public var offsetBits: Int { lineBytes.trailingZeroBitCount }
    /// Set-index bits (s): the width of CI.
    @inlinable public var indexBits: Int { sets.trailingZeroBitCount }

    /// CSAPP's split of a physical address for this level: tag (CT), set index (CI), offset (CO).
    public func split(_ pa: UInt64) -> CacheAddressSplit {
        CacheAddressSplit(level: name, tag: pa >> UInt64(offsetBits + indexBits),
                          set: (pa >> UInt64(offsetBits)) & UInt64(sets - 1), offset: pa & UInt64(lineBytes - 1))
    }
}

/// A physical address cut into one cache level's fields.
public struct CacheAddressSplit: Equatable, Sendable {
    /// The level (`L1`, `L2`, `L3`).
    public var level: String
    /// The cache tag (CT): the address bits above the set index.
    public var tag: UInt64
    /// The set index (CI).
    public var set: UInt64
    /// The block offset (CO).
    public var offset: UInt64
}

/// A preset's memory system behind the TLB: cache levels, L1 first, and memory's latency.
public struct CacheHierarchyGeometry: Equatable, Sendable {
    /// The levels, L1 first; at most three (the counters name L1, L2 and L3). All share one line size.
    public var levels: [CacheGeometry]
    /// Cycles an access that misses every level costs.
    public var memoryLatency: Int

    /// A hierarchy of `levels` (L1 first) in front of memory; traps on more than three levels
    /// or on levels whose line sizes differ.
    public init(levels: [CacheGeometry], memoryLatency: Int) {
        precondition(!levels.isEmpty && levels.count <= 3, "one to three cache levels")
        precondition(levels.allSatisfy { $0.lineBytes == levels[0].lineBytes }, "every level has the same line size")
        self.levels = levels
        self.memoryLatency = memoryLatency
    }

    /// The Core i7 of the lecture: L1 d-cache 32 KiB 8-way (4 cycles), L2 256 KiB 8-way (10),
    /// L3 8 MiB 16-way (40), 64-byte lines, memory 200 cycles.
    public static let coreI7 = CacheHierarchyGeometry(levels: [
        CacheGeometry(name: "L1", bytes: 32 << 10, ways: 8, lineBytes: 64, latency: 4),
        CacheGeometry(name: "L2", bytes: 256 << 10, ways: 8, lineBytes: 64, latency: 10),
        CacheGeometry(name: "L3", bytes: 8 << 20, ways: 16, lineBytes: 64, latency: 40),
    ], memoryLatency: 200)

    /// CSAPP 9.6.4's small cache: 16 sets, direct-mapped, 4-byte blocks, one level. The book gives
    /// no latencies; the model uses CSAPP 6.4's typical figures, 4 cycles for a hit, 200 for memory.
    public static let csappSmall = CacheHierarchyGeometry(levels: [
        CacheGeometry(name: "L1", bytes: 64, ways: 1, lineBytes: 4, latency: 4),
    ], memoryLatency: 200)
}

/// Which part of the memory system served an access.
public enum MemoryLevel: UInt8, Sendable, CustomStringConvertible {
    /// The L1 d-cache.
    case l1
    /// The L2 cache.
    case l2
    /// The L3 cache.
    case l3
    /// Main memory: every cache level missed.
    case memory

    /// The name in trace output: `L1`, `L2`, `L3`, `memory`.
    public var description: String {
        switch self {
        case .l1: "L1"
        case .l2: "L2"
        case .l3: "L3"
        case .memory: "memory"
        }
    }
}

/// The caches of one core (and the shared L3: all processes run on one core): physically
/// indexed and tagged, true-LRU sets, inclusive (every line of a level is also in every level
/// below it, so an eviction back-invalidates the levels above), write-back with write-allocate.
///
/// Tags only: a line records which memory block it holds and whether it is dirty; the bytes
/// stay in ``PhysicalMemory``. Every level's ways live in one flat buffer allocated once, so an
/// access never allocates. A set keeps its lines in order of use, most recent first, invalid
/// ways last: the LRU line is the last valid one, and a set of 8 one-word ways is one 64-byte
/// host cache line. Data accesses and page-walk reads are tallied apart.
public final class Caches {
    /// The geometry this hierarchy was built with.
    public let geometry: CacheHierarchyGeometry
    /// Number of cache levels.
    public let levelCount: Int
    @usableFromInline let lineShift: UInt64
    /// Per way of every level, level by level, set by set: `(line address << 2) | dirty << 1 | 1`,
    /// or 0 for an invalid way. Within a set: most recently used first, invalid ways last.
    @usableFromInline let ways: UnsafeMutablePointer<UInt64>
    /// Per level: where its ways start in ``ways``, its set mask and associativity.
    @usableFromInline let shapes: UnsafeMutablePointer<Shape>
    /// Per level, then memory: the latency in cycles.
    @usableFromInline let latencies: UnsafeMutablePointer<UInt64>
    /// The tallies, laid out as ``Tally`` says.
    @usableFromInline let tallies: UnsafeMutablePointer<UInt64>

    @usableFromInline static let valid: UInt64 = 1
    @usableFromInline static let dirty: UInt64 = 2

    /// Where one level sits in ``ways``.
    @usableFromInline
    struct Shape {
        @usableFromInline var base: Int
        @usableFromInline var setMask: UInt64
        @usableFromInline var ways: Int
    }

    /// Indices into ``tallies``: hits and misses per level for data (`level * 2`, `+ 1`) and for
    /// walk reads (`walkBase + level * 2`, `+ 1`), then cycles and write-backs.
    @usableFromInline
    enum Tally {
        @usableFromInline static let walkBase = 6
        @usableFromInline static let cycles = 12
        @usableFromInline static let writebacks = 13
        static let count = 14
    }

    /// Empty caches of the given shape.
    public init(_ geometry: CacheHierarchyGeometry) {
        self.geometry = geometry
        levelCount = geometry.levels.count
        lineShift = UInt64(geometry.levels[0].offsetBits)
        shapes = .allocate(capacity: levelCount)
        latencies = .allocate(capacity: levelCount + 1)
        var base = 0
        for (index, level) in geometry.levels.enumerated() {
            shapes[index] = Shape(base: base, setMask: UInt64(level.sets - 1), ways: level.ways)
            latencies[index] = UInt64(level.latency)
            base += level.sets * level.ways
        }
        latencies[levelCount] = UInt64(geometry.memoryLatency)
        ways = .allocate(capacity: base); ways.initialize(repeating: 0, count: base)
        tallies = .allocate(capacity: Tally.count); tallies.initialize(repeating: 0, count: Tally.count)
    }

    deinit {
        ways.deallocate(); shapes.deallocate(); latencies.deallocate(); tallies.deallocate()
    }

    /// One access to physical address `pa` (a data access, or with `walk` a page-walk read):
    /// looks the line up L1 first, fills every level that missed (write-allocate: a write fills
    /// too, and dirties the L1 copy) and returns the level that served it.
    @inlinable @inline(__always)
    @discardableResult
    public func access(pa: UInt64, write: Bool, walk: Bool) -> MemoryLevel {
        let line = pa >> lineShift
        let tally = walk ? Tally.walkBase : 0
        var served = levelCount
        for level in 0..<levelCount {
            let slot = find(level: level, line: line)
            if slot >= 0 {
                promote(level: level, slot: slot)
                tallies[tally &+ level &* 2] &+= 1
                served = level
                break
            }
            tallies[tally &+ level &* 2 &+ 1] &+= 1
        }
        // Outermost first, so that every level already holds the line when the one above fills.
        var level = served &- 1
        while level >= 0 {
            install(level: level, line: line)
            level &-= 1
        }
        // The line is now the most recent of its L1 set: the set's first way.
        if write { ways[setBase(level: 0, line: line)] |= Self.dirty }
        tallies[Tally.cycles] &+= latencies[served]
        return MemoryLevel(rawValue: UInt8(served == levelCount ? 3 : served))!
    }

    /// The first way of the set of `level` that `line` indexes.
    @inlinable @inline(__always)
    func setBase(level: Int, line: UInt64) -> Int {
        let shape = shapes[level]
        return shape.base &+ Int(line & shape.setMask) &* shape.ways
    }

    /// The way of `level` holding `line`, or -1. Does not touch the order of use.
    @inlinable @inline(__always)
    func find(level: Int, line: UInt64) -> Int {
        let base = setBase(level: level, line: line)
        for slot in base..<(base &+ shapes[level].ways) {
            let word = ways[slot]
            if word == 0 { break }  // invalid ways come last
            if word >> 2 == line { return slot }
        }
        return -1
    }

    /// Makes the line in `slot` the most recently used of its set.
    @inlinable @inline(__always)
    func promote(level: Int, slot: Int) {
        let base = slot &- (slot &- shapes[level].base) % shapes[level].ways
        let word = ways[slot]
        var index = slot
        while index > base {
            ways[index] = ways[index &- 1]
            index &-= 1
        }
        ways[base] = word
    }

    /// Puts `line` (which `level` lacks) first in its set; the set's least recently used line,
    /// if the set was full, is evicted.
    @usableFromInline
    func install(level: Int, line: UInt64) {
        let base = setBase(level: level, line: line)
        let last = base &+ shapes[level].ways &- 1
        if ways[last] != 0 { evict(level: level, word: ways[last]) }
        var index = last
        while index > base {
            ways[index] = ways[index &- 1]
            index &-= 1
        }
        ways[base] = (line << 2) | Self.valid
    }

    /// Evicts the line `word` of `level` (its slot is about to be reused): its copies in the
    /// levels above go too (inclusion), and if any copy was dirty the line is written to the
    /// level below, or to memory.
    func evict(level: Int, word: UInt64) {
        let line = word >> 2
        var wasDirty = word & Self.dirty != 0
        for upper in 0..<level {
            let copy = find(level: upper, line: line)
            if copy >= 0 {
                if ways[copy] & Self.dirty != 0 { wasDirty = true }
                remove(level: upper, slot: copy)
            }
        }
        guard wasDirty else { return }
        if level + 1 < levelCount {
            let below = find(level: level + 1, line: line)
            precondition(below >= 0, "inclusion broken: a line of L\(level + 1) is missing from L\(level + 2)")
            ways[below] |= Self.dirty
        } else {
            tallies[Tally.writebacks] += 1
        }
    }

    /// Invalidates `slot` of `level`, closing the gap so that invalid ways stay last.
    func remove(level: Int, slot: Int) {
        let end = slot - (slot - shapes[level].base) % shapes[level].ways + shapes[level].ways
        var index = slot
        while index + 1 < end {
            ways[index] = ways[index + 1]
            index += 1
        }
        ways[end - 1] = 0
    }

    // MARK: Inspection

    /// One valid line, for inspection and invariant checks.
    public struct Line: Equatable, Sendable {
        /// The physical address of the line's first byte.
        public var address: UInt64
        /// The set it lives in.
        public var set: Int
        /// Whether it is dirty (written since it came from the level below).
        public var dirty: Bool
    }

    /// Every valid line of `level` (0 is L1), by set.
    public func lines(level: Int) -> [Line] {
        let shape = shapes[level]
        let count = (Int(shape.setMask) + 1) * shape.ways
        return (shape.base..<(shape.base + count)).compactMap { slot in
            let word = ways[slot]
            guard word != 0 else { return nil }
            return Line(address: (word >> 2) << lineShift, set: (slot - shape.base) / shape.ways, dirty: word & Self.dirty != 0)
        }
    }

    /// The line of `level` holding physical address `pa`, or nil.
    public func line(level: Int, holding pa: UInt64) -> Line? {
        let slot = find(level: level, line: pa >> lineShift)
        guard slot >= 0 else { return nil }
        return Line(address: (pa >> lineShift) << lineShift, set: Int((pa >> lineShift) & shapes[level].setMask),
                    dirty: ways[slot] & Self.dirty != 0)
    }

    /// Hits and misses of `level` (0 is L1) for data accesses, or with `walk` for page-walk reads.
    public func tally(level: Int, walk: Bool) -> (hits: UInt64, misses: UInt64) {
        let base = (walk ? Tally.walkBase : 0) + level * 2
        return (tallies[base], tallies[base + 1])
    }

    /// Cycles spent: per access, the latency of the level that served it.
    public var cycles: UInt64 { tallies[Tally.cycles] }
    /// Dirty lines the last level wrote back to memory.
    public var writebacks: UInt64 { tallies[Tally.writebacks] }

    /// Writes the tallies into the cache counters of `counters`.
    func report(into counters: inout Counters) {
        let levels = (0..<3).map { $0 < levelCount ? tally(level: $0, walk: false) : (0, 0) }
        let walks = (0..<3).map { $0 < levelCount ? tally(level: $0, walk: true) : (0, 0) }
        (counters.l1dHits, counters.l1dMisses) = levels[0]
        (counters.l2Hits, counters.l2Misses) = levels[1]
        (counters.l3Hits, counters.l3Misses) = levels[2]
        (counters.walkL1dHits, counters.walkL1dMisses) = walks[0]
        (counters.walkL2Hits, counters.walkL2Misses) = walks[1]
        (counters.walkL3Hits, counters.walkL3Misses) = walks[2]
        counters.cacheWritebacks = writebacks
        counters.cycles = cycles
    }

    /// Every broken cache invariant: each level's lines are in the level below (inclusion), no
    /// line sits in a set its address does not index or twice in one set, and invalid ways
    /// come after the valid ones (the order of use).
    public func checkInvariants() -> [String] {
        var problems: [String] = []
        for level in 0..<levelCount {
            let name = geometry.levels[level].name
            let shape = shapes[level]
            for slot in shape.base..<(shape.base + (Int(shape.setMask) + 1) * shape.ways) where ways[slot] != 0 {
                let line = ways[slot] >> 2
                let address = "0x" + String(line << lineShift, radix: 16)
                let set = (slot - shape.base) / shape.ways
                if Int(line & shape.setMask) != set {
                    problems.append("\(name) holds line \(address) in set \(set)")
                }
                let setStart = shape.base + set * shape.ways
                if (setStart..<slot).contains(where: { ways[$0] == 0 }) {
                    problems.append("\(name) set \(set) has an invalid way before line \(address)")
                }
                if ((slot + 1)..<(setStart + shape.ways)).contains(where: { ways[$0] >> 2 == line && ways[$0] != 0 }) {
                    problems.append("\(name) holds line \(address) twice")
                }
                if level + 1 < levelCount && find(level: level + 1, line: line) < 0 {
                    problems.append("\(name) line \(address) is missing from \(geometry.levels[level + 1].name)")
                }
            }
        }
        return problems
    }
}
