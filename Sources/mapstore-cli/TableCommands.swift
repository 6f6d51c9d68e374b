import ArgumentParser
import MapStore

// table list|drop: the named tables of a database (LMDB's named databases, bbolt's buckets).
// Reading and writing one table's entries is --table on get, put, del, scan and stat.

/// `mapstore table ...`: the named tables of a database.
struct TableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "List and drop named tables (put --table NAME creates one).",
        subcommands: [List.self, Drop.self]
    )

    /// `mapstore table list DB`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List tables in name order: NAME<TAB>ENTRIES, one per line (--json: one object per line)."
        )

        @OptionGroup var dbArgument: ExistingDatabase
        var db: String { dbArgument.db }

        @Flag(help: "One {\"name\": ..., \"entries\": N} object per line.")
        var json = false

        /// Lists the tables of the newest commit, from one read transaction.
        func run() throws {
            let tables = try naming(db: db) {
                try DatabaseOpener.forReading(db).read { txn in
                    try txn.tableNames().map { name in (name: name, entries: try txn.table(name).count()) }
                }
            }
            var out = Output()
            for table in tables {
                if json {
                    try out.write(JSON.object([("name", JSON.string(table.name)), ("entries", "\(table.entries)")]) + "\n")
                } else {
                    try out.write("\(table.name)\t\(table.entries)\n")
                }
            }
            try out.flush()
        }
    }

    /// `mapstore table drop DB NAME`.
    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drop",
            abstract: "Delete table NAME and all its entries in one durable commit (exit 1 when there is none).",
            discussion: "Its pages go back to the free list for later commits (a snapshot that reaches them keeps them)."
        )

        @OptionGroup var dbArgument: ExistingDatabase
        var db: String { dbArgument.db }

        @Argument(help: "The table's name.")
        var name: String

        /// Refuses an empty name (exit 2): no table has one.
        func validate() throws {
            if name.isEmpty { throw ValidationError("NAME must not be empty") }
        }

        /// Drops the table; a missing DB exits 3 and is not created.
        func run() throws {
            try naming(db: db) {
                try DatabaseOpener.forChanging(db).write { txn in
                    // Throwing inside the transaction rolls it back: nothing is committed.
                    guard try txn.dropTable(name) else { throw noSuchTable(name) }
                }
            }
        }
    }
}
