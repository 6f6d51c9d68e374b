import ArgumentParser
import MapStore

#if canImport(Glibc)
import Glibc
#endif

// dump and load: LMDB's mdb_dump / mdb_load text (docs/dump-format.md), so data moves
// between LMDB and MapStore both ways.

/// `mapstore dump DB`: writes `mdb_dump` text for the main tree, one table, or everything.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Write the database as LMDB mdb_dump text (bytevalue, or print with --print).",
        discussion: "Without -a or -s, dumps the main tree. -a writes one section per table in name order, like mdb_dump -a, preceded by a section for the main tree when it holds entries."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @Flag(name: [.customShort("p"), .customLong("print")], help: "Printable bytes as themselves, others as \\xx (mdb_dump -p).")
    var print = false

    @Option(name: .customShort("o"), help: ArgumentHelp("Write to FILE instead of stdout.", valueName: "FILE"), completion: .file())
    var output: String?

    @Flag(name: .customShort("a"), help: "Dump every table (and the main tree when it holds entries).")
    var all = false

    @Option(name: .customShort("s"), help: ArgumentHelp("Dump only the table NAME.", valueName: "NAME"))
    var table: String?

    @Option(help: ArgumentHelp("Dump the named snapshot instead of the newest commit.", valueName: "NAME"))
    var snapshot: String?

    /// Refuses -a together with -s (exit 2).
    func validate() throws {
        if all && table != nil { throw ValidationError("-a and -s cannot be used together") }
    }

    /// Dumps in one read transaction, so the text is one consistent commit.
    func run() throws {
        try naming(db: db) { try dump(DatabaseOpener.forReading(db)) }
    }

    /// Writes the chosen sections of `database`, all from one read transaction.
    private func dump(_ database: Database) throws {
        let format: DumpFormat = print ? .print : .bytevalue
        try readView(database, snapshot: snapshot, db: db) { txn in
            // What to dump: (table name or nil for the main tree, entry count).
            var sections: [(name: String?, count: Int)] = []
            if let table {
                guard try txn.hasTable(table) else {
                    throw CommandExit(status: ExitStatus.notFound, message: "mapstore: dump: no table \(table.debugDescription) in \(db)")
                }
                sections.append((table, try txn.table(table).count()))
            } else {
                let mainCount = try txn.count()
                if !all || mainCount > 0 { sections.append((nil, mainCount)) }
                if all {
                    for name in try txn.tableNames() { sections.append((name, try txn.table(name).count())) }
                }
            }
            // The dump goes to a temporary file that becomes FILE only once it is complete
            // (OutputFile): a failed dump leaves FILE as it was.
            let output = try openOutput()
            var writer = DumpWriter { chunk in try output.write(chunk) }
            var bar = ProgressBar("dumping \(db)", total: sections.reduce(0) { $0 + $1.count }, dataOnStdout: writesToStdout)
            var done = 0
            for section in sections {
                try writer.writeHeader(DumpHeader(format: format, database: section.name,
                                                  mapSize: database.options.maxSize, pageSize: database.pageSize))
                // Damage throws from the cursor here, before DATA=END is
                // written, so a damaged database never yields a dump that looks complete.
                let cursor = try section.name.map { try txn.table($0).cursor() } ?? txn.cursor()
                var more = try cursor.first()
                while more {
                    let (key, value) = try cursor.withCurrent { (key, value) throws(MapStoreError) in (Array(key), Array(value)) }
                    try writer.writeRecord(key: key, value: value)
                    done += 1
                    bar.update(done)
                    more = try cursor.next()
                }
                try writer.writeFooter()
            }
            bar.finish()
            try output.commit()
        }
    }

    /// Whether the dump goes to stdout (no `-o`, or `-o -`).
    var writesToStdout: Bool { output == nil || output == "-" }

    /// Where the dump goes: stdout, or `-o FILE` (given DB's permission bits, or narrower).
    func openOutput() throws -> OutputFile {
        guard let output, !writesToStdout else { return OutputFile.standardOutput() }
        return try OutputFile(path: output, permissions: permissionBits(of: db))
    }
}

