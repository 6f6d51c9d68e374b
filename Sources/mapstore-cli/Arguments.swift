import ArgumentParser
import MapStore

// The argument groups several commands declare the same way: each is one `@OptionGroup`,
// so a name, help text or default is written once and every command shows it alike.
// An argument whose help differs between commands (`--hex`, `--json`, OUT) stays in its
// command: its help says what that command does with it.

/// DB of a command that reads it, or changes a database that must already be there.
struct ExistingDatabase: ParsableArguments {
    @Argument(help: "The database file (must exist).", completion: .file())
    var db: String
}

/// DB of a command that writes, creating the database when it is missing.
struct DatabaseToWrite: ParsableArguments {
    @Argument(help: "The database file (created when missing).", completion: .file())
    var db: String
}

/// KEY of get, put and del.
struct KeyArgument: ParsableArguments {
    @Argument(help: "The key: UTF-8 text, or hex with --hex. A key that starts with '-' goes after '--', which ends the options: mapstore get DB -- -key.")
    var key: String

    /// The key's bytes as `spelling` reads them; an empty key or bad hex exits 2.
    func bytes(_ spelling: ByteSpelling) throws -> [UInt8] {
        try spelling.key(key)
    }
}

/// `--table NAME` of get, put, del, scan and stat: a named table instead of the main tree.
struct TableOption: ParsableArguments {
    @Option(help: ArgumentHelp("Use the named table NAME instead of the main tree (put creates it; for any other command a missing table exits 1).", valueName: "NAME"))
    var table: String?

    /// Refuses an empty name (exit 2): no table has one.
    func validate() throws {
        if table?.isEmpty == true { throw ValidationError("--table NAME must not be empty") }
    }

    /// The `--table` table of `txn`, or nil for the main tree; exits 1 with "no such
    /// table: NAME" when it is not there (for every command but put, which creates it).
    func existing(in txn: ReadTransaction) throws -> Table? {
        guard let table else { return nil }
        guard try txn.hasTable(table) else { throw noSuchTable(table) }
        return try txn.table(table)
    }

    /// Where a key was looked for, in messages: `DB`, or `table "NAME" in DB`.
    func place(in db: String) -> String {
        table.map { "table \($0.debugDescription) in \(db)" } ?? db
    }
}

/// The "not found" exit (1) of a table that is not there (`--table`, `table drop`).
func noSuchTable(_ name: String) -> CommandExit {
    CommandExit(status: ExitStatus.notFound, message: "mapstore: no such table: \(name)")
}

/// `--snapshot NAME` of get and scan.
struct SnapshotOption: ParsableArguments {
    @Option(help: ArgumentHelp("Read the named snapshot instead of the newest commit.", valueName: "NAME"))
    var snapshot: String?
}

/// DB and NAME of `snapshot restore` and `snapshot delete`: a snapshot of a database that
/// must exist (there can be no snapshot in a new one).
struct ExistingSnapshot: ParsableArguments {
    @OptionGroup var dbArgument: ExistingDatabase

    @Argument(help: "The snapshot's name.")
    var name: String

    var db: String { dbArgument.db }

    /// Opens DB for writing; exits 3 with "no such database" rather than create it.
    func openDatabase() throws -> Database {
        try naming(db: db) { try DatabaseOpener.forChanging(db) }
    }

    /// The "not found" exit (1) for a snapshot DB does not hold.
    var notFound: CommandExit { noSuchSnapshot(name, in: db) }
}

/// `--json` of backup and compact, which print the same summary.
struct BackupSummaryFormat: ParsableArguments {
    @Flag(help: "Print one JSON object with path, transactionID, pages, bytes, compact, gzip.")
    var json = false
}
