import CSQLite

/// SQLite through its C API, the way a careful app uses it: a `WITHOUT ROWID` table, WAL,
/// `synchronous=OFF` for the non-durable workloads and `FULL` for the durable ones,
/// statements prepared once and reused, each batch in one transaction.
final class SQLiteEngine: Engine {
    let db: OpaquePointer
    let directory: String
    let durable: Bool
    private var statements: [String: OpaquePointer] = [:]

    init(directory: String, durable: Bool) throws {
        self.directory = directory
        self.durable = durable
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(directory + "/data.sqlite", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else { throw BenchError(description: "sqlite3_open_v2: \(rc)") }
        self.db = db
        try exec("PRAGMA journal_mode=WAL")
        try exec("PRAGMA synchronous=\(durable ? "FULL" : "OFF")")
        try exec("CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
    }

    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
        sqlite3_close(db)
    }

    func readerHandle() throws -> Engine { try SQLiteEngine(directory: directory, durable: durable) }

    private func exec(_ sql: String) throws {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw failure(sql, rc) }
    }

    private func failure(_ what: String, _ rc: Int32) -> BenchError {
        BenchError(description: "SQLite \(what): \(String(cString: sqlite3_errmsg(db))) (\(rc))")
    }

    /// The prepared statement for `sql`, prepared on first use and reused after.
    private func statement(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw failure("prepare \(sql)", rc) }
        statements[sql] = statement
        return statement
    }

    private func step(_ statement: OpaquePointer, expect: Int32 = SQLITE_DONE) throws -> Int32 {
        let rc = sqlite3_step(statement)
        guard rc == expect || rc == SQLITE_ROW || rc == SQLITE_DONE else { throw failure("step", rc) }
        return rc
    }

    private func run(_ statement: OpaquePointer) throws {
        _ = try step(statement)
        sqlite3_reset(statement)
    }

    func write(_ keys: KeySet, _ order: ArraySlice<Int32>, value: UnsafeRawBufferPointer, batch: Int) throws {
        let begin = try statement("BEGIN"), commit = try statement("COMMIT")
        let insert = try statement("INSERT OR REPLACE INTO kv(k, v) VALUES(?, ?)")
        var i = order.startIndex
        while i < order.endIndex {
            try run(begin)
            let end = min(order.endIndex, i + batch)
            while i < end {
                let key = keys[order[i]]
                // A nil destructor is SQLITE_STATIC: the bytes outlive the statement's use.
                sqlite3_bind_blob(insert, 1, key.baseAddress, Int32(key.count), nil)
                sqlite3_bind_blob(insert, 2, value.baseAddress, Int32(value.count), nil)
                try run(insert)
                i += 1
            }
            try run(commit)
        }
    }

    func delete(_ keys: KeySet, _ order: ArraySlice<Int32>, batch: Int) throws -> Int {
        let begin = try statement("BEGIN"), commit = try statement("COMMIT")
        let delete = try statement("DELETE FROM kv WHERE k = ?")
        var deleted = 0
        var i = order.startIndex
        while i < order.endIndex {
            try run(begin)
            let end = min(order.endIndex, i + batch)
            while i < end {
                let key = keys[order[i]]
                sqlite3_bind_blob(delete, 1, key.baseAddress, Int32(key.count), nil)
                try run(delete)
                deleted += Int(sqlite3_changes(db))
                i += 1
            }
            try run(commit)
        }
        return deleted
    }

    func get(_ keys: KeySet, _ order: ArraySlice<Int32>) throws -> Int {
        let begin = try statement("BEGIN"), commit = try statement("COMMIT")
        let select = try statement("SELECT v FROM kv WHERE k = ?")
        try run(begin)
        var found = 0, touched = 0
        for index in order {
            let key = keys[index]
            sqlite3_bind_blob(select, 1, key.baseAddress, Int32(key.count), nil)
            if try step(select) == SQLITE_ROW {
                found += 1
                let bytes = sqlite3_column_blob(select, 0)
                let count = Int(sqlite3_column_bytes(select, 0))
                touched &+= count > 0 ? Int(bytes!.load(as: UInt8.self)) : 0
            }
            sqlite3_reset(select)
        }
        try run(commit)
        blackHole(touched)
        return found
    }

    func scan(reverse: Bool) throws -> Int {
        let begin = try statement("BEGIN"), commit = try statement("COMMIT")
        let select = try statement(reverse ? "SELECT k, v FROM kv ORDER BY k DESC" : "SELECT k, v FROM kv ORDER BY k")
        try run(begin)
        var count = 0, touched = 0
        while try step(select) == SQLITE_ROW {
            count += 1
            _ = sqlite3_column_blob(select, 0)
            _ = sqlite3_column_blob(select, 1)
            touched &+= Int(sqlite3_column_bytes(select, 0)) &+ Int(sqlite3_column_bytes(select, 1))
        }
        sqlite3_reset(select)
        try run(commit)
        blackHole(touched)
        return count
    }

    func seek(_ keys: KeySet, _ order: ArraySlice<Int32>, entries: Int) throws -> Int {
        let begin = try statement("BEGIN"), commit = try statement("COMMIT")
        let select = try statement("SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?")
        try run(begin)
        var read = 0, touched = 0
        for index in order {
            let key = keys[index]
            sqlite3_bind_blob(select, 1, key.baseAddress, Int32(key.count), nil)
            sqlite3_bind_int(select, 2, Int32(entries))
            while try step(select) == SQLITE_ROW {
                read += 1
                _ = sqlite3_column_blob(select, 0)
                _ = sqlite3_column_blob(select, 1)
                touched &+= Int(sqlite3_column_bytes(select, 0)) &+ Int(sqlite3_column_bytes(select, 1))
            }
            sqlite3_reset(select)
        }
        try run(commit)
        blackHole(touched)
        return read
    }
}
