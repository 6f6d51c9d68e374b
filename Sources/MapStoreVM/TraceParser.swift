/// One access of a trace, packed small: the replayer's inner loop walks an array of these.
@frozen
public struct TraceAccess: Equatable, Sendable {
    /// The virtual address.
    public var va: UInt64
    /// The process (index in spawn/fork order).
    public var pid: Int32
    /// The trace line it came from.
    public var line: Int32
    /// Read, write or fetch.
    public var op: AccessKind
    /// The byte to write (writes only).
    public var value: UInt8

    /// An access.
    @inlinable
    public init(va: UInt64, pid: Int32, line: Int32, op: AccessKind, value: UInt8) {
        self.va = va
        self.pid = pid
        self.line = line
        self.op = op
        self.value = value
    }
}

/// A trace command other than an access. Processes and files are named by index, in the
/// order `spawn`/`fork` and `file` declared them.
public enum TraceCommand: Equatable, Sendable {
    /// `frames N` (nil: `frames unlimited`).
    case frames(Int?)
    /// `policy P`.
    case policy(ReplacementPolicy)
    /// `fault-around N`.
    case faultAround(Int)
    /// `pcid on|off` (an extension: whether CR3 switches keep TLB entries).
    case pcid(Bool)
    /// `caches on|off` (an extension: whether accesses and walk reads go through the caches).
    case caches(Bool)
    /// `file NAME SIZE`.
    case file(name: String, size: UInt64)
    /// `spawn NAME`.
    case spawn(name: String)
    /// `mmap P ADDR LEN PROT shared|private FILE [OFFSET]` or `... anon`.
    case mmap(pid: Int, addr: UInt64, length: UInt64, protection: Protection, shared: Bool, file: Int?, offset: UInt64)
    /// `munmap P ADDR LEN`.
    case munmap(pid: Int, addr: UInt64, length: UInt64)
    /// `mprotect P ADDR LEN PROT`.
    case mprotect(pid: Int, addr: UInt64, length: UInt64, protection: Protection)
    /// `msync P ADDR LEN`.
    case msync(pid: Int, addr: UInt64, length: UInt64)
    /// `madvise P ADDR LEN ADVICE`.
    case madvise(pid: Int, addr: UInt64, length: UInt64, advice: Advice)
    /// `fork P CHILD`.
    case fork(parent: Int, child: String)
    /// `ksm-scan`.
    case ksmScan
}

/// A non-access command, where it sits in the trace.
public struct TraceStep: Equatable, Sendable {
    /// Its line.
    public var line: Int
    /// How many accesses come before it.
    public var accessesBefore: Int
    /// The command.
    public var command: TraceCommand
}

/// A parsed trace: the preset, the commands, and the accesses between them.
public struct Trace: Sendable {
    /// The machine (`preset NAME`, default core-i7).
    public var preset: Preset = .coreI7
    /// Every non-access command, in order.
    public var steps: [TraceStep] = []
    /// Every access, in order.
    public var accesses: ContiguousArray<TraceAccess> = []
    /// Process names by pid.
    public var processNames: [String] = []
    /// File names by index.
    public var fileNames: [String] = []
    /// Whether the trace uses `policy opt` (the replayer then hands the kernel the future).
    public var usesOpt = false
    /// `nested on`: the processes run as a guest under EPT (issue 20).
    public var nested = false
}

/// A trace that does not parse: where, and why.
public struct TraceParseError: Error, Equatable, CustomStringConvertible {
    /// 1-based line.
    public var line: Int
    /// 1-based column of the offending token.
    public var column: Int
    /// What is wrong.
    public var message: String
    /// `line L, column C: message`.
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// Parses a decimal or `0x` hexadecimal number (`_` separators allowed).
public func parseTraceNumber(_ text: Substring) -> UInt64? {
    var digits = text.filter { $0 != "_" }[...]
    var radix: UInt64 = 10
    if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
        radix = 16
        digits = digits.dropFirst(2)
    }
    guard !digits.isEmpty else { return nil }
    return UInt64(digits, radix: Int(radix))
}

