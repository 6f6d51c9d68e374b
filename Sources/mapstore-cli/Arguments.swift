import ArgumentParser
import MapStore

// The argument groups several commands declare the same way: each is one `@OptionGroup`,
// so a name, help text or default is written once and every command shows it alike.
// An argument whose help differs between commands (`--hex`, `--json`, OUT) stays in its
// command: its help says what that command does with it.

/// DB of a command that reads it, or changes a database that must already be there.
struct ExistingDatabase: ParsableArguments {
    @Argument(help: "The database file (must exist).")
    var db: String
}

/// DB of a command that writes, creating the database when it is missing.
struct DatabaseToWrite: ParsableArguments {
    @Argument(help: "The database file (created when missing).")
    var db: String
}

/// KEY of get, put and del.
struct KeyArgument: ParsableArguments {
    @Argument(help: "The key: UTF-8 text, or hex with --hex.")
    var key: String

    /// The key's bytes as `spelling` reads them; an empty key or bad hex exits 2.
    func bytes(_ spelling: ByteSpelling) throws -> [UInt8] {
        try spelling.key(key)
    }
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
