/// A trace command that the kernel refused while replaying (for example an mmap past the
/// end of the address space): where, and why.
public struct TraceReplayError: Error, Equatable, CustomStringConvertible {
    /// 1-based line.
    public var line: Int
    /// What is wrong.
    public var message: String
    /// `line L: message`.
    public var description: String { "line \(line): \(message)" }
}

/// Replays a parsed trace against a fresh ``Kernel``.
///
/// The inner loop walks the packed access array and calls ``Kernel/access(pid:va:op:value:)``;
/// it allocates nothing per access. A segv or protection fault is reported as the access's
/// result and the replay goes on.
public final class TraceReplayer {
    /// The trace.
    public let trace: Trace
    /// The kernel the trace runs on.
    public let kernel: Kernel
    private var fileIDs: [Int] = []

    /// A replayer for `trace`, on a kernel with the trace's preset.
    public init(trace: Trace) {
        self.trace = trace
        kernel = Kernel(preset: trace.preset, nested: trace.nested)
        if trace.usesOpt { kernel.future = trace.accesses }
    }

    /// Runs the whole trace, calling `onAccess` with every access and its result.
    public func run(onAccess: (TraceAccess, AccessResult) -> Void) throws(TraceReplayError) {
        try run(report: true, onAccess)
    }

    /// Runs the whole trace without reporting accesses (`--stats-only`, benchmarks).
    public func run() throws(TraceReplayError) {
        try run(report: false) { _, _ in }
    }

    private func run(report: Bool, _ onAccess: (TraceAccess, AccessResult) -> Void) throws(TraceReplayError) {
        var next = 0
        for step in trace.steps {
            try replayAccesses(from: next, to: step.accessesBefore, report: report, onAccess)
            next = step.accessesBefore
            do {
                try apply(step.command)
            } catch {
                throw TraceReplayError(line: step.line, message: "\(error)")
            }
        }
        try replayAccesses(from: next, to: trace.accesses.count, report: report, onAccess)
    }

    private func replayAccesses(from: Int, to: Int, report: Bool,
                                _ onAccess: (TraceAccess, AccessResult) -> Void) throws(TraceReplayError) {
        guard from < to else { return }
        let kernel = self.kernel
        let opt = trace.usesOpt
        try trace.accesses.withUnsafeBufferPointer { (accesses) throws(TraceReplayError) in
            for index in from..<to {
                let access = accesses[index]
                if Int(access.pid) >= kernel.processes.count {
                    throw TraceReplayError(line: Int(access.line), message: "process \(trace.processNames[Int(access.pid)]) does not exist yet")
                }
                if opt { kernel.futureIndex = index }
                let result = kernel.access(pid: Int(access.pid), va: access.va, op: access.op, value: access.value)
                if report { onAccess(access, result) }
            }
        }
    }

    private func apply(_ command: TraceCommand) throws(VMError) {
        switch command {
        case .frames(let frames): kernel.frameLimit = frames
        case .policy(let policy): kernel.policy = policy
        case .faultAround(let pages): kernel.faultAround = pages
        case .pcid(let on): kernel.pcid = on
        case .caches(let on): kernel.mmu.cachesEnabled = on
        case .file(let name, let size): fileIDs.append(kernel.addFile(name: name, size: size))
        case .spawn(let name): try kernel.spawn(name: name)
        case let .mmap(pid, addr, length, protection, shared, file, offset):
            try kernel.mmap(pid: pid, addr: addr, length: length, protection: protection, shared: shared,
                            file: file.map { fileIDs[$0] }, offset: offset)
        case let .munmap(pid, addr, length): try kernel.munmap(pid: pid, addr: addr, length: length)
        case let .mprotect(pid, addr, length, protection):
            try kernel.mprotect(pid: pid, addr: addr, length: length, protection: protection)
        case let .msync(pid, addr, length): try kernel.msync(pid: pid, addr: addr, length: length)
        case let .madvise(pid, addr, length, advice): try kernel.madvise(pid: pid, addr: addr, length: length, advice: advice)
        case let .fork(parent, child): try kernel.fork(parent: parent, childName: child)
        case .ksmScan: kernel.ksmScan()
        }
    }
}

/// The replay output formats of docs/simulator.md: a line per access, then a summary.
public enum TraceOutput {
    /// The header of the human-readable access table.
    public static let tableHeader = tableHeader(nested: false)

    /// The header of the access table; under nested paging with a `GPA` column after `PA`.
    public static func tableHeader(nested: Bool) -> String {
        pad("LINE", 6, right: true) + "  OP  " + pad("PID", 6) + pad("VA", 20) + pad("PA", 16)
            + (nested ? pad("GPA", 16) : "") + pad("TLB", 6) + pad("FAULT", 12) + pad("VALUE", 7) + "CACHE"
    }

    /// One row of the human-readable access table (with `nested`, the guest-physical address
    /// after the host-physical one).
    public static func tableRow(_ access: TraceAccess, _ result: AccessResult, process: String, nested: Bool = false) -> String {
        pad(String(access.line), 6, right: true) + "  " + pad(access.op.traceName, 4) + pad(process, 6)
            + pad(hex(result.va), 20) + pad(result.pa.map(hex) ?? "-", 16)
            + (nested ? pad(result.gpa.map(hex) ?? "-", 16) : "") + pad(result.tlbHit ? "hit" : "miss", 6)
            + pad(result.fault.description, 12) + pad(result.value.map { String($0) } ?? "-", 7)
            + (result.cache?.description ?? "-")
    }

    /// One JSON object: `line`, `op`, `pid`, `va`, `pa`, `tlb`, `fault`, `value`, `cache`.
    /// Addresses are `0x` hex strings; `pa`, `value` and `cache` are null when the access was
    /// refused (`cache` also with the caches off). With `nested`, `gpa` (guest-physical) follows `pa`.
    public static func jsonRow(_ access: TraceAccess, _ result: AccessResult, process: String, nested: Bool = false) -> String {
        "{\"line\":\(access.line),\"op\":\"\(access.op.traceName)\",\"pid\":\(jsonString(process)),"
            + "\"va\":\"\(hex(result.va))\",\"pa\":\(result.pa.map { "\"\(hex($0))\"" } ?? "null"),"
            + (nested ? "\"gpa\":\(result.gpa.map { "\"\(hex($0))\"" } ?? "null")," : "")
            + "\"tlb\":\"\(result.tlbHit ? "hit" : "miss")\",\"fault\":\"\(result.fault)\","
            + "\"value\":\(result.value.map { String($0) } ?? "null"),"
            + "\"cache\":\(result.cache.map { "\"\($0)\"" } ?? "null")}"
    }

    /// The human-readable summary: one `name value` line per counter.
    public static func summaryLines(_ counters: Counters) -> [String] {
        ["summary"] + counters.fields.map { "  " + pad($0.name, 18) + String($0.value) }
    }

    /// The JSON summary: one object with key `summary`.
    public static func jsonSummary(_ counters: Counters) -> String {
        "{\"summary\":{" + counters.fields.map { "\"\($0.name)\":\($0.value)" }.joined(separator: ",") + "}}"
    }

    /// `0x` and lowercase hex.
    public static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill + (text.count >= width ? " " : "")
    }

    /// `text` as a JSON string literal, quoted and escaped (RFC 8259): `"` and `\`, the short
    /// forms `\n \r \t \b \f`, and `\u00XX` for the other control characters. The one
    /// escaper of the package: the shadow report and the `mapstore` command line use it too.
    public static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
