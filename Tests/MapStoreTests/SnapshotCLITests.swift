import Foundation
import MapStoreTestSupport
import Testing

/// `mapstore snapshot|backup|restore|compact` and `--snapshot` as scripts see them
/// (docs/cli.md): real executable, real files, exit codes.
@Suite struct SnapshotCLITests {
    let directory = TemporaryDirectory()

    func db(_ name: String = "test.mapstore") -> String { directory.file(name) }

    /// Loads `count` entries in one commit (`load -T`: key and value lines alternate).
    func fill(_ count: Int, value: (Int) -> String) throws {
        let text = (0..<count).map { "key\($0)\n\(value($0))\n" }.joined()
        #expect(try CLI.run(["load", db(), "-T"], stdin: utf8(text)).status == 0)
    }

    @Test func snapshotCreateReadListRestoreDelete() throws {
        try CLI.run(["put", db(), "apple", "red"])
        try CLI.run(["put", db(), "pear", "green"])
        #expect(try CLI.run(["snapshot", "create", db(), "before"]).status == 0)
        let taken = try CLI.run(["snapshot", "create", db(), "before"])
        #expect(taken.status == 3 && taken.err.contains("before") && taken.err.contains(db()))
        try CLI.run(["put", db(), "apple", "yellow"])
        try CLI.run(["del", db(), "pear"])

        #expect(try CLI.run(["get", db(), "apple"]).out == "yellow\n")
        #expect(try CLI.run(["get", "--snapshot", "before", db(), "apple"]).out == "red\n")
        #expect(try CLI.run(["scan", db(), "--snapshot", "before"]).lines == ["apple\tred", "pear\tgreen"])
        let dump = try CLI.run(["dump", "--print", "--snapshot", "before", db()])
        #expect(dumpDataLines(dump.stdout) == ["HEADER=END", " apple", " red", " pear", " green", "DATA=END"])
        let missing = try CLI.run(["get", "--snapshot", "nope", db(), "apple"])
        #expect(missing.status == 1 && missing.stdout.isEmpty && missing.err.contains("nope"))

        let list = try CLI.run(["snapshot", "list", db()])
        #expect(list.status == 0)
        let fields = list.lines.first?.split(separator: "\t").map(String.init) ?? []
        #expect(fields.count == 5 && fields[0] == "before" && fields[3] == "2")
        let json = try CLI.run(["snapshot", "list", "--json", db()])
        #expect(json.out.hasPrefix("{\"name\": \"before\", \"transactionID\": ") && json.out.contains("\"entries\": 2"))
        #expect(try CLI.run(["stat", "--json", db()]).out.contains("\"snapshots\": 1"))

        #expect(try CLI.run(["snapshot", "restore", db(), "before"]).status == 0)
        #expect(try CLI.run(["get", db(), "apple"]).out == "red\n")
        #expect(try CLI.run(["get", db(), "pear"]).out == "green\n")
        #expect(try CLI.run(["snapshot", "restore", db(), "nope"]).status == 1)
        #expect(try CLI.run(["check", db()]).status == 0)

        #expect(try CLI.run(["snapshot", "delete", db(), "before"]).status == 0)
        #expect(try CLI.run(["snapshot", "delete", db(), "before"]).status == 1)
        #expect(try CLI.run(["snapshot", "list", db()]).stdout.isEmpty)
        let absent = try CLI.run(["snapshot", "list", db("absent.mapstore")])
        #expect(absent.status == 3 && absent.err.contains("no such database"))
        #expect(try CLI.run(["snapshot", "create", db(), ""]).status == 2)
    }

    @Test func backupRestoreAndCompactRoundTrip() throws {
        try fill(200) { String(repeating: "v", count: $0) }
        try CLI.run(["snapshot", "create", db(), "s"])
        let gz = db("copy.mapstore.gz")
        let backup = try CLI.run(["backup", db(), gz, "--gzip", "--json"])
        #expect(backup.status == 0)
        #expect(backup.out.contains("\"gzip\": true"))
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: gz)).prefix(2)) == [0x1f, 0x8b])
        let restored = db("restored.mapstore")
        #expect(try CLI.run(["restore", gz, restored]).status == 0)
        #expect(try CLI.run(["scan", restored]).stdout == (try CLI.run(["scan", db()])).stdout)
        #expect(try CLI.run(["get", "--snapshot", "s", restored, "key5"]).out == "vvvvv\n")
        let again = try CLI.run(["restore", gz, restored])
        #expect(again.status == 3 && again.err.contains("--force"))
        #expect(try CLI.run(["restore", gz, restored, "--force"]).status == 0)

        let compact = db("compact.mapstore")
        let compacted = try CLI.run(["compact", db(), compact])
        #expect(compacted.status == 0 && compacted.out.hasPrefix(compact + ": txn "))
        #expect(try CLI.run(["check", compact]).status == 0)
        #expect(try CLI.run(["scan", compact]).stdout == (try CLI.run(["scan", db()])).stdout)
        #expect(try CLI.run(["snapshot", "list", compact]).stdout.isEmpty)
        let plain = db("plain.mapstore")
        #expect(try CLI.run(["backup", db(), plain, "--compact"]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: plain)) == (try Data(contentsOf: URL(fileURLWithPath: compact))))
        #expect(try CLI.run(["backup", db(), db()]).status == 3)
        #expect(try CLI.run(["backup", db("absent.mapstore"), plain]).status == 3)
    }

    @Test func damagedBackupsExit3AndCreateOrChangeNothing() throws {
        try fill(300) { "value \($0)" }
        let gz = db("b.gz")
        #expect(try CLI.run(["backup", db(), gz, "--gzip"]).status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: gz))
        let truncated = db("truncated.gz")
        try bytes.prefix(bytes.count - 20).write(to: URL(fileURLWithPath: truncated))
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x10
        let flippedPath = db("flipped.gz")
        try flipped.write(to: URL(fileURLWithPath: flippedPath))
        let other = db("other.mapstore")
        try CLI.run(["put", other, "mine", "kept"])
        let otherBefore = try Data(contentsOf: URL(fileURLWithPath: other))
        for backup in [truncated, flippedPath] {
            let fresh = try CLI.run(["restore", backup, db("new.mapstore")])
            #expect(fresh.status == 3 && fresh.err.contains(backup))
            #expect(!FileManager.default.fileExists(atPath: db("new.mapstore")))
            let forced = try CLI.run(["restore", backup, other, "--force"])
            #expect(forced.status == 3)
            #expect(try Data(contentsOf: URL(fileURLWithPath: other)) == otherBefore)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(names == ["b.gz", "flipped.gz", "other.mapstore", "other.mapstore-lock", "test.mapstore", "test.mapstore-lock", "truncated.gz"])
    }

    @Test func demoShowsASnapshotAGzipBackupAndItsRestore() throws {
        let demo = try CLI.run(["demo"], in: directory.path)
        #expect(demo.status == 0, "\(demo.err)")
        #expect(demo.out.contains("get --snapshot before-change greeting -> hello, mmap"))
        #expect(demo.out.contains("greeting -> hello, snapshots"))
        let restored = directory.path + "/demo-restored.mapstore"
        #expect(try CLI.run(["check", restored]).status == 0)
        #expect(try CLI.run(["get", restored, "greeting"]).out == "hello, snapshots\n")
        let gunzip = Process()
        gunzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gunzip.arguments = ["gunzip", "-t", directory.path + "/demo.mapstore.gz"]
        try gunzip.run()
        gunzip.waitUntilExit()
        #expect(gunzip.terminationStatus == 0)
        #expect(try CLI.run(["demo"], in: directory.path).status == 0)
    }
}
