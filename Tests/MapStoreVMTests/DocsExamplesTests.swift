import Testing
@testable import MapStoreVM

/// docs/simulator.md shows replay output; these tests render the same traces and require
/// every row (and the header) to appear in the document verbatim, so the docs cannot drift.
@Suite struct SimulationDocsExamplesTests {
    static func rows(_ text: String) throws -> [String] {
        let trace = try TraceParser.parse(text)
        let replayer = TraceReplayer(trace: trace)
        var rows = [TraceOutput.tableHeader]
        try replayer.run { access, result in
            rows.append(TraceOutput.tableRow(access, result, process: trace.processNames[Int(access.pid)]))
        }
        rows.append(contentsOf: TraceOutput.summaryLines(replayer.kernel.counters).filter { $0.contains("faultsMajor") })
        return rows
    }

    @Test func forkExampleMatchesTheDocs() throws {
        let docs = try fixture("../../../docs/simulator.md")
        for row in try Self.rows(try fixture("fork-cow.trace")).dropLast() {
            #expect(docs.contains(row + "\n"), "docs/simulator.md lacks: \(row)")
        }
    }

    @Test func beladyExampleMatchesTheDocs() throws {
        let docs = try fixture("../../../docs/simulator.md")
        let text = try fixture("belady-fifo.trace").split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0 == "frames 3" ? "frames 4" : String($0) }.joined(separator: "\n")
        let rows = try Self.rows(text)
        #expect(rows.last == "  faultsMajor       10")
        for row in rows {
            #expect(docs.contains(row + "\n"), "docs/simulator.md lacks: \(row)")
        }
    }

    @Test func cachesExampleMatchesTheDocs() throws {
        let docs = try fixture("../../../docs/simulator.md")
        let trace = try TraceParser.parse(try fixture("caches.trace"))
        let replayer = TraceReplayer(trace: trace)
        var rows = [TraceOutput.tableHeader]
        try replayer.run { access, result in rows.append(TraceOutput.tableRow(access, result, process: "A")) }
        let summary = TraceOutput.summaryLines(replayer.kernel.counters)
        let cacheLines = summary.drop { !$0.contains("l1dHits") }.prefix { !$0.contains("eptWalks") }
        #expect(cacheLines.count == 14)
        #expect(cacheLines.last == "  cycles            1444")
        for row in rows + [summary.first { $0.contains("walkReads") } ?? "walkReads"] {
            #expect(docs.contains(row + "\n"), "docs/simulator.md lacks: \(row)")
        }
        #expect(docs.contains(cacheLines.joined(separator: "\n") + "\n"), "docs/simulator.md lacks the cache counters")
    }

    @Test func nestedExampleMatchesTheDocs() throws {
        let docs = try fixture("../../../docs/simulator.md")
        let trace = try TraceParser.parse(try fixture("nested.trace"))
        let replayer = TraceReplayer(trace: trace)
        var rows = [TraceOutput.tableHeader(nested: true)]
        try replayer.run { access, result in rows.append(TraceOutput.tableRow(access, result, process: "A", nested: true)) }
        let ept = TraceOutput.summaryLines(replayer.kernel.counters).filter { $0.contains("  ept") }
        #expect(ept == ["  eptWalks          35", "  eptWalkReads      134", "  eptFaults         6"])
        for row in rows + ept {
            #expect(docs.contains(row + "\n"), "docs/simulator.md lacks: \(row)")
        }
    }

    @Test func translateExampleMatchesTheDocs() throws {
        let docs = try fixture("../../../docs/simulator.md")
        #expect(docs.contains("VPN1     0xfe  (254)\nVPN2     0x1a8  (424)\nVPN3     0x145  (325)\nVPN4     0x12  (18)\nVPO      0x345  (837)"))
    }

    @Test func hugePageExampleMatchesTheDocs() throws {
        let docs = try fixture("../../../docs/simulator.md")
        let trace = try fixture("thp.trace")
        #expect(docs.contains(trace), "docs/simulator.md shows Tests/Fixtures/traces/thp.trace whole")
        let rows = try Self.rows(trace).dropLast()
        #expect(rows.count == 8)
        for row in rows {
            #expect(docs.contains(row + "\n"), "docs/simulator.md lacks: \(row)")
        }
        let (kernel, _) = try replay(trace)
        let summary = TraceOutput.summaryLines(kernel.counters)
        for name in ["tlbL1Misses", "walkReads", "framesInUse", "thpFaults", "thpZeroFaults", "thpSplits", "hugePages"] {
            let line = try #require(summary.first { $0.hasPrefix("  \(name) ") })
            #expect(docs.contains(line + "\n"), "docs/simulator.md lacks: \(line)")
        }
    }
}
