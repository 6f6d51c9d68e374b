import ArgumentParser
import MapStore

#if canImport(Glibc)
import Glibc
#endif

// put, get, del and scan: the commands that read and write single entries of the main tree,
// or of a named table with --table.

/// `mapstore put DB KEY VALUE`: stores one entry in a durable commit, creating DB if missing.
struct PutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store VALUE under KEY (VALUE \"-\" reads the value's raw bytes from stdin)."
    )

    @OptionGroup var dbArgument: DatabaseToWrite
    var db: String { dbArgument.db }

    @OptionGroup var keyArgument: KeyArgument

    @Argument(help: "The value: UTF-8 text, hex with --hex, or \"-\" for the raw bytes of stdin.")
    var value: String

    @Flag(help: "KEY and VALUE are lowercase hex strings.")
    var hex = false

    @OptionGroup var tableOption: TableOption

    /// Reads the value, then writes and durably commits it (creating the --table table).
    func run() throws {
        let spelling = ByteSpelling(hex: hex)
        let keyBytes = try keyArgument.bytes(spelling)
        let valueBytes = value == "-" ? try readAll() : try spelling.bytes(of: value, what: "VALUE")
        try naming(db: db) {
            try DatabaseOpener.forWriting(db).write { txn in
                if let table = tableOption.table {
                    try txn.createTable(table).put(keyBytes, valueBytes)
                } else {
                    try txn.put(keyBytes, valueBytes)
                }
            }
        }
    }
}

/// `mapstore get DB KEY`: prints the value and a newline; exits 1 when the key is absent.
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print the value stored under KEY and a newline (exit 1 when absent)."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @OptionGroup var keyArgument: KeyArgument

    @Flag(help: "KEY is, and the value is printed as, a lowercase hex string.")
    var hex = false

    @Flag(help: "Print {\"key\": ..., \"value\": ...} instead of the bare value.")
    var json = false

    @OptionGroup var snapshotOption: SnapshotOption

    @OptionGroup var tableOption: TableOption

    /// Looks the key up in a read transaction and prints what it finds.
    func run() throws {
        let spelling = ByteSpelling(hex: hex)
        let keyBytes = try keyArgument.bytes(spelling)
        let found = try naming(db: db) {
            try readView(DatabaseOpener.forReading(db), snapshot: snapshotOption.snapshot, db: db) { txn in
                try tableOption.existing(in: txn).map { try $0.get(keyBytes) } ?? txn.get(keyBytes)
            }
        }
        guard let found else {
            throw CommandExit(status: ExitStatus.notFound, message: "mapstore: get: no key \(spelling.quoted(keyBytes)) in \(tableOption.place(in: db))")
        }
        var out = Output()
        if json {
            try out.write(JSON.object([("key", spelling.json(keyBytes)), ("value", spelling.json(found))]) + "\n")
        } else {
            try out.write(spelling.printed(found))
            try out.write([0x0a])
        }
        try out.flush()
    }
}

/// `mapstore del DB KEY`: removes one entry in a durable commit; exits 1 when it was absent.
struct DelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "del",
        abstract: "Delete KEY (exit 1 when there was nothing to delete)."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @OptionGroup var keyArgument: KeyArgument

    @Flag(help: "KEY is a lowercase hex string.")
    var hex = false

    @OptionGroup var tableOption: TableOption

    /// Deletes the key; a transaction that deleted nothing changes nothing on disk. A
    /// missing DB exits 3 and is not created: there is nothing in it to delete.
    func run() throws {
        let spelling = ByteSpelling(hex: hex)
        let keyBytes = try keyArgument.bytes(spelling)
        let deleted = try naming(db: db) {
            try DatabaseOpener.forChanging(db).write { txn in
                try tableOption.existing(in: txn).map { try $0.delete(keyBytes) } ?? txn.delete(keyBytes)
            }
        }
        guard deleted else {
            throw CommandExit(status: ExitStatus.notFound, message: "mapstore: del: no key \(spelling.quoted(keyBytes)) in \(tableOption.place(in: db))")
        }
    }
}

