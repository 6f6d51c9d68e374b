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
