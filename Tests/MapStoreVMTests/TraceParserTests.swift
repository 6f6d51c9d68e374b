import Testing
@testable import MapStoreVM

@Suite struct SimulationTraceParserTests {
    @Test func parsesEveryCommand() throws {
        let trace = try TraceParser.parse("""
            preset skylake   # a comment
            frames 64
            policy random:0x2a
            fault-around 8
            pcid off
            file data.bin 65536
            spawn A
            mmap A 0x7f0000000000 0x10000 rw shared data.bin 0x1000
            mmap A 0x10000 4096 rx private anon
            munmap A 0x10000 4096
            mprotect A 0x7f0000000000 0x1000 r
            r A 0x7f0000000000
            w A 0x7f0000000001 255
            x A 65536
            msync A 0x7f0000000000 0x1000
            madvise A 0x7f0000000000 0x1000 dontneed
            fork A B
            ksm-scan

            """)
        #expect(trace.preset == .skylake)
        #expect(trace.accesses == [
            TraceAccess(va: 0x7f00_0000_0000, pid: 0, line: 12, op: .read, value: 1),
            TraceAccess(va: 0x7f00_0000_0001, pid: 0, line: 13, op: .write, value: 255),
            TraceAccess(va: 65536, pid: 0, line: 14, op: .fetch, value: 1),
        ])
        #expect(trace.steps.map(\.command) == [
            .frames(64), .policy(.random(seed: 42)), .faultAround(8), .pcid(false), .file(name: "data.bin", size: 65536),
            .spawn(name: "A"),
            .mmap(pid: 0, addr: 0x7f00_0000_0000, length: 0x10000, protection: [.read, .write], shared: true, file: 0, offset: 0x1000),
            .mmap(pid: 0, addr: 0x10000, length: 4096, protection: [.read, .exec], shared: false, file: nil, offset: 0),
            .munmap(pid: 0, addr: 0x10000, length: 4096),
            .mprotect(pid: 0, addr: 0x7f00_0000_0000, length: 0x1000, protection: [.read]),
            .msync(pid: 0, addr: 0x7f00_0000_0000, length: 0x1000),
            .madvise(pid: 0, addr: 0x7f00_0000_0000, length: 0x1000, advice: .dontneed),
            .fork(parent: 0, child: "B"), .ksmScan,
        ])
        #expect(trace.steps[10].accessesBefore == 3)
        #expect(trace.processNames == ["A", "B"])
    }

    @Test(arguments: [
        ("spawn A\nr A 0xzz", 2, 5, "expected an address"),
        ("spawn A\n  bogus 1", 2, 3, "unknown command 'bogus'"),
        ("r B 0x1000", 1, 3, "unknown process 'B'"),
        ("spawn A\nw A 0x1000 256", 2, 12, "expected a byte"),
        ("spawn A\nmmap A 0x1001 0x1000 rw private anon", 2, 8, "page aligned"),
        ("spawn A\nmmap A 0x1000 0x1000 rwz private anon", 2, 22, "protection"),
        ("spawn A\nmmap A 0x1000 0x1000 rw private nofile 0", 2, 33, "unknown file 'nofile'"),
        ("spawn A\npreset core-i7", 2, 1, "before any other command"),
        ("policy best", 1, 8, "unknown policy"),
        ("frames 1", 1, 8, "at least 2"),
        ("spawn A\nr A", 2, 4, "missing argument"),
        ("spawn A\nr A 0x1000 7", 2, 12, "unexpected argument"),
        ("spawn A\nspawn A", 2, 7, "already exists"),
        ("nested on\npreset csapp-small", 2, 8, "4 KiB pages and 4 levels"),
        ("preset csapp-small\nnested on", 2, 1, "4 KiB pages and 4 levels"),
        ("spawn A\nnested on", 2, 1, "before any command other than preset"),
        ("nested maybe", 1, 8, "expected on or off"),
        ("caches sometimes", 1, 8, "expected on or off"),
    ])
    func errorsNameLineAndColumn(text: String, line: Int, column: Int, message: String) {
        do {
            _ = try TraceParser.parse(text)
            Issue.record("expected a parse error")
        } catch {
            #expect(error.line == line)
            #expect(error.column == column)
            #expect(error.message.contains(message), "\(error)")
        }
    }

    @Test func outputFormats() throws {
        let access = TraceAccess(va: 0x7f00_0000_0010, pid: 0, line: 5, op: .write, value: 7)
        let result = AccessResult(op: .write, va: 0x7f00_0000_0010, pa: 0x1010, tlbHit: false, fault: .zero, value: 7)
        var served = result
        served.cache = .l2
        #expect(TraceOutput.jsonRow(access, served, process: "A").hasSuffix(#""value":7,"cache":"L2"}"#))
        #expect(TraceOutput.tableRow(access, served, process: "A").hasSuffix("7      L2"))
        #expect(TraceOutput.jsonRow(access, result, process: "A")
                == #"{"line":5,"op":"w","pid":"A","va":"0x7f0000000010","pa":"0x1010","tlb":"miss","fault":"zero","value":7,"cache":null}"#)
        let segv = AccessResult(op: .read, va: 0x10, pa: nil, tlbHit: false, fault: .segv, value: nil)
        #expect(TraceOutput.jsonRow(access, segv, process: "A").contains(#""pa":null,"tlb":"miss","fault":"segv","value":null"#))
        let summary = TraceOutput.jsonSummary(Counters())
        #expect(summary.hasPrefix(#"{"summary":{"accesses":0,"#))
        #expect(TraceOutput.tableRow(access, result, process: "A").contains("zero"))
    }
}
