/// An open MapStore database: one data file mapped into the process.
///
/// ```swift
/// let db = try Database(path: "shop.mapstore")
/// try db.write { txn in
///     try txn.put("apple", "3")
/// }
/// let apples = try db.read { txn in try txn.getString("apple") }
/// ```
///
/// `Database` is `Sendable`: share one instance between threads. Any number of read
/// transactions run at once and never wait; write transactions take turns (across threads
/// and processes). The file is closed and unmapped when the last reference goes away.
public final class Database: Sendable {
    let environment: Environment
    /// The options of this handle. Two handles on one file share the map and the reader
    /// list; durability and checksum verification are each handle's own.
    public let options: Options
    /// What the write side needs of this handle: its options and its last write transaction.
    let writeHandle: WriteHandle

    /// The largest value, in bytes: 1 GiB.
    public static let maxValueSize = TreeLimits.maxValueSize

    /// Opens (or, with ``Options/create``, creates) the database at `path`. Its lock file is
    /// `path + "-lock"`.
    public init(path: String, options: Options = Options()) throws(MapStoreError) {
        environment = try EnvironmentRegistry.acquire(path: path, options: options)
        self.options = options
        writeHandle = WriteHandle(options: options)
    }

    deinit {
        EnvironmentRegistry.release(environment)
    }

    /// The data file's path.
    public var path: String { environment.path }

    /// The largest key, in bytes, for this database's page size (998 with 4 KiB pages).
    public var maxKeySize: Int { environment.limits.maxKeySize }

    /// The page size of the file (the machine's page size).
    public var pageSize: Int { environment.pageSize }

    /// Runs `body` in a read transaction at the newest commit and returns its result.
    ///
    /// The transaction sees one commit for its whole life, whatever writers do meanwhile,
    /// and must not escape `body`. Every read in `body` throws where it meets damage (a
    /// ``Scan`` too, from its ``Scan/next()``); what `body` throws is rethrown here.
    public func read<R>(_ body: (ReadTransaction) throws -> R) throws -> R {
        let ticket = try environment.beginRead()
        defer { environment.endRead(ticket) }
        let meta = ticket.meta
        let pages = TransactionPages(base: environment.mapping.base, pageSize: environment.pageSize, pageChecksum: environment.pageChecksum,
                                     pageCount: meta.pageCount, verifyChecksums: options.verifyChecksums, tracer: options.shadow)
        let transaction = ReadTransaction(environment: environment, base: meta, pages: pages)
        defer { transaction.finish() }
        let result = try body(transaction)
        return result
    }

    /// Runs `body` in the write transaction and commits when it returns; a throw rolls
    /// everything back. Write transactions take turns across threads and processes; a
    /// nested `write` on the same thread throws instead of deadlocking.
    public func write<R>(_ body: (WriteTransaction) throws -> R) throws -> R {
        let environment = self.environment
        try refuseWritesUnlessWritable()
        return try environment.withWriter(timeout: options.writerTimeout) { writer in
            try writer.run(for: writeHandle, body)
        }
    }

    /// Makes every commit so far durable with one fdatasync of the data file, whatever
    /// durability wrote it: the way to end a burst of ``Durability/lazy`` (or `.noMetaSync`,
    /// `.none`) commits at a point of your choosing, like LMDB's `mdb_env_sync`. It waits
    /// for the writer lock (``Options/writerTimeout``). A failed sync poisons the handle, as a
    /// failed commit does. Nothing to do for a `.privateCopyOnWrite` handle.
    public func sync() throws {
        try refuseWritesUnlessWritable()
        try environment.withWriter(timeout: options.writerTimeout) { writer in try writer.syncFile() }
    }

    /// Throws when this handle must not write: it was opened read-only, or the database is a
    /// read replica (``MapStoreError/readReplica(source:)``) and this is not its follower.
    func refuseWritesUnlessWritable() throws(MapStoreError) {
        guard !options.readOnly else {
            throw MapStoreError.readOnly(reason: "\(environment.path) was opened read-only")
        }
        if let source = environment.replicaSource, !options.appliesReplicaCommits {
            throw MapStoreError.readReplica(source: source)
        }
    }
}
