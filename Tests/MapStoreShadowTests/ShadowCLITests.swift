import Foundation
import MapStoreTestSupport
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

    /// The JSON object on the last line of `result`'s stdout.
    static func lastObject(_ result: CLIResult) throws -> [String: Any]? {
        try JSONSerialization.jsonObject(with: Data((result.lines.last ?? "").utf8)) as? [String: Any]
    }

    // vm compare never changes the user's file (issue 15): before, writemap-commit and msync
    // committed random values over the database's own.
    @Test(arguments: ["readrandom", "readseq", "writemap-commit", "cow-write", "msync", "dontneed", "two-process"])
    func compareLeavesTheDatabaseByteForByteUnchanged(workload: String) throws {
        let dir = TemporaryDirectory()
        let path = try ShadowExperimentTests.makeDatabase(in: dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let result = try CLI.run(["vm", "compare", path, "--workload", workload, "--operations", "20", "--json"])
        #expect(result.status == 0, "\(result.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        // The scratch copy and its lock file are gone; nothing else was left beside DB.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == files)
        let object = try Self.lastObject(result)
        let file = try #require(object?["file"] as? String)
        let runsOnACopy = ["writemap-commit", "cow-write", "msync", "dontneed"].contains(workload)
        if runsOnACopy {
            #expect(file.contains("test.mapstore.vm-compare-") && file.hasSuffix("/test.mapstore"), "\(file)")
            #expect(object?["copyOf"] as? String == path)
            #expect(!FileManager.default.fileExists(atPath: file))
        } else {
            #expect(file == path)
            #expect(object?["copyOf"] is NSNull)
        }
        let text = try CLI.run(["vm", "compare", path, "--workload", workload, "--operations", "20"])
        #expect(text.status == 0, "\(text.err)")
        let fileLine = try #require(text.lines.first { $0.hasPrefix("file ") }, "\(text.out)")
        #expect(runsOnACopy ? fileLine.contains(".vm-compare-") && fileLine.contains("copy of \(path)") : fileLine == "file \(path)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func inPlaceRunsTheWorkloadOnTheDatabaseItself() throws {
        let dir = TemporaryDirectory()
        let path = try ShadowExperimentTests.makeDatabase(in: dir)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let stat = { try Self.lastObject(try CLI.run(["stat", "--json", path]))?["transactionID"] as? Int }
        let transaction = try #require(try stat())
        let result = try CLI.run(["vm", "compare", path, "--workload", "writemap-commit", "--operations", "20", "--in-place", "--json"])
        #expect(result.status == 0, "\(result.err)")
        let object = try Self.lastObject(result)
        #expect(object?["file"] as? String == path)
        #expect(object?["copyOf"] is NSNull)
        #expect(try stat() == transaction + 10)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) != before)
    }

    @Test func aFailedRunOnACopyRemovesTheCopy() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        #expect(try CLI.run(["put", path, "k", "v"]).status == 0)
        #expect(try CLI.run(["del", path, "k"]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let result = try CLI.run(["vm", "compare", path, "--workload", "msync"])
        #expect(result.status == 3)
        #expect(result.err.contains("holds no keys"), "\(result.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == files)
    }
}
