import Foundation
import GRDB
import MapStore

/// What the service needs from a store: the same endpoints on MapStore and on SQLite.
public protocol KVBackend: Sendable {
    /// A short name for logs and the load test's table.
    var name: String { get }
    /// The value of `key`, or nil.
    func get(_ key: String) async throws -> [UInt8]?
    /// Stores `value` under `key` (durably, before returning).
    func put(_ key: String, _ value: [UInt8]) async throws
    /// Removes `key`; false when it was absent.
    func delete(_ key: String) async throws -> Bool
    /// Up to `limit` entries whose key starts with `prefix`, in key order.
    func scan(prefix: String, limit: Int) async throws -> [(key: String, value: [UInt8])]
    /// Pins the current state under `name`; nil when the store has no snapshots.
    func createSnapshot(_ name: String) async throws -> Bool?
    /// Figures for `GET /stats`.
    func stats() async throws -> [String: Int]
}

/// The service's state in MapStore: reads on the calling task, writes on the database's
/// writer thread (`await db.write`), so no request blocks Swift's cooperative pool.
public struct MapStoreBackend: KVBackend {
    public let database: MapStore.Database
    public var name: String { "mapstore" }

    /// Opens (or creates) the database at `path`; `durability` is what each commit waits for.
    /// With `groupCommit`, PUTs and DELETEs that arrive together share their syncs
    /// (`Options.groupCommit`): each is still answered only once durable.
    public init(path: String, durability: Durability = .full, groupCommit: Bool = false) throws {
        var options = Options(mappingMode: .readOnly, durability: durability)
        options.groupCommit = groupCommit
        database = try MapStore.Database(path: path, options: options)
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        try await database.read { try $0.get(key) }
    }

    public func put(_ key: String, _ value: [UInt8]) async throws {
        try await database.write { try $0.put(key, value) }
    }

    public func delete(_ key: String) async throws -> Bool {
        try await database.write { try $0.delete(key) }
    }

    public func scan(prefix: String, limit: Int) async throws -> [(key: String, value: [UInt8])] {
        try await database.read { txn in
            try txn.entries(in: .prefix(prefix), limit: limit).map { (String(decoding: $0.key, as: UTF8.self), $0.value) }
        }
    }

    public func createSnapshot(_ name: String) async throws -> Bool? {
        if try database.hasSnapshot(name) { return false }
        _ = try database.createSnapshot(name)
        return true
    }

    public func stats() async throws -> [String: Int] {
        let stat = try database.stat()
        return ["entries": stat.entries, "usedPages": stat.usedPages, "freePages": stat.freePages,
                "treeDepth": stat.treeDepth, "transactionID": Int(stat.transactionID), "snapshots": stat.snapshots]
    }
}

/// The same service on SQLite through GRDB: a `kv(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID`
/// table in a WAL database pool. GRDB's defaults set `synchronous = NORMAL`: a commit does
/// not wait for the disk (the WAL is synced at checkpoints), so a power cut may lose the
/// commits since the last checkpoint, never consistency. MapStore has no mode that syncs
/// nothing per commit and stays consistent; its `.noMetaSync` loses at most the last commit
/// and syncs once per commit. `synchronous = FULL` syncs the WAL at every commit: the
/// durability of MapStore's `.full`.
public struct SQLiteBackend: KVBackend {
    /// SQLite's `synchronous` setting for the pool's connections.
    public enum Synchronous: String, Sendable {
        /// Sync the WAL at checkpoints only (GRDB's default in WAL mode).
        case normal = "NORMAL"
        /// Sync the WAL at every commit.
        case full = "FULL"
    }

    public let pool: DatabasePool
    public var name: String { "sqlite" }

    /// Opens (or creates) the SQLite database at `path`, its connections set to `synchronous`.
    public init(path: String, synchronous: Synchronous = .normal) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        // The pool sets its writer to NORMAL when it turns WAL mode on, after
        // prepareDatabase ran: set the one writer connection again.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
        }
        try pool.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT v FROM kv WHERE k = ?", arguments: [key]).map { [UInt8]($0) }
        }
    }

    public func put(_ key: String, _ value: [UInt8]) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", arguments: [key, Data(value)])
        }
    }

    public func delete(_ key: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM kv WHERE k = ?", arguments: [key])
            return db.changesCount > 0
        }
    }

    public func scan(prefix: String, limit: Int) async throws -> [(key: String, value: [UInt8])] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?", arguments: [prefix, limit * 4 + 16])
                .map { (key: $0["k"] as String, value: [UInt8]($0["v"] as Data)) }
                .filter { $0.key.hasPrefix(prefix) }
                .prefix(limit)
                .map { $0 }
        }
    }

    public func createSnapshot(_ name: String) async throws -> Bool? { nil }

    public func stats() async throws -> [String: Int] {
        try await pool.read { db in
            ["entries": try Int.fetchOne(db, sql: "SELECT count(*) FROM kv") ?? 0]
        }
    }
}
