import ArgumentParser
import MapStore

// stat and check: what a database holds and whether it is sound.

/// `mapstore stat DB`: figures about the newest commit, or about one table with --table.
struct StatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stat",
        abstract: "Print figures about the newest commit, or with --table about one table (--json: one object).",
        discussion: "With --table NAME: path, table, entries, treeDepth and pages (the table's branch, leaf and overflow pages)."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @Flag(help: "One JSON object with entries, pageSize, filePages, usedPages, freePages, treeDepth, transactionID, snapshots, tables, mappingMode, readers.")
    var json = false

    @OptionGroup var tableOption: TableOption

    /// Opens the database read-only and prints its statistics, or the table's.
    func run() throws {
        let rows = try naming(db: db) { () throws -> [(name: String, value: Field)] in
            let database = try DatabaseOpener.forReading(db)
            guard let table = tableOption.table else { return Self.fields(try database.stat(), path: db) }
            guard let stat = try database.stat(table: table) else { throw noSuchTable(table) }
            return Self.fields(stat, path: db)
        }
        var out = Output()
        try out.write(json ? Self.json(rows) + "\n" : Self.text(rows))
        try out.flush()
    }

    /// One figure: a number, or text (quoted in JSON).
    enum Field {
        /// A number, printed as is.
        case number(String)
        /// Text, quoted and escaped in JSON.
        case text(String)

        /// The value as JSON.
        var json: String {
            switch self {
            case let .number(value): value
            case let .text(value): JSON.string(value)
            }
        }

        /// The value as plain text.
        var plain: String {
            switch self {
            case let .number(value), let .text(value): value
            }
        }
    }

    /// The fields in print order.
    static func fields(_ stat: Statistics, path: String) -> [(name: String, value: Field)] {
        [
            ("path", .text(path)),
            ("entries", .number("\(stat.entries)")),
            ("tables", .number("\(stat.tables)")),
            ("pageSize", .number("\(stat.pageSize)")),
            ("filePages", .number("\(stat.filePages)")),
            ("usedPages", .number("\(stat.usedPages)")),
            ("freePages", .number("\(stat.freePages)")),
            ("treeDepth", .number("\(stat.treeDepth)")),
            ("transactionID", .number("\(stat.transactionID)")),
            ("snapshots", .number("\(stat.snapshots)")),
            ("mappingMode", .text(stat.mappingMode.rawValue)),
            ("readers", .number("\(stat.readers)")),
        ]
    }

    /// The fields of `stat --table`, in print order.
    static func fields(_ stat: TableStatistics, path: String) -> [(name: String, value: Field)] {
        [
            ("path", .text(path)),
            ("table", .text(stat.name)),
            ("entries", .number("\(stat.entries)")),
            ("treeDepth", .number("\(stat.treeDepth)")),
            ("pages", .number("\(stat.pages)")),
        ]
    }

    /// One object on one line.
    static func json(_ rows: [(name: String, value: Field)]) -> String {
        JSON.object(rows.map { ($0.name, $0.value.json) })
    }

    /// `name: value` lines, the values lined up in one column.
    static func text(_ rows: [(name: String, value: Field)]) -> String {
        let width = rows.map(\.name.count).max() ?? 0
        return rows.map { row in
            row.name + ":" + String(repeating: " ", count: width - row.name.count + 1) + row.value.plain + "\n"
        }.joined()
    }
}

/// `mapstore check DB`: verifies every invariant; exit 0 when sound, 3 when damaged.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify checksums, key order, tree shape and page ownership (exit 3 when damaged).",
        discussion: "Prints one line per problem, \"page N: what is wrong\", on stdout; --json prints {\"path\": ..., \"ok\": ..., \"problems\": [{\"page\": N, \"message\": ...}]}."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @Flag(help: "One JSON object holding the list of problems.")
    var json = false

    /// Runs the check; a file too damaged to open counts as a problem found, not a crash.
    func run() throws {
        var bar = ProgressBar("checking \(db)", total: 0)
        let problems = try naming(db: db) { () throws -> [CheckProblem] in
            defer { bar.finish() }
            do {
                return try DatabaseOpener.forReading(db).check { done, total in bar.update(done, of: total) }
            } catch MapStoreError.corrupted(let page, let reason) {
                // Damage that stops the open (both meta pages bad, truncated file) is still a finding.
                return [CheckProblem(page: page, message: reason)]
            }
        }
        var out = Output()
        if json {
            let list = problems.map { JSON.object([("page", "\($0.page)"), ("message", JSON.string($0.message))]) }
            try out.write(JSON.object([
                ("path", JSON.string(db)), ("ok", problems.isEmpty ? "true" : "false"),
                ("problems", "[" + list.joined(separator: ", ") + "]"),
            ]) + "\n")
        } else if problems.isEmpty {
            try out.write("ok: \(db) passed every check\n")
        } else {
            for problem in problems { try out.write("\(problem)\n") }
        }
        try out.flush()
        guard problems.isEmpty else {
            let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: check: \(db) is damaged: \(count) found")
        }
    }
}
