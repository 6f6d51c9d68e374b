import ArgumentParser
import MapStore

#if canImport(Glibc)
import Glibc
#endif

// snapshot create|list|restore|delete, backup, restore and compact (docs/backup.md).

/// Runs `body` on the newest commit of `database`, or on its snapshot `snapshot` when one is
/// named (`--snapshot NAME` of get, scan and dump); a snapshot that does not exist exits 1.
func readView<R>(_ database: Database, snapshot: String?, db: String, _ body: (ReadTransaction) throws -> R) throws -> R {
    guard let snapshot else { return try database.read(body) }
    guard try database.hasSnapshot(snapshot) else { throw noSuchSnapshot(snapshot, in: db) }
    return try database.read(snapshot: snapshot, body)
}

/// The "not found" exit (1) of a snapshot `name` that `db` does not hold.
func noSuchSnapshot(_ name: String, in db: String) -> CommandExit {
    CommandExit(status: ExitStatus.notFound, message: "mapstore: no snapshot \(name.debugDescription) in \(db)")
}

/// `mapstore snapshot ...`: named snapshots of a database.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Create, list, restore and delete named snapshots.",
        subcommands: [Create.self, List.self, Restore.self, Delete.self]
    )

    /// `mapstore snapshot create DB NAME`.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Pin the newest commit as snapshot NAME (exit 3 when NAME is taken).",
            discussion: "Costs one commit; while the snapshot lives, pages later commits free are kept for it instead of being reused."
        )

        @OptionGroup var dbArgument: DatabaseToWrite
        var db: String { dbArgument.db }

        @Argument(help: "The snapshot's name (UTF-8).")
        var name: String

        /// Creates the snapshot in a durable commit; a name already taken exits 3.
        func run() throws {
            guard !name.isEmpty else { throw ValidationError("NAME must not be empty") }
            try naming(db: db) {
                let database = try DatabaseOpener.forWriting(db)
                // Asked first so the message says what is wrong; the library still refuses
                // a name another process takes in between (with its own wording).
                guard try !database.hasSnapshot(name) else {
                    throw CommandExit(status: ExitStatus.failure, message: "mapstore: snapshot \(name.debugDescription) already exists in \(db)")
                }
                _ = try database.createSnapshot(name)
            }
        }
    }

    /// `mapstore snapshot list DB`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List snapshots: NAME<TAB>txn<TAB>created (UTC)<TAB>entries<TAB>pages pinned, one per line (--json: one object per line)."
        )

        @OptionGroup var dbArgument: ExistingDatabase
        var db: String { dbArgument.db }

        @Flag(help: "One {\"name\", \"transactionID\", \"created\", \"entries\", \"pinnedPages\"} object per line.")
        var json = false

        /// Lists the snapshots in name order.
        func run() throws {
            let snapshots = try naming(db: db) { try DatabaseOpener.forReading(db).snapshots() }
            var out = Output()
            for snapshot in snapshots {
                let created = Self.utc(snapshot.createdTime)
                if json {
                    try out.write(JSON.object([
                        ("name", JSON.string(snapshot.name)), ("transactionID", "\(snapshot.transactionID)"),
                        ("created", JSON.string(created)), ("entries", "\(snapshot.entries)"),
                        ("pinnedPages", "\(snapshot.pinnedPages)"),
                    ]) + "\n")
                } else {
                    try out.write("\(snapshot.name)\t\(snapshot.transactionID)\t\(created)\t\(snapshot.entries)\t\(snapshot.pinnedPages)\n")
                }
            }
            try out.flush()
        }

        /// `2026-11-25T09:30:00Z` for nanoseconds since 1970.
        static func utc(_ nanoseconds: UInt64) -> String {
            var seconds = time_t(nanoseconds / 1_000_000_000)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
            return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
        }
    }

    /// `mapstore snapshot restore DB NAME`.
    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Make snapshot NAME the current state in a new commit (exit 1 when there is none).",
            discussion: "Copies no data: the new commit's tree is the snapshot's. The snapshot stays."
        )

        @OptionGroup var snapshot: ExistingSnapshot

        /// Restores in one durable commit.
        func run() throws {
            let database = try snapshot.openDatabase()
            try naming(db: snapshot.db) {
                guard try database.hasSnapshot(snapshot.name) else { throw snapshot.notFound }
                try database.restore(snapshot: snapshot.name)
            }
        }
    }

    /// `mapstore snapshot delete DB NAME`.
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete snapshot NAME, releasing the pages only it kept (exit 1 when there is none)."
        )

        @OptionGroup var snapshot: ExistingSnapshot

        /// Deletes in one durable commit.
        func run() throws {
            let database = try snapshot.openDatabase()
            guard try naming(db: snapshot.db, { try database.deleteSnapshot(snapshot.name) }) else { throw snapshot.notFound }
        }
    }
}

/// Writes a backup of `db` to `out` (`-`: standard output) with a progress bar, and prints
/// what it wrote (on stderr when the backup itself goes to stdout).
private func runBackup(db: String, out: String, compact: Bool, gzip: Bool, json: Bool, verb: String) throws {
    let database = try naming(db: db) { try DatabaseOpener.forReading(db) }
    let toStdout = out == "-"
    if !toStdout { try refuseOverwritingItself(db: db, out: out) }
    var bar = ProgressBar("\(verb) \(db)", total: 0, dataOnStdout: toStdout)
    defer { bar.finish() }
    let report = try naming(db: db) {
        let output = toStdout ? OutputFile.standardOutput() : nil
        let progress = { (done: Int, total: Int) in bar.update(done, of: total) }
        let compression: BackupCompression = gzip ? .gzip : .none
        if let output { return try database.backup(to: output, compact: compact, compression: compression, progress: progress) }
        return try database.backup(to: out, compact: compact, compression: compression, progress: progress)
    }
    bar.finish()
    var output = toStdout ? Output(fd: STDERR_FILENO, name: "stderr") : Output()
    if json {
        try output.write(JSON.object([
            ("path", JSON.string(out)), ("transactionID", "\(report.transactionID)"), ("pages", "\(report.pages)"),
            ("bytes", "\(report.bytes)"), ("compact", compact ? "true" : "false"), ("gzip", gzip ? "true" : "false"),
        ]) + "\n")
    } else {
        try output.write("\(out): txn \(report.transactionID), \(report.pages) pages, \(report.bytes) bytes\n")
    }
    try output.flush()
}

