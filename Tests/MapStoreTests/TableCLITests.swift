import Foundation
import MapStoreTestSupport
import Testing

/// Named tables from the shell (docs/cli.md): `--table NAME` on get, put, del, scan and
/// stat, and `table list|drop`, run as the built executable on real files.
@Suite struct TableCLITests {
    let directory = TemporaryDirectory()

    func db(_ name: String = "test.mapstore") -> String { directory.file(name) }

    /// The newest commit's id, read with `stat --json`.
    func transactionID(_ path: String) throws -> String? {
        let stat = try CLI.run(["stat", "--json", path]).out
        return stat.split(separator: ",").first { $0.contains("\"transactionID\"") }.map(String.init)
    }

    @Test func tableRoundTripThroughPutGetScanStatAndDel() throws {
        #expect(try CLI.run(["put", db(), "--table", "fruits", "apple", "red"]).status == 0)
        #expect(try CLI.run(["put", db(), "pear", "green", "--table", "fruits"]).status == 0)
        #expect(try CLI.run(["put", db(), "apple", "main-tree"]).status == 0)

        let get = try CLI.run(["get", db(), "apple", "--table", "fruits"])
        #expect(get.status == 0 && get.out == "red\n" && get.stderr.isEmpty)
        #expect(try CLI.run(["get", db(), "apple"]).out == "main-tree\n")
        #expect(try CLI.run(["get", "--json", db(), "pear", "--table", "fruits"]).out == "{\"key\": \"pear\", \"value\": \"green\"}\n")
        let absent = try CLI.run(["get", db(), "plum", "--table", "fruits"])
        #expect(absent.status == 1 && absent.stdout.isEmpty)
        #expect(absent.err == "mapstore: get: no key \"plum\" in table \"fruits\" in \(db())\n")

        #expect(try CLI.run(["scan", db(), "--table", "fruits"]).lines == ["apple\tred", "pear\tgreen"])
        #expect(try CLI.run(["scan", db()]).lines == ["apple\tmain-tree"])
        #expect(try CLI.run(["scan", db(), "--table", "fruits", "--json", "--reverse", "--limit", "1"]).lines
            == ["{\"key\": \"pear\", \"value\": \"green\"}"])
        #expect(try CLI.run(["scan", db(), "--table", "fruits", "--prefix", "p"]).lines == ["pear\tgreen"])

        let stat = try CLI.run(["stat", db(), "--table", "fruits"])
        #expect(stat.status == 0)
        #expect(stat.lines == ["path:      \(db())", "table:     fruits", "entries:   2", "treeDepth: 1", "pages:     1"])
        let json = try CLI.run(["stat", "--json", db(), "--table", "fruits"])
        #expect(json.out == "{\"path\": \"\(db())\", \"table\": \"fruits\", \"entries\": 2, \"treeDepth\": 1, \"pages\": 1}\n")