/// The trace language of docs/simulator.md: one command per line, `#` comments, numbers
/// decimal or 0x-hex. Parsing works on bytes so that a trace of millions of accesses loads
/// quickly; names of processes and files are checked here, so a replay never meets an
/// unknown one.
public struct TraceParser {
    private var trace = Trace()
    private var stateStarted = false
    private var processBytes: [[UInt8]] = []
    private var tokens: [(start: Int, end: Int)] = []

    /// A parser.
    public init() {}

    /// Parses a whole trace.
    public static func parse(_ text: String) throws(TraceParseError) -> Trace {
        try parse(bytes: Array(text.utf8))
    }

    /// Parses a whole trace from its bytes.
    public static func parse(bytes: [UInt8]) throws(TraceParseError) -> Trace {
        var parser = TraceParser()
        try bytes.withUnsafeBufferPointer { (buffer) throws(TraceParseError) in
            try parser.parseAll(buffer)
        }
        return parser.trace
    }

    private mutating func parseAll(_ bytes: UnsafeBufferPointer<UInt8>) throws(TraceParseError) {
        var lineStart = 0
        var lineNumber = 1
        let count = bytes.count
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            try parseLine(bytes, lineStart, lineEnd, lineNumber)
            lineStart = lineEnd + 1
            lineNumber += 1
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }

    /// One line: split into tokens, then an access (the fast path) or a command.
    private mutating func parseLine(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int,
                                    _ line: Int) throws(TraceParseError) {
        splitTokens(bytes, start, end)
        guard let first = tokens.first else { return }
        if first.end - first.start == 1, let op = Self.accessKind(bytes[first.start]) {
            try parseAccess(bytes, op, start, line)
            return
        }
        try parseCommand(TraceLine(bytes: bytes, tokens: tokens, start: start, end: end, number: line))
    }

    /// Fills `tokens` with the words of `bytes[start..<end]`, up to a `#` comment.
    @inline(__always)
    private mutating func splitTokens(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) {
        tokens.removeAll(keepingCapacity: true)
        var index = start
        while index < end {
            let byte = bytes[index]
            if byte == 0x23 { break }  // '#'
            if Self.isSpace(byte) { index += 1; continue }
            let tokenStart = index
            while index < end && !Self.isSpace(bytes[index]) && bytes[index] != 0x23 { index += 1 }
            tokens.append((tokenStart, index))
        }
    }

    /// A command other than an access, by its keyword. Every command but `preset` and `nested`
    /// ends the trace's preamble, so those two must come first.
    private mutating func parseCommand(_ line: TraceLine) throws(TraceParseError) {
        let keyword = line.text(0)
        if keyword != "preset" && keyword != "nested" { stateStarted = true }
        switch keyword {
        case "preset": try parsePreset(line)
        case "nested": try parseNested(line)
        case "frames": try parseFrames(line)
        case "policy": try parsePolicy(line)
        case "fault-around": try parseFaultAround(line)
        case "pcid": add(.pcid(try line.onOff(1, "pcid on|off")), line)
        case "caches": add(.caches(try line.onOff(1, "caches on|off")), line)
        case "file": try parseFile(line)
        case "spawn":
            try line.expectCount(2...2, "spawn NAME")
            add(.spawn(name: try newProcess(line, 1)), line)
        case "mmap": try parseMmap(line)
        case "munmap", "msync":
            try line.expectCount(4...4, "\(keyword) P ADDR LEN")
            let (pid, addr, length) = try alignedRange(line)
            add(keyword == "munmap" ? .munmap(pid: pid, addr: addr, length: length) : .msync(pid: pid, addr: addr, length: length), line)
        case "mprotect":
            try line.expectCount(5...5, "mprotect P ADDR LEN PROT")
            let (pid, addr, length) = try alignedRange(line)
            add(.mprotect(pid: pid, addr: addr, length: length, protection: try line.protection(4)), line)
        case "madvise": try parseMadvise(line)
        case "fork":
            try line.expectCount(3...3, "fork PARENT CHILD")
            let parent = try process(line, 1)
            add(.fork(parent: parent, child: try newProcess(line, 2)), line)
        case "ksm-scan":
            try line.expectCount(1...1, "ksm-scan")
            add(.ksmScan, line)
        default:
            throw line.fail(0, "unknown command '\(keyword)'")
        }
    }

