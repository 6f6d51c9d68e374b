import ArgumentParser
import MapStore
import MapStoreShadow

#if canImport(Glibc)
import Glibc
#endif

/// `mapstore demo`: the README's first command. Creates a small database, writes sample
/// data (including a table), reads it back, takes a snapshot, changes the data and reads the
/// snapshot, makes a gzip backup and restores it, and prints the statistics.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Create a sample database, write and read it back, and print its statistics.",
        discussion: "Writes demo.mapstore in the current directory when it is writable, else in a new temporary directory, and says which."
    )

    /// Runs the tour: every step prints what it did.
    func run() throws {
        let path = try Self.databasePath()
        var out = Output()
        try out.write("MapStore demo: \(path)\n\n")
        try out.flush()

        let database = try DatabaseOpener.forWriting(path)
        let fruits: [(String, String)] = [("apple", "red"), ("banana", "yellow"), ("cherry", "dark red"),
                                          ("grape", "green"), ("lemon", "yellow")]
        let stock: [(String, String)] = [("apple", "42"), ("banana", "7"), ("cherry", "120")]
        try database.write { txn in
            for (key, value) in fruits { try txn.put("fruit:" + key, value) }
            try txn.put("greeting", "hello, mmap")
            let table = try txn.createTable("stock")
            for (key, value) in stock { try table.put(key, value) }
        }
        try out.write("1. wrote \(fruits.count + 1) keys and a table \"stock\" of \(stock.count) in one durable commit\n")

        let greeting = try database.read { txn in try txn.getString("greeting") }
        try out.write("2. get greeting -> \(greeting ?? "(missing)")\n")

        try out.write("3. scan --prefix fruit: ->\n")
        try database.read { txn in
            for entry in try txn.entries(in: .prefix("fruit:")) {
                try out.write("     ")
                try out.write(entry.key)
                try out.write([0x09])
                try out.write(entry.value)
                try out.write([0x0a])
            }
            let apples = try txn.table("stock").get("apple").map { String(decoding: $0, as: UTF8.self) }
            try out.write("4. table stock, get apple -> \(apples ?? "(missing)")\n")
        }

        let problems = try database.check()
        try out.write("5. check -> \(problems.isEmpty ? "ok" : "\(problems.count) problems")\n")

        // Snapshots and backup (docs/backup.md).
        try database.deleteSnapshot("before-change")  // a rerun starts over
        try database.createSnapshot("before-change")
        try out.write("6. snapshot create before-change\n")
        try database.write { txn in try txn.put("greeting", "hello, snapshots") }
        let now = try database.read { txn in try txn.getString("greeting") }
        try out.write("7. put greeting \"\(now ?? "")\"\n")
        let then = try database.read(snapshot: "before-change") { txn in try txn.getString("greeting") }
        try out.write("8. get --snapshot before-change greeting -> \(then ?? "(missing)")\n")
        let backupPath = path + ".gz"
        let backup = try database.backup(to: backupPath, compression: .gzip)
        try out.write("9. backup --gzip -> \(backupPath) (\(backup.pages) pages in \(backup.bytes) bytes)\n")
        let restoredPath = path.replacingSuffix(".mapstore", with: "-restored.mapstore")
        let restored = try Database.restoreBackup(from: backupPath, to: restoredPath, overwrite: true)
        let restoredGreeting = try DatabaseOpener.forReading(restoredPath).read { txn in try txn.getString("greeting") }
        try out.write("10. restore -> \(restoredPath): check ok, txn \(restored.transactionID), greeting -> \(restoredGreeting ?? "(missing)")\n\n")
        try out.write("stat:\n")
        for line in StatCommand.text(StatCommand.fields(try database.stat(), path: path)).split(separator: "\n") {
            try out.write("  \(line)\n")
        }
        try out.write("""

            Try next:
              mapstore scan \(path) --prefix fruit:
              mapstore get \(path) greeting
              mapstore dump -a --print \(path)
              mapstore snapshot list \(path)
              mapstore scan \(path) --snapshot before-change

            """)
        // Shadow mode (docs/shadow.md) on the restored copy, which no handle holds open now.
        var shadow = ShadowExperiment(path: restoredPath, workload: .readrandom)
        shadow.maxSize = 1 << 30
        if let report = try? shadow.run() {
            try out.write("Shadow mode, mapstore vm compare \(restoredPath) --workload readrandom:\n  \(report.verdict)\n")
        }
        try out.flush()
    }

    /// `demo.mapstore` in the current directory when it is writable, else in a fresh
    /// temporary directory.
    static func databasePath() throws -> String {
        if access(".", W_OK) == 0, let cwd = getcwd(nil, 0) {
            defer { free(cwd) }
            return String(cString: cwd) + "/demo.mapstore"
        }
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/mapstore-demo-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CommandExit(status: ExitStatus.failure,
                              message: "mapstore: demo: cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made) + "/demo.mapstore"
    }
}

extension String {
    /// The string with `suffix` replaced by `replacement` (or `replacement` appended when it lacks the suffix).
    func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + replacement : self + replacement
    }
}