/// Exits 3 when OUT is DB itself or its lock file (the library refuses it too, but speaks of
/// a "backup target", which `compact` users never named).
private func refuseOverwritingItself(db: String, out: String) throws {
    if sameFile(out, db) {
        throw CommandExit(status: ExitStatus.failure,
                          message: "mapstore: OUT \(out) is the database \(db) itself; write the copy to another path")
    }
    if sameFile(out, db + "-lock") {
        throw CommandExit(status: ExitStatus.failure,
                          message: "mapstore: OUT \(out) is the lock file of \(db); write the copy to another path")
    }
}

/// `mapstore backup DB OUT`: a consistent copy while writers go on.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the newest commit of DB to OUT while writers go on (--compact: live pages only; --gzip: a gzip stream).",
        discussion: "Prints OUT: txn N, P pages, B bytes. A plain backup keeps snapshots and free pages; --compact drops both. A damaged DB is refused (exit 3) and OUT left as it was; OUT is replaced only once the copy is complete and synced; with OUT \"-\" the backup goes to stdout and the summary to stderr."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @Argument(help: "The backup file to write (replaced only once complete), or \"-\" for standard output.", completion: .file())
    var out: String

    @Flag(help: "Copy only reachable pages, renumbered densely (drops snapshots).")
    var compact = false

    @Flag(help: "Write a gzip stream (gunzip gives back the plain file).")
    var gzip = false

    @OptionGroup var summary: BackupSummaryFormat

    /// Writes the backup.
    func run() throws {
        try runBackup(db: db, out: out, compact: compact, gzip: gzip, json: summary.json, verb: "backing up")
    }
}

/// `mapstore compact DB OUT`: a compacted copy.
struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Write a compacted copy of DB to OUT: only live pages, renumbered densely, no free list, no snapshots.",
        discussion: "The same as backup --compact. Prints OUT: txn N, P pages, B bytes."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @Argument(help: "The compacted file to write.", completion: .file())
    var out: String

    @OptionGroup var summary: BackupSummaryFormat

    /// Writes the compacted copy.
    func run() throws {
        try runBackup(db: db, out: out, compact: true, gzip: false, json: summary.json, verb: "compacting")
    }
}

/// `mapstore restore BACKUP DB`: a backup back into a database file.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore BACKUP (plain or gzip, told apart by magic bytes), or a replica s3://BUCKET/PREFIX, as DB, then check it.",
        discussion: """
            Refuses to replace an existing DB without --force (exit 3). A damaged backup or replica object exits 3 and \
            creates or changes nothing. From a replica: the latest commit shipped, or with --txn N the newest at or \
            before N (exit 1 when there is none).
            """
    )

    @Argument(help: "The backup file (plain or gzip), \"-\" for standard input, or a replica s3://BUCKET/PREFIX.", completion: .file())
    var backup: String

    @Argument(help: "The database file to create (or, with --force, replace).", completion: .file())
    var db: String

    @Flag(help: "Replace DB when it exists.")
    var force = false

    @Option(parsing: .unconditional, help: "From a replica: the newest commit at or before this transaction id.")
    var txn: UInt64?

    @Option(help: "From a replica: the object store's URL (http://HOST:PORT); default AWS_ENDPOINT_URL, else AWS S3.")
    var endpoint: String?

    func validate() throws {
        if !backup.hasPrefix("s3://"), txn != nil || endpoint != nil {
            throw ValidationError("--txn and --endpoint are for restoring a replica (s3://BUCKET/PREFIX)")
        }
    }

    /// Decodes, checks and renames into place.
    func run() throws {
        if backup.hasPrefix("s3://") {
            return try ReplicaRestoreCommand.run(from: backup, to: db, txn: txn, force: force, endpoint: endpoint)
        }
        let fromStdin = backup == "-"
        guard fromStdin || DatabaseOpener.fileExists(backup) else {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: restore: no such backup: \(backup)")
        }
        try DatabaseOpener.refuseNonDatabase(db, mustExist: false)
        if !force, DatabaseOpener.fileExists(db) {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: restore: \(db) exists; use --force to replace it")
        }
        // Bytes of the backup read, of its size: a bar for a file, plain or gzip; a count for a pipe.
        var bar = ProgressBar("restoring \(fromStdin ? "stdin" : backup)", total: 0)
        defer { bar.finish() }
        let progress = { (done: Int, total: Int) in bar.update(done, of: total) }
        do {
            if fromStdin {
                try Database.restoreBackup(fromDescriptor: STDIN_FILENO, name: "stdin", to: db, overwrite: force, progress: progress)
            } else {
                try Database.restoreBackup(from: backup, to: db, overwrite: force, progress: progress)
            }
        } catch MapStoreError.locked(let reason) {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: restore \(backup) -> \(db): \(reason); nothing was changed")
        } catch let error as MapStoreError {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: restore \(backup) -> \(db): \(error); nothing was changed")
        }
    }
}