    /// `preset NAME`, only before any other command.
    private mutating func parsePreset(_ line: TraceLine) throws(TraceParseError) {
        try line.expectCount(2...2, "preset core-i7|skylake|csapp-small")
        if stateStarted { throw line.fail(0, "preset must come before any other command") }
        guard let preset = Preset.named(line.text(1)) else {
            throw line.fail(1, "unknown preset '\(line.text(1))'; expected core-i7, skylake or csapp-small")
        }
        if trace.nested && !preset.supportsNestedPaging { throw Self.nestedUnsupported(line, 1) }
        trace.preset = preset
    }

    /// `nested on|off`, only before any command other than `preset`.
    private mutating func parseNested(_ line: TraceLine) throws(TraceParseError) {
        let on = try line.onOff(1, "nested on|off")
        if stateStarted { throw line.fail(0, "nested must come before any command other than preset") }
        if on && !trace.preset.supportsNestedPaging { throw Self.nestedUnsupported(line, 0) }
        trace.nested = on
    }

    private static func nestedUnsupported(_ line: TraceLine, _ token: Int) -> TraceParseError {
        line.fail(token, "nested paging needs a preset with 4 KiB pages and 4 levels (core-i7, skylake)")
    }

    /// `frames N|unlimited`.
    private mutating func parseFrames(_ line: TraceLine) throws(TraceParseError) {
        try line.expectCount(2...2, "frames N|unlimited")
        if line.text(1) == "unlimited" { return add(.frames(nil), line) }
        let frames = try line.number(1)
        if frames < 2 || frames > 1 << 40 { throw line.fail(1, "frames must be at least 2 (a COW fault holds two)") }
        add(.frames(Int(frames)), line)
    }

    /// `policy fifo|lru|clock|opt|random[:seed]`.
    private mutating func parsePolicy(_ line: TraceLine) throws(TraceParseError) {
        try line.expectCount(2...2, "policy fifo|lru|clock|opt|random[:seed]")
        guard let policy = ReplacementPolicy(trace: line.text(1)) else {
            throw line.fail(1, "unknown policy '\(line.text(1))'; expected fifo, lru, clock, opt or random[:seed]")
        }
        if policy == .opt { trace.usesOpt = true }
        add(.policy(policy), line)
    }

    /// `fault-around PAGES`.
    private mutating func parseFaultAround(_ line: TraceLine) throws(TraceParseError) {
        try line.expectCount(2...2, "fault-around PAGES")
        let pages = try line.number(1)
        if pages < 1 || pages > 1 << 20 { throw line.fail(1, "fault-around must be between 1 and 1048576 pages") }
        add(.faultAround(Int(pages)), line)
    }

    /// `file NAME SIZE`: a new file name and at least one byte.
    private mutating func parseFile(_ line: TraceLine) throws(TraceParseError) {
        try line.expectCount(3...3, "file NAME SIZE")
        let name = line.text(1)
        if trace.fileNames.contains(name) { throw line.fail(1, "file '\(name)' already declared") }
        let size = try line.number(2)
        if size == 0 { throw line.fail(2, "a file needs at least one byte") }
        trace.fileNames.append(name)
        add(.file(name: name, size: size), line)
    }

    /// `mmap P ADDR LEN PROT shared|private FILE [OFFSET]` or `... anon`.
    private mutating func parseMmap(_ line: TraceLine) throws(TraceParseError) {
        let usage = "mmap P ADDR LEN PROT shared|private FILE [OFFSET] | anon"
        try line.expectCount(6...8, usage)
        let (pid, addr, length) = try range(line)
        let prot = try line.protection(4)
        let shared: Bool
        switch line.text(5) {
        case "shared": shared = true
        case "private": shared = false
        default: throw line.fail(5, "expected shared or private, found '\(line.text(5))'")
        }
        try checkAligned(addr, line)
        guard line.tokens.count >= 7 else { throw line.fail(6, "missing argument; usage: \(usage)") }
        let backing = line.text(6)
        if backing == "anon" {
            try line.expectCount(7...7, usage)
            return add(.mmap(pid: pid, addr: addr, length: length, protection: prot, shared: shared, file: nil, offset: 0), line)
        }
        guard let file = trace.fileNames.firstIndex(of: backing) else {
            throw line.fail(6, "unknown file '\(backing)' (declare it with `file NAME SIZE`)")
        }
        let offset = line.tokens.count == 8 ? try line.number(7) : 0
        if offset % UInt64(trace.preset.pageSize) != 0 { throw line.fail(7, "file offset must be page aligned") }
        add(.mmap(pid: pid, addr: addr, length: length, protection: prot, shared: shared, file: file, offset: offset), line)
    }

