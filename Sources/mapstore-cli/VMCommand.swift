import ArgumentParser
import MapStore
import MapStoreVM

#if canImport(Glibc)
import Glibc
#endif

/// `mapstore vm`: the virtual-memory model (translate an address, replay a trace).
struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "The virtual-memory model: Core i7 page tables and TLBs under a Linux-style kernel.",
        subcommands: [Translate.self, Replay.self, Compare.self, ShadowPeerCommand.self]
    )

    /// `mapstore vm translate ADDR [--preset P] [--physical] [--json]`.
    struct Translate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Split a virtual address into VPN fields, VPO, and the L1 TLB index and tag; or, with --physical, a physical address into each cache level's tag, set and offset."
        )

        @Argument(help: "The address, decimal or 0x-hex.")
        var address: String

        @Option(help: "core-i7 (default), skylake or csapp-small.")
        var preset: String = "core-i7"

        @Flag(help: "The address is physical: split it for every cache level (CT, CI, CO).")
        var physical = false

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            guard let machine = Preset.named(preset) else {
                throw CommandExit(status: 2, message: "mapstore vm translate: unknown preset '\(preset)' (core-i7, skylake, csapp-small)")
            }
            guard let value = parseTraceNumber(Substring(address)) else {
                throw CommandExit(status: 2, message: "mapstore vm translate: '\(address)' is not a number")
            }
            let bits = physical ? machine.physicalBits : machine.virtualBits
            guard bits == 64 || value >> UInt64(bits) == 0 else {
                throw CommandExit(status: 2, message: "mapstore vm translate: \(address) does not fit in \(bits) bits")
            }
            var out = Output()
            for line in physical ? physicalLines(value, machine) : virtualLines(value, machine) { try out.write(line + "\n") }
            try out.flush()
        }

        /// What `vm translate` prints for a virtual address, line by line.
        private func virtualLines(_ va: UInt64, _ machine: Preset) -> [String] {
            var lines: [String] = []
            let split = machine.split(va)
            let hex = TraceOutput.hex
            let l1 = machine.caches.levels[0]
            let fromOffset = machine.l1SetFromOffset
            let l1Set = l1.split(va).set  // only the VPO's bits when `fromOffset`
            if json {
                lines.append("{\"va\":\"\(hex(va))\",\"preset\":\"\(machine.name)\",\"vpn\":[\(split.vpnFields.map { String($0) }.joined(separator: ","))],"
                      + "\"vpo\":\(split.vpo),\"tlbIndex\":\(split.tlbIndex),\"tlbTag\":\(split.tlbTag),"
                      + "\"l1SetFromOffset\":\(fromOffset)\(fromOffset ? ",\"l1Set\":\(l1Set)" : "")}")
                return lines
            }
            lines.append("address  \(hex(va))  (\(machine.name): \(machine.virtualBits)-bit VA, \(machine.pageSize)-byte pages, \(machine.levels) level\(machine.levels == 1 ? "" : "s") of \(machine.bitsPerLevel) bits)")
            lines.append("VPN      \(hex(split.vpn))")
            for (level, field) in split.vpnFields.enumerated() {
                lines.append("VPN\(level + 1)     \(hex(field))  (\(field))")
            }
            lines.append("VPO      \(hex(split.vpo))  (\(split.vpo))")
            let tlb = machine.tlbs[0]
            lines.append("TLBI     \(hex(split.tlbIndex))  (L1 TLB: \(tlb.sets) sets of \(tlb.ways) ways)")
            lines.append("TLBT     \(hex(split.tlbTag))")
            let width = l1.offsetBits + l1.indexBits
            if fromOffset {
                lines.append("L1 CI    \(hex(l1Set))  (\(l1Set)): known before translation, CI + CO = \(width) bits fit in the \(machine.pageShift)-bit VPO")
            } else {
                lines.append("L1 CI    unknown until translation: CI + CO = \(width) bits exceed the \(machine.pageShift)-bit VPO")
            }
            return lines
        }

        /// What `vm translate --physical` prints, line by line.
        private func physicalLines(_ pa: UInt64, _ machine: Preset) -> [String] {
            var lines: [String] = []
            let splits = machine.cacheSplit(pa)
            let hex = TraceOutput.hex
            if json {
                let levels = splits.map { "{\"level\":\"\($0.level)\",\"tag\":\($0.tag),\"set\":\($0.set),\"offset\":\($0.offset)}" }
                lines.append("{\"pa\":\"\(hex(pa))\",\"preset\":\"\(machine.name)\",\"caches\":[\(levels.joined(separator: ","))]}")
                return lines
            }
            lines.append("address  \(hex(pa))  (\(machine.name): \(machine.physicalBits)-bit PA, \(machine.caches.levels[0].lineBytes)-byte lines)")
            for (split, level) in zip(splits, machine.caches.levels) {
                lines.append("\(split.level)  CT \(hex(split.tag))  CI \(hex(split.set)) (\(split.set))  CO \(hex(split.offset)) (\(split.offset))"
                      + "  (\(level.bytes >> 10 > 0 ? "\(level.bytes >> 10) KiB" : "\(level.bytes) B"), \(level.sets) sets of \(level.ways) way\(level.ways == 1 ? "" : "s"))")
            }
            return lines
        }
    }

    /// `mapstore vm replay TRACE|- [--json] [--stats-only]`.
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay a trace: one line per access, then a summary of every counter."
        )

        @Argument(help: "The trace file, or - for standard input.", completion: .file())
        var trace: String

        @Flag(help: "One JSON object per line.")
        var json = false

        @Flag(help: "Print only the summary (and the replay speed on stderr).")
        var statsOnly = false

        func run() throws {
            let bytes = try readInput(trace)
            let parsed: Trace
            do {
                parsed = try TraceParser.parse(bytes: bytes)
            } catch {
                throw CommandExit(status: 2, message: "mapstore vm replay: \(trace): \(error)")
            }
            let replayer = TraceReplayer(trace: parsed)
            var out = OutputBuffer()
            let start = monotonicSeconds()
            do {
                if statsOnly {
                    try replayer.run()
                } else {
                    let nested = parsed.nested
                    if !json { out.line(TraceOutput.tableHeader(nested: nested)) }
                    let names = parsed.processNames
                    try replayer.run { access, result in
                        let name = names[Int(access.pid)]
                        out.line(json ? TraceOutput.jsonRow(access, result, process: name, nested: nested)
                                      : TraceOutput.tableRow(access, result, process: name, nested: nested))
                    }
                }
            } catch {
                try? out.flush()
                throw CommandExit(status: 2, message: "mapstore vm replay: \(trace): \(error)")
            }
            let elapsed = monotonicSeconds() - start
            let counters = replayer.kernel.counters
            if json {
                out.line(TraceOutput.jsonSummary(counters))
            } else {
                for line in TraceOutput.summaryLines(counters) { out.line(line) }
            }
            try out.flush()
            if statsOnly {
                let rate = elapsed > 0 ? Double(counters.accesses) / elapsed : 0
                let message = "replayed \(counters.accesses) accesses in \(String(format3(elapsed))) s: \(Int(rate)) accesses/s\n"
                _ = message.withCString { write(2, $0, strlen($0)) }
            }
        }
    }
}