        #expect(try CLI.run(["del", db(), "apple", "--table", "fruits"]).status == 0)
        let again = try CLI.run(["del", db(), "apple", "--table", "fruits"])
        #expect(again.status == 1 && again.err.contains("table \"fruits\""))
        #expect(try CLI.run(["get", db(), "apple", "--table", "fruits"]).status == 1)
        #expect(try CLI.run(["get", db(), "apple"]).out == "main-tree\n")
        #expect(try CLI.run(["check", db()]).status == 0)
    }

    @Test func aTableWithManyEntriesCountsItsPagesAndDepth() throws {
        let text = (0..<3000).map { "key\($0)\n\(String(repeating: "v", count: 100))\n" }.joined()
        #expect(try CLI.run(["load", db(), "-T", "-s", "big"], stdin: utf8(text)).status == 0)
        let stat = try CLI.run(["stat", "--json", db(), "--table", "big"]).out
        #expect(stat.contains("\"entries\": 3000"))
        #expect(stat.contains("\"treeDepth\": 2"))
        // 3000 entries of ~110 bytes fill about 80 leaves of 4 KiB; a branch above them.
        let pages = stat.split(separator: " ").last.flatMap { Int($0.dropLast(2)) } ?? 0
        #expect(pages > 40 && pages < 200, "\(stat)")
    }

    @Test(arguments: [
        ["get", "DB", "k"], ["get", "--json", "DB", "k"], ["scan", "DB"], ["scan", "--json", "DB"],
        ["stat", "DB"], ["stat", "--json", "DB"], ["del", "DB", "k"],
    ])
    func aReadOfAMissingTableExits1WithNothingOnStdout(arguments: [String]) throws {
        try CLI.run(["put", db(), "k", "v"])
        try CLI.run(["put", db(), "--table", "other", "k", "v"])
        let before = try transactionID(db())
        let result = try CLI.run(arguments.map { $0 == "DB" ? db() : $0 } + ["--table", "nope"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.err == "mapstore: no such table: nope\n")
        // A del of a missing table commits nothing and creates no table.
        #expect(try transactionID(db()) == before)
        #expect(try CLI.run(["table", "list", db()]).lines == ["other\t1"])
    }

    @Test func aTableInASnapshotIsReadWithSnapshotAndTable() throws {
        try CLI.run(["put", db(), "--table", "t", "k", "old"])
        try CLI.run(["snapshot", "create", db(), "before"])
        try CLI.run(["put", db(), "--table", "t", "k", "new"])
        #expect(try CLI.run(["get", db(), "k", "--table", "t", "--snapshot", "before"]).out == "old\n")
        #expect(try CLI.run(["get", db(), "k", "--table", "t"]).out == "new\n")
        try CLI.run(["table", "drop", db(), "t"])
        #expect(try CLI.run(["scan", db(), "--table", "t", "--snapshot", "before"]).lines == ["k\told"])
        #expect(try CLI.run(["scan", db(), "--table", "t"]).status == 1)
    }

    @Test func tableListPrintsNameTabEntriesInNameOrder() throws {
        try CLI.run(["put", db(), "k", "v"])
        #expect(try CLI.run(["table", "list", db()]).out.isEmpty)
        for (table, key) in [("zebra", "a"), ("apple", "a"), ("apple", "b"), ("Mango", "a"), ("é", "a")] {
            #expect(try CLI.run(["put", db(), "--table", table, key, "v"]).status == 0)
        }
        let list = try CLI.run(["table", "list", db()])
        #expect(list.status == 0 && list.stderr.isEmpty)
        // Byte order of the UTF-8 names, as everywhere else.
        #expect(list.lines == ["Mango\t1", "apple\t2", "zebra\t1", "é\t1"])
        let json = try CLI.run(["table", "list", "--json", db()])
        #expect(json.lines == [
            "{\"name\": \"Mango\", \"entries\": 1}", "{\"name\": \"apple\", \"entries\": 2}",
            "{\"name\": \"zebra\", \"entries\": 1}", "{\"name\": \"é\", \"entries\": 1}",
        ])
    }

    @Test func tableDropDeletesTheTableInADurableCommit() throws {
        try CLI.run(["put", db(), "--table", "gone", "k", "v"])
        try CLI.run(["put", db(), "--table", "kept", "k", "v"])
        let drop = try CLI.run(["table", "drop", db(), "gone"])
        #expect(drop.status == 0 && drop.stdout.isEmpty && drop.stderr.isEmpty)
        #expect(try CLI.run(["table", "list", db()]).lines == ["kept\t1"])
        #expect(try CLI.run(["get", db(), "k", "--table", "gone"]).status == 1)
        #expect(try CLI.run(["check", db()]).status == 0)

        let again = try CLI.run(["table", "drop", db(), "gone"])
        #expect(again.status == 1 && again.stdout.isEmpty)
        #expect(again.err == "mapstore: no such table: gone\n")
    }

    @Test(arguments: [["get", "DB", "k", "--table", ""], ["put", "DB", "k", "v", "--table", ""], ["table", "drop", "DB", ""]])
    func anEmptyTableNameIsAUsageError(arguments: [String]) throws {
        try CLI.run(["put", db(), "k", "v"])
        let result = try CLI.run(arguments.map { $0 == "DB" ? db() : $0 })
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.err.hasPrefix("mapstore: ") && result.err.contains("must not be empty"))
    }

    @Test func aTablePutByTheCLIDumpsAndLoadsLikeAnLMDBNamedDatabase() throws {
        try CLI.run(["put", db(), "--table", "notes", "k1", "v1"])
        let dump = try CLI.run(["dump", "-p", "-s", "notes", db()])
        #expect(dump.out.contains("database=notes\n"))
        #expect(try CLI.run(["load", db("copy.mapstore")], stdin: dump.stdout).status == 0)
        #expect(try CLI.run(["get", db("copy.mapstore"), "k1", "--table", "notes"]).out == "v1\n")
    }
}
