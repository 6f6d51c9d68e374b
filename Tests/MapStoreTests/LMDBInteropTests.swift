import Foundation
import MapStoreTestSupport
import Testing

/// Dump/load against the real LMDB tools (`mdb_load`, `mdb_dump` from lmdb-utils, which
/// `.ci/run` installs): data moves both ways and the data lines are byte-identical.
/// Without the tools the tests print why and pass without checking.
@Suite struct LMDBInteropTests {
    let directory = TemporaryDirectory()

    static func tool(_ name: String) -> String? {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    static var toolsMissing: String? {
        let missing = ["mdb_load", "mdb_dump"].filter { tool($0) == nil }
        return missing.isEmpty ? nil : "skipped: \(missing.joined(separator: ", ")) not installed (apt-get install lmdb-utils)"
    }

    /// Runs an LMDB tool; returns (status, stdout).
    @discardableResult
    static func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
        let result = try CLI.run(program: tool(name)!, arguments)
        return (result.status, result.stdout, result.err)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Records with binary keys, 511-byte keys (LMDB's limit), empty values and 20 KB values.
    /// `printable` keeps every byte away from `\` (LMDB 0.9.24's mdb_dump -p does not escape it).
    static func records(seed: UInt64, count: Int, printable: Bool = false) -> [([UInt8], [UInt8])] {
        var rng = SeededGenerator(seed: seed)
        func byte() -> UInt8 {
            var b = UInt8.random(in: 0...255, using: &rng)
            if printable && b == 0x5c { b = 0x5b }
            return b
        }
        var result: [[UInt8]: [UInt8]] = [:]
        for i in 0..<count {
            let keyLength = i % 25 == 0 ? 511 : Int.random(in: 1...40, using: &rng)
            let key = (0..<keyLength).map { _ in byte() }
            let valueLength = i % 7 == 0 ? 0 : i % 31 == 0 ? 20_000 : Int.random(in: 1...300, using: &rng)
            result[key] = (0..<valueLength).map { _ in byte() }
        }
        return Array(result)
    }

    /// mdb_load input: one bytevalue section per (table name or nil, records).
    static func dumpText(_ sections: [(String?, [([UInt8], [UInt8])])]) -> [UInt8] {
        var text = ""
        for (name, records) in sections {
            text += "VERSION=3\nformat=bytevalue\n"
            if let name { text += "database=\(name)\n" }
            text += "type=btree\nmapsize=268435456\nmaxreaders=126\ndb_pagesize=4096\nHEADER=END\n"
            for (key, value) in records { text += " \(hex(key))\n \(hex(value))\n" }
            text += "DATA=END\n"
        }
        return Array(text.utf8)
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = directory.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: [false, true])
    func mainTreeFromLMDBToMapStoreAndBack(print: Bool) throws {
        if let reason = Self.toolsMissing { Swift.print("LMDBInteropTests: \(reason)"); return }
        let input = try write(Self.dumpText([(nil, Self.records(seed: print ? 2 : 1, count: 400, printable: print))]), "input.dump")
        let lmdb = directory.file("lmdb.mdb")
        let loaded = try Self.run("mdb_load", ["-n", "-f", input, lmdb])
        #expect(loaded.status == 0, "\(loaded.stderr)")
        let fromLMDB = try Self.run("mdb_dump", ["-n"] + (print ? ["-p"] : []) + [lmdb])
        #expect(fromLMDB.status == 0)
        let lmdbDump = try write(fromLMDB.stdout, "lmdb.dump")

        let store = directory.file("store.mapstore")
        #expect(try CLI.run(["load", store, "-f", lmdbDump]).status == 0)
        let ours = try CLI.run(["dump", store] + (print ? ["--print"] : []))
        #expect(ours.status == 0)
        #expect(dumpDataLines(ours.stdout) == dumpDataLines(fromLMDB.stdout))
        #expect(dumpDataLines(ours.stdout).count > 2 * 300, "the records made it through")

        // And back: MapStore's dump into a fresh LMDB file, whose dump matches again.
        let oursPath = try write(ours.stdout, "ours.dump")
        let back = directory.file("back.mdb")
        let reloaded = try Self.run("mdb_load", ["-n", "-f", oursPath, back])
        #expect(reloaded.status == 0, "\(reloaded.stderr)")
        let again = try Self.run("mdb_dump", ["-n"] + (print ? ["-p"] : []) + [back])
        #expect(dumpDataLines(again.stdout) == dumpDataLines(ours.stdout))
    }

    @Test func namedTablesBothWays() throws {
        if let reason = Self.toolsMissing { print("LMDBInteropTests: \(reason)"); return }
        let sections: [(String?, [([UInt8], [UInt8])])] = [
            ("alpha", Self.records(seed: 3, count: 150)),
            ("beta", Self.records(seed: 4, count: 60)),
        ]
        let input = try write(Self.dumpText(sections), "tables.dump")
        let lmdb = directory.file("tables.mdb")
        let loaded = try Self.run("mdb_load", ["-n", "-f", input, lmdb])
        #expect(loaded.status == 0, "\(loaded.stderr)")
        let fromLMDB = try Self.run("mdb_dump", ["-n", "-a", lmdb])
        #expect(fromLMDB.status == 0)
        #expect(dumpDataLines(fromLMDB.stdout).filter { $0 == "HEADER=END" }.count == 2)

        let store = directory.file("tables.mapstore")
        #expect(try CLI.run(["load", store, "-f", try write(fromLMDB.stdout, "lmdb-tables.dump")]).status == 0)
        let ours = try CLI.run(["dump", "-a", store])
        #expect(dumpDataLines(ours.stdout) == dumpDataLines(fromLMDB.stdout))
        let one = try CLI.run(["dump", "-s", "beta", store])
        let lmdbOne = try Self.run("mdb_dump", ["-n", "-s", "beta", lmdb])
        #expect(dumpDataLines(one.stdout) == dumpDataLines(lmdbOne.stdout))

        let back = directory.file("tables-back.mdb")
        let reloaded = try Self.run("mdb_load", ["-n", "-f", try write(ours.stdout, "ours-tables.dump"), back])
        #expect(reloaded.status == 0, "\(reloaded.stderr)")
        #expect(dumpDataLines(try Self.run("mdb_dump", ["-n", "-a", back]).stdout) == dumpDataLines(ours.stdout))
    }
}
