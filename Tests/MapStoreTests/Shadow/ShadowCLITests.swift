import Foundation
import Testing

/// `mapstore vm compare` as scripts see it: exit codes and the JSON last line.
@Suite struct ShadowCLITests {
    @Test func missingDatabaseExits3() throws {
        let dir = TemporaryDirectory()
        let result = try CLI.run(["vm", "compare", dir.file("absent.mapstore"), "--workload", "readrandom"])
        #expect(result.status == 3)
        #expect(result.err.contains("no such database"))
    }

    @Test func unknownWorkloadExits2() throws {
        let dir = TemporaryDirectory()
        let result = try CLI.run(["vm", "compare", dir.file(), "--workload", "nonsense"])
        #expect(result.status == 2)
        #expect(result.err.contains("unknown workload"))
    }

    @Test func jsonLastLineAndPlot() throws {
        let dir = TemporaryDirectory()
        let path = try ShadowExperimentTests.makeDatabase(in: dir)
        let plot = dir.file("strip.svg")
        let result = try CLI.run(["vm", "compare", path, "--workload", "two-process", "--json", "--plot", plot])
        #expect(result.status == 0, "\(result.err)")
        let object = try JSONSerialization.jsonObject(with: Data((result.lines.last ?? "").utf8)) as? [String: Any]
        #expect(object?["workload"] as? String == "two-process")
        #expect((object?["pages"] as? Int ?? 0) >= 300)
        #expect((object?["agreement"] as? Double ?? 0) >= 0.99)
        for key in ["present", "anonymous", "dirty", "shared", "faults"] { #expect(object?[key] != nil, "\(key)") }
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
    }
}
