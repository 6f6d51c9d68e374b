import Foundation
import MapStore
import MapStoreTestSupport
import Testing

// The `mapstore` CLI as scripts see it (docs/cli.md): each test runs the built
// executable as a subprocess on files in a temporary directory and checks stdout, stderr
// and the exit status.

@Suite struct CLITests {
    let directory = TemporaryDirectory()

    /// A database path in this test's directory.
    func db(_ name: String = "test.mapstore") -> String { directory.file(name) }

    // MARK: put / get / del

    @Test func putThenGetPrintsTheValueAndANewline() throws {
        let put = try CLI.run(["put", db(), "apple", "red"])
        #expect(put.status == 0)
        #expect(put.stdout.isEmpty && put.stderr.isEmpty)
        let get = try CLI.run(["get", db(), "apple"])
        #expect(get.status == 0)
        #expect(get.out == "red\n")
        #expect(get.stderr.isEmpty)
        let json = try CLI.run(["get", "--json", db(), "apple"])
        #expect(json.out == "{\"key\": \"apple\", \"value\": \"red\"}\n")
    }

    @Test func getOfAnAbsentKeyExits1WithNothingOnStdout() throws {
        try CLI.run(["put", db(), "apple", "red"])
        let get = try CLI.run(["get", db(), "pear"])
        #expect(get.status == 1)
        #expect(get.stdout.isEmpty)
        #expect(get.err.contains("pear") && get.err.contains(db()))
        #expect(get.lines.isEmpty && get.err.split(separator: "\n").count == 1)
    }

    @Test func delExits0ThenExits1WhenNothingIsLeftToDelete() throws {
        try CLI.run(["put", db(), "apple", "red"])
        #expect(try CLI.run(["del", db(), "apple"]).status == 0)
        let again = try CLI.run(["del", db(), "apple"])
        #expect(again.status == 1)
        #expect(again.err.contains("apple"))
        #expect(try CLI.run(["get", db(), "apple"]).status == 1)
    }

    @Test func putWithDashStoresTheRawBytesOfStdin() throws {
        let value: [UInt8] = [0x00, 0x0a, 0xff, 0x09, 0x5c] + utf8(" tail\n")
        let put = try CLI.run(["put", db(), "blob", "-"], stdin: value)
        #expect(put.status == 0)
        let get = try CLI.run(["get", db(), "blob"])
        #expect(get.stdout == value + [0x0a])
        let hex = try CLI.run(["get", "--hex", db(), "626c6f62"])
        #expect(hex.out == "000aff095c207461696c0a\n")
    }

    @Test func hexKeysAndValuesRoundTripAndPrintLowercase() throws {
        #expect(try CLI.run(["put", "--hex", db(), "00FF10", "DEADbeef"]).status == 0)
        #expect(try CLI.run(["get", "--hex", db(), "00ff10"]).out == "deadbeef\n")
        #expect(try CLI.run(["get", db(), "x"]).status == 1)
        let scan = try CLI.run(["scan", "--hex", db()])
        #expect(scan.out == "00ff10\tdeadbeef\n")
        // An empty value is allowed; an empty key is not.
        #expect(try CLI.run(["put", "--hex", db(), "01", ""]).status == 0)
        #expect(try CLI.run(["get", "--hex", db(), "01"]).out == "\n")
        #expect(try CLI.run(["put", "--hex", db(), "", "01"]).status == 2)
    }