/// Reads a whole file, or standard input for "-"; an I/O failure exits 3.
private func readInput(_ path: String) throws -> [UInt8] {
    let fd = path == "-" ? 0 : open(path, O_RDONLY)
    guard fd >= 0 else {
        throw CommandExit(status: 3, message: "mapstore vm replay: cannot open \(path): \(String(cString: strerror(errno)))")
    }
    defer { if fd != 0 { close(fd) } }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw CommandExit(status: 3, message: "mapstore vm replay: cannot read \(path): \(String(cString: strerror(errno)))")
        }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}

/// Collects output lines for stdout, written in large blocks through ``Output``. The
/// replayer's callback cannot throw, so the first failed write is kept (and the lines after
/// it dropped) until ``flush()`` throws it: a replay into a full disk or a closed pipe exits 3.
private struct OutputBuffer {
    private var output = Output()
    private var failure: (any Error)?

    mutating func line(_ text: String) {
        guard failure == nil else { return }
        do {
            try output.write(text)
            try output.write(CollectionOfOne(0x0A))
        } catch {
            failure = error
        }
    }

    mutating func flush() throws {
        if let failure { throw failure }
        try output.flush()
    }
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

private func format3(_ value: Double) -> String {
    let millis = Int((value * 1000).rounded())
    let fraction = String(millis % 1000)
    return "\(millis / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}