    /// `madvise P ADDR LEN dontneed|willneed|mergeable|random|sequential|normal|hugepage|nohugepage`.
    private mutating func parseMadvise(_ line: TraceLine) throws(TraceParseError) {
        try line.expectCount(5...5, "madvise P ADDR LEN dontneed|willneed|mergeable|random|sequential|normal|hugepage|nohugepage")
        let (pid, addr, length) = try alignedRange(line)
        guard let advice = Advice(rawValue: line.text(4)) else {
            throw line.fail(4, "expected dontneed, willneed, mergeable, random, sequential, normal, hugepage or nohugepage, found '\(line.text(4))'")
        }
        add(.madvise(pid: pid, addr: addr, length: length, advice: advice), line)
    }

    /// Appends a command at this point of the trace.
    private mutating func add(_ command: TraceCommand, _ line: TraceLine) {
        trace.steps.append(TraceStep(line: line.number, accessesBefore: trace.accesses.count, command: command))
    }

    /// The pid of the process named by `token`, which must have been spawned or forked.
    private func process(_ line: TraceLine, _ token: Int) throws(TraceParseError) -> Int {
        let name = Array(line.bytes[line.tokens[token].start..<line.tokens[token].end])
        guard let pid = processBytes.firstIndex(of: name) else {
            throw line.fail(token, "unknown process '\(line.text(token))' (spawn it first)")
        }
        return pid
    }

    /// Declares the process named by `token` (spawn, fork's child); its name must be new.
    private mutating func newProcess(_ line: TraceLine, _ token: Int) throws(TraceParseError) -> String {
        let name = line.text(token)
        if processBytes.contains(Array(name.utf8)) { throw line.fail(token, "process '\(name)' already exists") }
        processBytes.append(Array(name.utf8))
        trace.processNames.append(name)
        return name
    }

    /// `P ADDR LEN` in tokens 1 to 3: a known process, an address and a length above 0.
    private func range(_ line: TraceLine) throws(TraceParseError) -> (Int, UInt64, UInt64) {
        let pid = try process(line, 1)
        let addr = try line.number(2)
        let length = try line.number(3)
        if length == 0 { throw line.fail(3, "length must be greater than 0") }
        return (pid, addr, length)
    }

    /// ``range(_:)`` whose address is page aligned (munmap, msync, mprotect, madvise).
    private func alignedRange(_ line: TraceLine) throws(TraceParseError) -> (Int, UInt64, UInt64) {
        let (pid, addr, length) = try range(line)
        try checkAligned(addr, line)
        return (pid, addr, length)
    }

    /// Refuses an address (token 2) that is not page aligned.
    private func checkAligned(_ addr: UInt64, _ line: TraceLine) throws(TraceParseError) {
        if addr % UInt64(trace.preset.pageSize) != 0 {
            throw line.fail(2, "address must be page aligned (\(trace.preset.pageSize) bytes)")
        }
    }

    private static func accessKind(_ byte: UInt8) -> AccessKind? {
        switch byte {
        case UInt8(ascii: "r"): .read
        case UInt8(ascii: "w"): .write
        case UInt8(ascii: "x"): .fetch
        default: nil
        }
    }