    @Test(arguments: [
        ["put", "--hex", "DB", "abc", "00"],
        ["put", "--hex", "DB", "00", "zz"],
        ["get", "--hex", "DB", "0g"],
        ["del", "--hex", "DB", "xyz1"],
        ["scan", "--hex", "DB", "--prefix", "q"],
        ["scan", "--hex", "DB", "--from", "123"],
        ["scan", "--hex", "DB", "--to", "k!"],
    ])
    func badHexExits2AndChangesNothing(arguments: [String]) throws {
        try CLI.run(["put", db(), "k", "v"])
        let before = try CLI.run(["dump", db()]).stdout
        let result = try CLI.run(arguments.map { $0 == "DB" ? db() : $0 })
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.err.contains("hex"))
        #expect(result.err.split(separator: "\n").count == 1)
        #expect(try CLI.run(["dump", db()]).stdout == before)
    }

    @Test func aKeyLongerThanTheLimitIsAUsageError() throws {
        let long = String(repeating: "k", count: 2000)
        let put = try CLI.run(["put", db(), long, "v"])
        #expect(put.status == 2)
        #expect(put.err.contains("2000 bytes"))
    }

    // MARK: usage errors and missing databases

    @Test(arguments: [
        ["frobnicate"],
        ["get", "--bogus", "DB", "k"],
        ["get", "DB"],
        ["put", "DB", "k"],
        ["scan", "DB", "--limit", "ten"],
        ["scan", "DB", "--limit=-1"],
        ["dump", "DB", "-a", "-s", "t"],
    ])
    func usageErrorsExit2WithOneLineOnStderr(arguments: [String]) throws {
        try CLI.run(["put", db(), "k", "v"])
        let result = try CLI.run(arguments.map { $0 == "DB" ? db() : $0 })
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.err.hasPrefix("mapstore: "))
        #expect(result.err.split(separator: "\n").count == 1)
    }

    /// The commands that read, and those that change a database without creating one (del
    /// and table drop, since issue 18).
    @Test(arguments: [["get", "DB", "k"], ["scan", "DB"], ["stat", "DB"], ["check", "DB"], ["dump", "DB"],
                      ["stat", "--json", "DB"], ["check", "--json", "DB"], ["dump", "-a", "DB"],
                      ["get", "DB", "k", "--table", "t"], ["stat", "DB", "--table", "t"], ["table", "list", "DB"],
                      ["table", "list", "--json", "DB"], ["del", "DB", "k"], ["del", "DB", "k", "--table", "t"],
                      ["table", "drop", "DB", "t"]])
    func commandsThatCreateNoDatabaseExit3OnAMissingOne(arguments: [String]) throws {
        let path = db("absent.mapstore")
        let result = try CLI.run(arguments.map { $0 == "DB" ? path : $0 })
        #expect(result.status == 3)
        #expect(result.stdout.isEmpty)
        #expect(result.err == "mapstore: no such database: \(path)\n")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: path + "-lock"))
    }

    @Test func writingCommandsCreateAMissingDatabase() throws {
        // del is not one of them (issue 18): commandsThatCreateNoDatabaseExit3OnAMissingOne.
        #expect(try CLI.run(["put", db("b.mapstore"), "k", "v"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: db("b.mapstore") + "-lock"))
        let load = try CLI.run(["load", db("c.mapstore")], stdin: utf8("VERSION=3\nformat=print\nHEADER=END\n k\n v\nDATA=END\n"))
        #expect(load.status == 0)
        #expect(try CLI.run(["get", db("c.mapstore"), "k"]).out == "v\n")
    }

    @Test func aFileThatIsNotADatabaseExits3WithAClearMessage() throws {
        let path = db("notes.txt")
        try Data(String(repeating: "not a database\n", count: 1000).utf8).write(to: URL(fileURLWithPath: path))
        for arguments in [["get", path, "k"], ["scan", path], ["stat", path], ["dump", path]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 3, "\(arguments)")
            #expect(result.stdout.isEmpty)
            #expect(result.err.contains(path), "\(arguments): \(result.err)")
            #expect(result.err.split(separator: "\n").count == 1)
        }
        let check = try CLI.run(["check", path])
        #expect(check.status == 3)
        #expect(check.lines.first?.hasPrefix("page 0: ") == true)
        // A short file (less than the two meta pages) too.
        try Data("tiny".utf8).write(to: URL(fileURLWithPath: db("tiny")))
        #expect(try CLI.run(["get", db("tiny"), "k"]).status == 3)
    }

    @Test func aClosedStdoutIsAWriteErrorNotASignal() throws {
        try fillForCheck()
        let pipe = Pipe()
        try pipe.fileHandleForReading.close()  // like `mapstore scan DB | head -0`
        let scan = try CLI.run(["scan", db()], stdout: pipe.fileHandleForWriting)
        #expect(scan.status == 3)
        #expect(scan.err.contains("stdout"))
    }

    @Test func libraryErrorsNameTheDatabase() throws {
        try CLI.run(["load", db()], stdin: utf8("VERSION=3\ndatabase=fruits\nHEADER=END\n 6b\n 76\nDATA=END\n"))
        // "fruits" names a table in the main tree: not a data key.
        let put = try CLI.run(["put", db(), "fruits", "x"])
        #expect(put.status == 3)
        #expect(put.err.hasPrefix("mapstore: \(db()): "), "\(put.err)")
        #expect(put.err.split(separator: "\n").count == 1)
    }

    // MARK: scan

    /// Keys a, b, ba, bb, c, d with values "v-KEY", put one by one.
    func fillLetters() throws {
        for key in ["d", "a", "bb", "c", "ba", "b"] {
            #expect(try CLI.run(["put", db(), key, "v-\(key)"]).status == 0)
        }
    }

    @Test func scanPrintsKeyTabValueLinesInKeyOrder() throws {
        try fillLetters()
        let scan = try CLI.run(["scan", db()])
        #expect(scan.status == 0)
        #expect(scan.lines == ["a\tv-a", "b\tv-b", "ba\tv-ba", "bb\tv-bb", "c\tv-c", "d\tv-d"])
    }

    @Test(arguments: [
        (["--prefix", "b"], ["b", "ba", "bb"]),
        (["--from", "b", "--to", "c"], ["b", "ba", "bb"]),
        (["--from", "bb"], ["bb", "c", "d"]),
        (["--to", "b"], ["a"]),
        (["--to", "ba"], ["a", "b"]),
        (["--limit", "2"], ["a", "b"]),
        (["--limit", "0"], []),
        (["--reverse"], ["d", "c", "bb", "ba", "b", "a"]),
        (["--reverse", "--limit", "2"], ["d", "c"]),
        (["--prefix", "b", "--reverse"], ["bb", "ba", "b"]),
        (["--prefix", "b", "--from", "ba"], ["ba", "bb"]),
        (["--prefix", "b", "--to", "bb"], ["b", "ba"]),
        (["--from", "c", "--to", "b"], []),
        (["--from", "b", "--to", "d", "--reverse", "--limit", "3"], ["c", "bb", "ba"]),
        (["--prefix", "z"], []),
    ])
    func scanOptionsSelectTheRange(options: [String], keys: [String]) throws {
        try fillLetters()
        let scan = try CLI.run(["scan", db()] + options)
        #expect(scan.status == 0)
        #expect(scan.lines == keys.map { "\($0)\tv-\($0)" })
    }

    @Test func scanHexOptionsAreHex() throws {
        try fillLetters()
        // 62 = "b", 63 = "c"
        let scan = try CLI.run(["scan", "--hex", db(), "--from", "62", "--to", "63"])
        #expect(scan.lines == ["62\t762d62", "6261\t762d6261", "6262\t762d6262"])
        #expect(try CLI.run(["scan", "--hex", db(), "--prefix", "6262"]).lines == ["6262\t762d6262"])
    }

    @Test func scanJSONPrintsOneObjectPerLine() throws {
        try CLI.run(["put", db(), "a", "tab\there \"quoted\" back\\slash"])
        try CLI.run(["put", db(), "b", "ünïcödé\nnewline"])
        let scan = try CLI.run(["scan", "--json", db()])
        #expect(scan.status == 0)
        try #require(scan.lines.count == 2)
        #expect(scan.lines[0] == #"{"key": "a", "value": "tab\there \"quoted\" back\\slash"}"#)
        let objects = try scan.lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        #expect(objects[0] == ["key": "a", "value": "tab\there \"quoted\" back\\slash"])
        #expect(objects[1] == ["key": "b", "value": "ünïcödé\nnewline"])
        let hex = try CLI.run(["scan", "--json", "--hex", db(), "--limit", "1"])
        #expect(hex.out == "{\"key\": \"61\", \"value\": \"\(utf8("tab\there \"quoted\" back\\slash").map { String(format: "%02x", $0) }.joined())\"}\n")
    }

    // MARK: stat

    @Test func statJSONHasTheContractFields() throws {
        try fillLetters()
        let stat = try CLI.run(["stat", "--json", db()])
        #expect(stat.status == 0)
        #expect(stat.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stat.stdout)) as? [String: Any])
        for field in ["entries", "pageSize", "filePages", "freePages", "treeDepth", "transactionID", "snapshots"] {
            #expect(object[field] is Int, "\(field) should be a number")
        }
        #expect(object["entries"] as? Int == 6)
        #expect(object["pageSize"] as? Int == Int(sysconf(Int32(_SC_PAGESIZE))))
        #expect(object["transactionID"] as? Int == 6)
        #expect(object["treeDepth"] as? Int == 1)
        #expect(object["mappingMode"] as? String == "readOnly")
        #expect((object["filePages"] as? Int ?? 0) >= 3)
        let text = try CLI.run(["stat", db()])
        #expect(text.status == 0)
        #expect(text.lines.contains { $0.hasPrefix("entries:") && $0.hasSuffix(" 6") })
    }

    // MARK: check

    /// A database of 300 entries of about 110 bytes, loaded in one transaction (two levels).
    func fillForCheck() throws {
        var text = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
        for i in 0..<300 { text += " key\(String(format: "%04d", i))\n value-\(String(repeating: "x", count: 100))\n" }
        text += "DATA=END\n"
        #expect(try CLI.run(["load", db()], stdin: utf8(text)).status == 0)
    }

    @Test func checkOfASoundDatabaseExits0() throws {
        try fillForCheck()
        let check = try CLI.run(["check", db()])
        #expect(check.status == 0)
        #expect(check.stderr.isEmpty)
        let json = try CLI.run(["check", "--json", db()])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any])
        #expect(object["ok"] as? Bool == true)
        #expect((object["problems"] as? [Any])?.isEmpty == true)
    }

    @Test func checkOfADamagedCopyExits3NamingThePage() throws {
        try fillForCheck()
        #expect(try CLI.run(["stat", "--json", db()]).out.contains("\"treeDepth\": 2"))
        let damaged = db("damaged.mapstore")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: db()))
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        for offset in 0..<8 { bytes[3 * pageSize + 2000 + offset] ^= 0xA5 }  // inside data page 3
        try bytes.write(to: URL(fileURLWithPath: damaged))

        let check = try CLI.run(["check", damaged])
        #expect(check.status == 3)
        #expect(check.lines.contains { $0.hasPrefix("page 3: ") })
        #expect(check.lines.allSatisfy { $0.hasPrefix("page ") })
        #expect(check.err.contains(damaged))
        let json = try CLI.run(["check", "--json", damaged])
        #expect(json.status == 3)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any])
        #expect(object["ok"] as? Bool == false)
        let problems = try #require(object["problems"] as? [[String: Any]])
        #expect(problems.contains { $0["page"] as? Int == 3 && ($0["message"] as? String)?.isEmpty == false })
        // Reading through the damaged page is an error naming it (checksums are verified on
        // read), never garbage or a crash; the original is untouched.
        for arguments in [["scan", damaged], ["scan", "--reverse", damaged], ["scan", "--json", damaged], ["dump", damaged]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 3, "\(arguments)")
            #expect(result.err.contains("page 3"), "\(arguments): \(result.err)")
        }
        // A dump of damaged data never looks complete, and -o leaves no partial file.
        #expect(!(try CLI.run(["dump", damaged]).out.contains("DATA=END")))
        #expect(try CLI.run(["dump", damaged, "-o", db("damaged.dump")]).status == 3)
        #expect(!FileManager.default.fileExists(atPath: db("damaged.dump")))
        // A get reads the root and one leaf: it fails, naming page 3, exactly for the keys
        // that leaf holds, and still answers for the others. Which keys those are depends on
        // the page size, so the library says (a get with checksums verified, as the CLI's).
        let keys = (0..<300).map { "key\(String(format: "%04d", $0))" }
        var options = Options.testing()
        options.readOnly = true
        options.verifyChecksums = true
        let onPage3 = try Database(path: damaged, options: options).read { txn in
            keys.filter { key in
                do { _ = try txn.get(key); return false } catch { return "\(error)".contains("page 3") }
            }
        }
        #expect(!onPage3.isEmpty && onPage3.count < keys.count, "page 3 is one leaf: \(onPage3)")
        for key in [onPage3.first!, onPage3.last!] {
            let get = try CLI.run(["get", damaged, key])
            #expect(get.status == 3, "\(key)")
            #expect(get.stdout.isEmpty)
            #expect(get.err.contains("page 3"), "\(key): \(get.err)")
        }
        let healthy = try #require(keys.first { !onPage3.contains($0) })
        let get = try CLI.run(["get", damaged, healthy])
        #expect(get.status == 0, "\(healthy): \(get.err)")
        #expect(get.out == "value-\(String(repeating: "x", count: 100))\n")
        #expect(try CLI.run(["check", db()]).status == 0)
    }

    // MARK: dump and load

    /// A database holding what round trips must keep: binary keys, an empty value, a value of
    /// several pages, every byte value, and two tables.
    func fillForDump() throws {
        let large = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        #expect(try CLI.run(["put", db(), "large", "-"], stdin: large).status == 0)
        #expect(try CLI.run(["put", db(), "empty", ""]).status == 0)
        #expect(try CLI.run(["put", "--hex", db(), "000aff5c", "5c5c0d0a"]).status == 0)
        #expect(try CLI.run(["put", db(), "all-bytes", "-"], stdin: (0...255).map(UInt8.init)).status == 0)
        #expect(try CLI.run(["put", db(), "text", "héllo wörld"]).status == 0)
        let tables = """
            VERSION=3
            format=print
            database=fruits
            HEADER=END
             apple
             red
             cherry
            \(" ")
            DATA=END
            VERSION=3
            format=bytevalue
            database=binary
            HEADER=END
             00
             ff
            DATA=END

            """
        #expect(try CLI.run(["load", db()], stdin: utf8(tables)).status == 0)
    }

    @Test(arguments: [[], ["--print"]])
    func dumpLoadDumpIsByteIdentical(format: [String]) throws {
        try fillForDump()
        for scope in [[], ["-a"], ["-s", "fruits"]] {
            let first = try CLI.run(["dump", db()] + format + scope)
            #expect(first.status == 0)
            #expect(first.stderr.isEmpty)
            let copy = db("copy-\(scope.joined())\(format.joined()).mapstore")
            let load = try CLI.run(["load", copy], stdin: first.stdout)
            #expect(load.status == 0, "\(load.err)")
            let second = try CLI.run(["dump", copy] + format + scope)
            #expect(second.stdout == first.stdout, "scope \(scope)")
            #expect(try CLI.run(["check", copy]).status == 0)
        }
        // The main dump holds the binary key, the empty value and the 20,000-byte value.
        let main = try CLI.run(["dump", db()] + format).out
        let binaryKey = format.isEmpty ? " 000aff5c\n" : " \\00\\0a\\ff\\5c\n"
        #expect(main.contains(binaryKey))
        #expect(main.contains(format.isEmpty ? "\n 656d707479\n \n" : "\n empty\n \n"))
        #expect(main.split(separator: "\n").contains { $0.count > 20_000 })
        // -a writes the main tree, then the tables in name order.
        let all = try CLI.run(["dump", db(), "-a"] + format).out
        let names = all.split(separator: "\n").filter { $0.hasPrefix("database=") }
        #expect(names == ["database=binary", "database=fruits"])
        #expect(all.components(separatedBy: "VERSION=3\n").count == 4)
    }

    @Test func dumpMatchesLMDBMdbDumpBetweenHeaderAndDataEnd() throws {
        for (fixture, flags) in [("main.bytevalue.dump", [String]()), ("main.print.dump", ["--print"])] {
            let path = db("lmdb-\(fixture).mapstore")
            let load = try CLI.run(["load", "-f", CLI.fixtures.appendingPathComponent(fixture).path, path])
            #expect(load.status == 0, "\(load.err)")
            let dump = try CLI.run(["dump", path] + flags)
            #expect(dumpDataLines(dump.stdout) == dumpDataLines(try CLI.fixture(fixture)), "\(fixture)")
        }
        let tables = db("tables.mapstore")
        #expect(try CLI.run(["load", "-f", CLI.fixtures.appendingPathComponent("tables.all.bytevalue.dump").path, tables]).status == 0)
        for (fixture, flags) in [("tables.all.print.dump", ["-a", "-p"]), ("tables.all.bytevalue.dump", ["-a"]),
                                 ("tables.fruits.print.dump", ["-s", "fruits", "--print"])] {
            let dump = try CLI.run(["dump", tables] + flags)
            #expect(dump.status == 0)
            #expect(dumpDataLines(dump.stdout) == dumpDataLines(try CLI.fixture(fixture)), "\(fixture)")
            let names = { (bytes: [UInt8]) in String(decoding: bytes, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("database=") } }
            #expect(names(dump.stdout) == names(try CLI.fixture(fixture)))
        }
    }

    @Test func dumpToAFileWritesNothingOnStdout() throws {
        try CLI.run(["put", db(), "k", "v"])
        let file = db("out.dump")
        let dump = try CLI.run(["dump", db(), "-o", file])
        #expect(dump.status == 0)
        #expect(dump.stdout.isEmpty && dump.stderr.isEmpty)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: file))) == (try CLI.run(["dump", db()])).stdout)
        let missing = try CLI.run(["dump", db(), "-s", "nope"])
        #expect(missing.status == 1)
        #expect(missing.stdout.isEmpty)
        #expect(missing.err.contains("nope"))
    }

    @Test func aMalformedLoadExits3NamingTheLineAndChangesNothing() throws {
        try fillForDump()
        let before = try CLI.run(["dump", db(), "-a"]).stdout
        let beforeMain = try CLI.run(["dump", db()]).stdout
        // Good records first (one overwriting "empty", one into a table), then an odd hex line 11.
        let bad = "VERSION=3\nformat=bytevalue\nHEADER=END\n 656d707479\n 6e6f77\n 6e6577\n 6b6579\nDATA=END\nVERSION=3\ndatabase=fruits\nHEADER=END\n 6b\n 616\nDATA=END\n"
        let load = try CLI.run(["load", db()], stdin: utf8(bad))
        #expect(load.status == 3)
        #expect(load.err.contains("line 13"), "\(load.err)")
        #expect(load.err.split(separator: "\n").count == 1)
        #expect(try CLI.run(["dump", db(), "-a"]).stdout == before)
        #expect(try CLI.run(["dump", db()]).stdout == beforeMain)
        #expect(try CLI.run(["get", db(), "new"]).status == 1)
        // A failed load into a missing database leaves no file behind.
        let fresh = db("fresh.mapstore")
        #expect(try CLI.run(["load", fresh], stdin: utf8(bad)).status == 3)
        #expect(!FileManager.default.fileExists(atPath: fresh))
        #expect(!FileManager.default.fileExists(atPath: fresh + "-lock"))
    }

    @Test func loadRefusesDupsortSections() throws {
        try CLI.run(["put", db(), "k", "v"])
        let load = try CLI.run(["load", "-f", CLI.fixtures.appendingPathComponent("dupsort.bytevalue.dump").path, db()])
        #expect(load.status == 3)
        #expect(load.err.contains("dupsort"))
        #expect(try CLI.run(["scan", db()]).lines == ["k\tv"])
    }

    @Test func loadPlainTextIntoATable() throws {
        let load = try CLI.run(["load", "-T", "-s", "notes", db()], stdin: utf8("first\none\\0a\nsecond\n\n"))
        #expect(load.status == 0, "\(load.err)")
        let dump = try CLI.run(["dump", "-s", "notes", "--print", db()])
        #expect(dumpDataLines(dump.stdout) == ["HEADER=END", " first", " one\\0a", " second", " ", "DATA=END"])
        #expect(try CLI.run(["scan", db()]).stdout.isEmpty)  // the main tree got nothing
    }

    /// A dump large enough that its sorted records split a branch page at its end (depth 3).
    @Test func loadOfAThreeLevelTreeRoundTrips() throws {
        var text = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
        for i in 0..<3000 { text += " key\(String(format: "%07d", i))\n \(String(repeating: "v", count: 300))\n" }
        text += "DATA=END\n"
        let load = try CLI.run(["load", db()], stdin: utf8(text))
        #expect(load.status == 0)
        #expect(dumpDataLines(try CLI.run(["dump", "--print", db()]).stdout) == dumpDataLines(utf8(text)))
        #expect(try CLI.run(["stat", "--json", db()]).out.contains("\"treeDepth\": 3"))
    }

    @Test func longWorkShowsNoProgressBarWhenStderrIsNotATerminal() throws {
        var text = "VERSION=3\nformat=bytevalue\nHEADER=END\n"
        for i in 0..<5000 { text += " \(utf8("k\(i)").map { String(format: "%02x", $0) }.joined())\n 00\n" }
        text += "DATA=END\n"
        let load = try CLI.run(["load", db()], stdin: utf8(text))
        #expect(load.status == 0)
        #expect(load.stderr.isEmpty)
        let dump = try CLI.run(["dump", db()])
        #expect(dump.stderr.isEmpty)
        #expect(dump.out.components(separatedBy: "\n 00\n").count == 5001)
        #expect(try CLI.run(["check", db()]).stderr.isEmpty)
    }

    // MARK: demo

    @Test func demoCreatesASampleDatabaseInTheCurrentDirectory() throws {
        let demo = try CLI.run(["demo"], in: directory.path)
        #expect(demo.status == 0, "\(demo.err)")
        let path = directory.path + "/demo.mapstore"
        #expect(demo.out.contains(path))
        #expect(demo.out.contains("entries:"))
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try CLI.run(["check", path]).status == 0)
        #expect(try CLI.run(["get", path, "greeting"]).status == 0)
        #expect(try CLI.run(["dump", "-s", "stock", path]).status == 0)
        // Running it again is fine too.
        #expect(try CLI.run(["demo"], in: directory.path).status == 0)
    }
}