/// `mapstore scan DB`: prints a range of entries, `KEY<TAB>VALUE` per line or JSON lines.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Print entries in key order as KEY<TAB>VALUE lines (--json: one object per line).",
        discussion: "--from is inclusive and --to is exclusive: --from a --to c prints a and b but not c. With --prefix, only keys starting with P, further limited by --from/--to."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @Option(help: ArgumentHelp("Only keys that start with P.", valueName: "P"))
    var prefix: String?

    @Option(help: ArgumentHelp("Start at the first key >= K (inclusive).", valueName: "K"))
    var from: String?

    @Option(help: ArgumentHelp("Stop before the first key >= K (exclusive).", valueName: "K"))
    var to: String?

    // Unconditional, so that `--limit -1` reaches validate() as a number rather than read as
    // an option and reported as a missing value; the value must be a number either way.
    @Option(parsing: .unconditional, help: ArgumentHelp("Print at most N entries (0 or more).", valueName: "N"))
    var limit: Int?

    @Flag(help: "Walk from the last key to the first.")
    var reverse = false

    @Flag(help: "Keys, values, --prefix, --from and --to are lowercase hex strings.")
    var hex = false

    @Flag(help: "One {\"key\": ..., \"value\": ...} object per line.")
    var json = false

    @OptionGroup var snapshotOption: SnapshotOption

    @OptionGroup var tableOption: TableOption

    /// Rejects a negative limit (exit 2).
    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more, not \(limit)") }
    }

    /// Scans the range in one read transaction and streams the entries out.
    func run() throws {
        let spelling = ByteSpelling(hex: hex)
        let range = try keyRange(spelling)
        var out = Output()
        try naming(db: db) { try readView(DatabaseOpener.forReading(db), snapshot: snapshotOption.snapshot, db: db) { txn in
            // A damaged page throws from `next()`: the stream ends there and the command exits 3.
            var scan = try tableOption.existing(in: txn)?.scan(range, reverse: reverse) ?? txn.scan(range, reverse: reverse)
            var printed = 0
            while printed < limit ?? .max, let entry = try scan.next() {
                if json {
                    try out.write(JSON.object([("key", spelling.json(entry.key)), ("value", spelling.json(entry.value))]) + "\n")
                } else {
                    try out.write(spelling.printed(entry.key))
                    try out.write([0x09])
                    try out.write(spelling.printed(entry.value))
                    try out.write([0x0a])
                }
                printed += 1
            }
        } }
        try out.flush()
    }

    /// The half-open range of `--prefix`, `--from` and `--to` together (their intersection).
    func keyRange(_ spelling: ByteSpelling) throws -> KeyRange {
        var range = KeyRange.all
        if let prefix {
            range = KeyRange.prefix(try spelling.bytes(of: prefix, what: "--prefix"))
        }
        if let from {
            let lower = try spelling.bytes(of: from, what: "--from")
            if range.lower.map({ lower.lexicographicallyPrecedes($0) }) != true { range.lower = lower }
        }
        if let to {
            let upper = try spelling.bytes(of: to, what: "--to")
            if range.upper.map({ upper.lexicographicallyPrecedes($0) }) != false { range.upper = upper }
        }
        return range
    }
}

/// Runs `body` on the database at `db` and makes its errors name the place: a key the
/// database cannot hold (empty or longer than its limit) is a usage error (exit 2), since
/// the argument is wrong and not the database; any other ``MapStoreError`` exits 3 with
/// the database's path in its message.
func naming<R>(db: String, _ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch MapStoreError.keyTooLarge(let size, let limit) {
        throw CommandExit(status: ExitStatus.usage,
                          message: "mapstore: KEY of \(size) bytes is outside the 1...\(limit) bytes \(db) accepts")
    } catch let error as MapStoreError {
        switch error {
        case .io, .diskFull:  // these already carry the path of the file they were about
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: \(error)")
        default:
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: \(db): \(error)")
        }
    }
}