/// `mapstore load DB`: reads `mdb_load` text into DB in one durable transaction.
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load LMDB mdb_dump text (bytevalue or print, or plain text with -T) in one transaction.",
        discussion: "Each section goes to the table its database= line names, else to the -s table, else to the main tree. Existing keys are overwritten. A malformed line exits 3 naming its line number, and the database is left unchanged."
    )

    @OptionGroup var dbArgument: DatabaseToWrite
    var db: String { dbArgument.db }

    @Option(name: .customShort("f"), help: ArgumentHelp("Read FILE instead of stdin.", valueName: "FILE"), completion: .file())
    var file: String?

    @Flag(name: .customShort("T"), help: "Plain text: key and value lines alternate, no header (mdb_load -T).")
    var plainText = false

    @Option(name: .customShort("s"), help: ArgumentHelp("Load into the table NAME when a section names none.", valueName: "NAME"))
    var table: String?

    /// Loads everything or nothing; removes a database file the failed load itself created.
    func run() throws {
        let (fd, source, size) = try openInput()
        defer { if fd != STDIN_FILENO { close(fd) } }
        let existed = DatabaseOpener.fileExists(db)
        do {
            try naming(db: db) {
                try load(into: DatabaseOpener.forWriting(db), fd: fd, source: source, size: size)
            }
        } catch {
            if !existed {
                unlink(db)
                unlink(db + "-lock")
            }
            throw error
        }
    }

    /// Reads every section from `fd` into one write transaction of `database`; any
    /// malformed line or refused section throws before the commit, so nothing is written.
    private func load(into database: Database, fd: Int32, source: String, size: Int) throws {
        var bar = ProgressBar("loading \(source)", total: size)
        defer { bar.finish() }
        var consumed = 0
        var reader = DumpReader(plainText: plainText) {
            let chunk = try readChunk(fd: fd, name: source)
            consumed += chunk?.count ?? 0
            return chunk
        }
        do {
            try database.write { txn in
                while let header = try reader.nextSection() {
                    guard header.flags.isEmpty else {
                        throw CommandExit(status: ExitStatus.failure,
                                          message: "mapstore: load: \(source): line \(reader.lineNumber): the section has flags (\(Self.names(of: header.flags))) that MapStore tables do not support; nothing was loaded")
                    }
                    let tableName = header.database ?? table
                    let target: Table?
                    do {
                        target = try tableName.map { try txn.createTable($0) }
                    } catch let error as MapStoreError {
                        throw CommandExit(status: ExitStatus.failure,
                                          message: "mapstore: load: \(source): line \(reader.lineNumber): table \(tableName?.debugDescription ?? ""): \(error); nothing was loaded")
                    }
                    while try reader.withNextRecord({ (key, value, line) -> Bool in
                        do {
                            if let target { try target.put(key, value) } else { try txn.put(key, value) }
                        } catch let error as MapStoreError {
                            throw CommandExit(status: ExitStatus.failure,
                                              message: "mapstore: load: \(source): line \(line): \(error); nothing was loaded")
                        }
                        return true
                    }) != nil {
                        bar.update(consumed)
                    }
                }
            }
        } catch let error as MapStoreError {
            if case let .invalidArgument(reason) = error, reason.hasPrefix("line ") {
                throw CommandExit(status: ExitStatus.failure, message: "mapstore: load: \(source): \(reason); nothing was loaded")
            }
            throw error
        }
    }

    /// The input: stdin, or `-f FILE`; with its size when known (for the progress bar).
    func openInput() throws -> (Int32, String, Int) {
        guard let file, file != "-" else { return (STDIN_FILENO, "stdin", 0) }
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: load: cannot open \(file): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        let size = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : 0
        return (fd, file, size)
    }

    /// `dupsort, integerkey`: the header keywords of `flags`.
    static func names(of flags: DumpTableFlags) -> String {
        let known: [(DumpTableFlags, String)] = [
            (.reverseKey, "reversekey"), (.dupSort, "dupsort"), (.integerKey, "integerkey"),
            (.dupFixed, "dupfixed"), (.integerDup, "integerdup"), (.reverseDup, "reversedup"),
        ]
        return known.filter { flags.contains($0.0) }.map(\.1).joined(separator: ", ")
    }
}
