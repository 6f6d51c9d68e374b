import Foundation
import MapStoreTestSupport
import Testing

/// `mapstore vm translate` and `vm replay` as a subprocess: output formats and exit codes.
@Suite struct VMCLITests {
    @Test func translateSplitsTheLecturesAddress() throws {
        let result = try CLI.run(["vm", "translate", "0x7f6a28a12345", "--json"])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout)) as? [String: Any]
        #expect(object?["vpn"] as? [Int] == [0xfe, 0x1a8, 0x145, 0x12])
        #expect(object?["vpo"] as? Int == 0x345)
        #expect(object?["tlbIndex"] != nil && object?["tlbTag"] != nil)
        #expect(try CLI.run(["vm", "translate", "0x10", "--preset", "nope"]).status == 2)
        #expect(try CLI.run(["vm", "translate", "not-a-number"]).status == 2)
    }

    /// `--physical` splits a physical address per cache level (CSAPP 9.6.4's PA 0x354 on the
    /// small system: CT 0x0d, CI 5, CO 0); a virtual address says the L1 set is known from the VPO.
    @Test func translatePhysicalSplitsForEveryCacheLevel() throws {
        let small = try CLI.run(["vm", "translate", "0x354", "--physical", "--preset", "csapp-small", "--json"])
        #expect(small.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(small.stdout)) as? [String: Any]
        let caches = object?["caches"] as? [[String: Any]]
        #expect(caches?.count == 1)
        #expect(caches?.first?["level"] as? String == "L1")
        #expect(caches?.first?["tag"] as? Int == 0x0d && caches?.first?["set"] as? Int == 5 && caches?.first?["offset"] as? Int == 0)
        let i7 = try CLI.run(["vm", "translate", "0x12345678", "--physical", "--json"])
        let levels = (try JSONSerialization.jsonObject(with: Data(i7.stdout)) as? [String: Any])?["caches"] as? [[String: Any]]
        #expect(levels?.compactMap { $0["level"] as? String } == ["L1", "L2", "L3"])
        #expect(levels?.compactMap { $0["set"] as? Int } == [25, 0x159, 0x1159])
        #expect(try CLI.run(["vm", "translate", "0x1000", "--physical", "--preset", "csapp-small"]).status == 2, "past 12 bits")
        let virtual = try CLI.run(["vm", "translate", "0x7f6a28a12345", "--json"])
        let split = try JSONSerialization.jsonObject(with: Data(virtual.stdout)) as? [String: Any]
        #expect(split?["l1SetFromOffset"] as? Bool == true)
        #expect(split?["l1Set"] as? Int == 0xd, "VPO 0x345 >> 6")
    }

    /// docs/simulator.md shows `vm translate --physical` as the command prints it.
    @Test func translatePhysicalMatchesTheDocs() throws {
        let here = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
        let docs = try String(contentsOfFile: here + "/docs/simulator.md", encoding: .utf8)
        for arguments in [["0x354", "--physical", "--preset", "csapp-small"], ["0x12345678", "--physical"]] {
            let result = try CLI.run(["vm", "translate"] + arguments)
            let text = String(decoding: result.stdout, as: UTF8.self)
            #expect(docs.contains("$ mapstore vm translate \(arguments.joined(separator: " "))\n" + text), "\(arguments)")
        }
    }

    @Test func replayReportsEveryAccessAndGoesOnAfterASegv() throws {
        let trace = "spawn A\nmmap A 0x1000 0x2000 rw private anon\nw A 0x1000 7\nr A 0x1000\nr A 0x9000\nr A 0x1000\n"
        let result = try CLI.run(["vm", "replay", "-", "--json"], stdin: Array(trace.utf8))
        #expect(result.status == 0)
        let lines = result.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let faults = lines.compactMap { $0["fault"] as? String }
        #expect(faults == ["zero", "none", "segv", "none"], "the access after the segv still runs")
        #expect((lines.last?["summary"] as? [String: Any])?["faultsSegv"] as? Int == 1)
    }

    @Test func badTracesAndMissingFilesHaveTheirExitCodes() throws {
        let parse = try CLI.run(["vm", "replay", "-"], stdin: Array("spawn A\nbogus line\n".utf8))
        #expect(parse.status == 2)
        #expect(parse.err.contains("line 2, column 1"))
        #expect(try CLI.run(["vm", "replay", "/nonexistent/trace"]).status == 3)
        #expect(try CLI.run(["vm", "replay", "-", "--no-such-flag"]).status == 2)
    }
}