    private mutating func parseAccess(_ bytes: UnsafeBufferPointer<UInt8>, _ op: AccessKind, _ start: Int,
                                      _ line: Int) throws(TraceParseError) {
        let maxTokens = op == .write ? 4 : 3
        func fail(_ token: Int, _ message: String) -> TraceParseError {
            let column = token < tokens.count ? tokens[token].start - start + 1 : (tokens.last.map { $0.end - start + 1 } ?? 1)
            return TraceParseError(line: line, column: column, message: message)
        }
        if tokens.count < 3 || tokens.count > maxTokens {
            let usage = op == .write ? "w P ADDR [BYTE]" : "\(op.traceName) P ADDR"
            if tokens.count < 3 { throw fail(tokens.count, "missing argument; usage: \(usage)") }
            throw fail(maxTokens, "unexpected argument; usage: \(usage)")
        }
        stateStarted = true
        let nameToken = tokens[1]
        var pid = -1
        for (index, name) in processBytes.enumerated() where name.count == nameToken.end - nameToken.start {
            var same = true
            for offset in 0..<name.count where name[offset] != bytes[nameToken.start + offset] { same = false; break }
            if same { pid = index; break }
        }
        guard pid >= 0 else { throw fail(1, "unknown process '\(text(bytes, 1))' (spawn it first)") }
        guard let va = Self.number(bytes, tokens[2]) else {
            throw fail(2, "expected an address (decimal or 0x-hex), found '\(text(bytes, 2))'")
        }
        var value: UInt8 = 1
        if tokens.count == 4 {
            guard let byte = Self.number(bytes, tokens[3]), byte <= 255 else {
                throw fail(3, "expected a byte 0...255, found '\(text(bytes, 3))'")
            }
            value = UInt8(byte)
        }
        trace.accesses.append(TraceAccess(va: va, pid: Int32(pid), line: Int32(truncatingIfNeeded: line), op: op, value: value))
    }

    private func text(_ bytes: UnsafeBufferPointer<UInt8>, _ token: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[tokens[token].start..<tokens[token].end]), as: UTF8.self)
    }

    /// Parses a number straight from bytes: decimal or 0x-hex, `_` allowed, no overflow.
    fileprivate static func number(_ bytes: UnsafeBufferPointer<UInt8>, _ token: (start: Int, end: Int)) -> UInt64? {
        var index = token.start
        var radix: UInt64 = 10
        if token.end - index > 2 && bytes[index] == UInt8(ascii: "0") && (bytes[index + 1] | 0x20) == UInt8(ascii: "x") {
            radix = 16
            index += 2
        }
        var value: UInt64 = 0
        var digits = 0
        while index < token.end {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "_") { continue }
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            let (times, overflow1) = value.multipliedReportingOverflow(by: radix)
            let (sum, overflow2) = times.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = sum
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}

/// A command line of a trace as the parser reads it: its bytes and tokens, and where it
/// stands, so that an error names its line and column.
private struct TraceLine {
    let bytes: UnsafeBufferPointer<UInt8>
    let tokens: [(start: Int, end: Int)]
    /// Where the line starts and ends in `bytes`.
    let start: Int
    let end: Int
    /// The 1-based line number.
    let number: Int

    /// The text of token `token`.
    func text(_ token: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[tokens[token].start..<tokens[token].end]), as: UTF8.self)
    }

    /// An error at token `token` (or just past the line's end when there is no such token).
    func fail(_ token: Int, _ message: String) -> TraceParseError {
        TraceParseError(line: number, column: token < tokens.count ? tokens[token].start - start + 1 : end - start + 1,
                        message: message)
    }

    /// Refuses too few or too many tokens (the keyword counts as one).
    func expectCount(_ range: ClosedRange<Int>, _ usage: String) throws(TraceParseError) {
        if tokens.count < range.lowerBound { throw fail(tokens.count, "missing argument; usage: \(usage)") }
        if tokens.count > range.upperBound { throw fail(range.upperBound, "unexpected argument; usage: \(usage)") }
    }

    /// Token `token` as a number, decimal or 0x-hex.
    func number(_ token: Int) throws(TraceParseError) -> UInt64 {
        guard let value = TraceParser.number(bytes, tokens[token]) else {
            throw fail(token, "expected a number (decimal or 0x-hex), found '\(text(token))'")
        }
        return value
    }

    /// The line `KEYWORD on|off`: whether token `token` says on.
    func onOff(_ token: Int, _ usage: String) throws(TraceParseError) -> Bool {
        try expectCount(token + 1...token + 1, usage)
        switch text(token) {
        case "on": return true
        case "off": return false
        default: throw fail(token, "expected on or off")
        }
    }

    /// Token `token` as a protection.
    func protection(_ token: Int) throws(TraceParseError) -> Protection {
        guard let value = Protection(trace: text(token)) else {
            throw fail(token, "expected a protection r|rw|rx|rwx|none, found '\(text(token))'")
        }
        return value
    }
}
