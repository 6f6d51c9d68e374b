/// The one transaction at a time that changes the database.
///
/// Lent to the closure of ``Database/write(_:)``: it commits when the closure returns and
/// is rolled back when the closure throws. It reads its own writes. Every page it changes
/// is a copy in a page no reader can see, so readers go on undisturbed.
public final class WriteTransaction: ReadTransaction {
    /// The write side this transaction began on (it reaches it only while it is active,
    /// under the writer lock).
    let writer: Writer
    @exclusivity(unchecked) var treeWriter: TreeWriter<TransactionPages>
    /// Tables whose roots changed (or that were created or dropped) since they were read.
    @exclusivity(unchecked) var changedTables: Set<String> = []
    /// The free list's chain in the base commit, freed when this one commits (whose chain
    /// then reuses the array).
    @exclusivity(unchecked) var oldChain: [UInt64]
    @exclusivity(unchecked) var hasChanges = false
    /// What the commit waits for (the handle's option).
    @exclusivity(unchecked) var durability: Durability
    /// The snapshot catalog as this transaction leaves it (Snapshots/SnapshotCatalog.swift).
    @exclusivity(unchecked) var catalog: CatalogState

    init(environment: Environment, writer: Writer, base: Meta, pages: TransactionPages, oldChain: [UInt64], durability: Durability) {
        // The path array of the writer before (kept by the write side): no allocation per transaction.
        var path: [(number: UInt64, index: Int)] = []
        swap(&path, &writer.sparePath)
        self.writer = writer
        self.treeWriter = TreeWriter(space: pages, path: path)
        self.oldChain = oldChain
        self.durability = durability
        self.catalog = CatalogState(base)
        self.committingTransactionID = pages.txnID
        super.init(environment: environment, base: base, pages: pages)
    }

    /// The id the commit of this transaction will have.
    // (Unchecked exclusivity like the other fields: set only by the writer, and its dynamic
    // access check was a third of restarting a transaction.)
    @exclusivity(unchecked) public internal(set) var committingTransactionID: UInt64

    /// Makes this ended transaction, which nothing outside its handle holds (its handle made
    /// sure: ``Writer/end(_:keepingIn:)``), a new one on `base`, as ``init`` would build it. Its
    /// page view, parked with it, has been restarted by the caller.
    func restart(base: Meta, oldChain: consuming [UInt64], durability: Durability) {
        precondition(!isActive && !pages.isParked, "restart of a transaction in use")
        swap(&treeWriter.path, &writer.sparePath)
        self.base = base
        main = base.main
        if inlineFreeList != nil { inlineFreeList = nil }
        if !tables.isEmpty { tables.removeAll() }
        if !changedTables.isEmpty { changedTables.removeAll() }
        self.oldChain = oldChain
        hasChanges = false
        self.durability = durability
        catalog = CatalogState(base)
        committingTransactionID = pages.txnID
        isActive = true
    }

    // MARK: Changing entries

    func setRoot(_ root: TreeRoot, of tree: TreeID) {
        switch tree {
        case .main: main = root
        case let .table(name):
            tables[name] = .some(root)
            changedTables.insert(name)
        }
    }

    @usableFromInline
    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, in tree: TreeID) throws(MapStoreError) {
        try checkActive()
        try checkKey(key)
        guard value.count <= TreeLimits.maxValueSize else {
            throw MapStoreError.valueTooLarge(size: value.count, limit: TreeLimits.maxValueSize)
        }
        var root = try root(of: tree)
        generation &+= 1
        hasChanges = true
        defer { setRoot(root, of: tree) }
        try treeWriter.put(&root, key: key, value: value)
    }

    @usableFromInline
    func delete(key: UnsafeRawBufferPointer, in tree: TreeID) throws(MapStoreError) -> Bool {
        try checkActive()
        try checkKey(key)
        var root = try root(of: tree)
        guard !root.isEmpty else { return false }
        generation &+= 1
        defer { setRoot(root, of: tree) }
        let removed = try treeWriter.delete(&root, key: key)
        if removed { hasChanges = true }
        return removed
    }

    /// Stores `value` under `key` in the main tree, replacing any value there.
    @inlinable
    public func put<K: Collection<UInt8>, V: Collection<UInt8>>(_ key: K, _ value: V) throws(MapStoreError) {
        try withContiguousBytes(key) { (key) throws(MapStoreError) in
            try withContiguousBytes(value) { (value) throws(MapStoreError) in try put(key: key, value: value, in: .main) }
        }
    }

    /// Stores the UTF-8 bytes of `value` under the UTF-8 bytes of `key`.
    public func put(_ key: String, _ value: String) throws(MapStoreError) {
        try put(key.utf8, value.utf8)
    }

    /// Stores `value` under the UTF-8 bytes of `key`.
    public func put<V: Collection<UInt8>>(_ key: String, _ value: V) throws(MapStoreError) {
        try put(key.utf8, value)
    }

    /// Removes `key` from the main tree; returns false when it was absent.
    @discardableResult @inlinable
    public func delete<K: Collection<UInt8>>(_ key: K) throws(MapStoreError) -> Bool {
        try withContiguousBytes(key) { (key) throws(MapStoreError) in try delete(key: key, in: .main) }
    }

    /// Removes the UTF-8 bytes of `key`; returns false when it was absent.
    @discardableResult
    public func delete(_ key: String) throws(MapStoreError) -> Bool {
        try delete(key.utf8)
    }

    // MARK: Tables

    /// Creates the table `name` if it does not exist yet (writing into a table also creates it).
    @discardableResult
    public func createTable(_ name: String) throws(MapStoreError) -> Table {
        let table = try table(name)
        if !(try hasTable(name)) {
            tables[name] = .some(TreeRoot())
            changedTables.insert(name)
            hasChanges = true
            generation &+= 1
        }
        return table
    }

    /// Deletes the table `name` and all its entries; returns false when there was none.
    @discardableResult
    public func dropTable(_ name: String) throws(MapStoreError) -> Bool {
        try checkActive()
        guard try hasTable(name) else { return false }
        let root = try root(of: .table(name))
        try treeWriter.freeAll(root)
        tables[name] = .some(nil)
        changedTables.insert(name)
        hasChanges = true
        generation &+= 1
        return true
    }

    /// Ends the transaction after its commit or abort, under the writer lock: no use after
    /// this, its page buffers go back to the pool and its path array to the write side; its
    /// page view is parked (``Writer/end(_:keepingIn:)`` decides who keeps it).
    func end() {
        finish()
        pages.releaseBuffers()
        treeWriter.path.empty()
        swap(&treeWriter.path, &writer.sparePath)
        pages.park()
    }

    /// Writes the changed tables' descriptors into the main tree.
    func flushTables() throws(MapStoreError) {
        // The usual transaction changes no table: `sorted()` of an empty set still costs.
        guard !changedTables.isEmpty else { return }
        for name in changedTables.sorted() {
            let key = Array(name.utf8)
            try withBytes(of: key) { (key) throws(MapStoreError) in
                if let root = tables[name] ?? nil {
                    try withBytes(of: TableDescriptor.encode(root)) { (value) throws(MapStoreError) in
                        try treeWriter.put(&main, key: key, value: value, isTable: true)
                    }
                } else {
                    _ = try treeWriter.delete(&main, key: key, isTable: true)
                }
            }
        }
        changedTables.removeAll()
    }
}

/// A named tree of its own in the database, like LMDB's named databases or bbolt's buckets.
///
/// Obtained from ``ReadTransaction/table(_:)`` and valid inside that transaction only.
/// Writing needs the table of a ``WriteTransaction``; a table that does not exist reads as empty.
public struct Table {
    let transaction: ReadTransaction
    /// The table's name.
    public let name: String

    var id: TreeID { .table(name) }

    func writeTransaction() throws(MapStoreError) -> WriteTransaction {
        guard let writer = transaction as? WriteTransaction else {
            throw MapStoreError.readOnly(reason: "table '\(name)' was opened in a read transaction")
        }
        return writer
    }

    /// The value under `key`, or nil.
    public func get<K: Collection<UInt8>>(_ key: K) throws(MapStoreError) -> [UInt8]? {
        try transaction.get(key, in: id)
    }

    /// The value under the UTF-8 bytes of `key`, or nil.
    public func get(_ key: String) throws(MapStoreError) -> [UInt8]? {
        try transaction.get(key.utf8, in: id)
    }

    /// Lends `key`'s value, zero-copy, to `body` as a `RawSpan` that cannot leave it; nil when
    /// absent. See ``ReadTransaction/withValue(forKey:_:)-(K,(RawSpan)->R)``.
    public func withValue<K: Collection<UInt8>, R>(forKey key: K, _ body: (RawSpan) throws -> R) throws -> R? {
        try transaction.withValue(forKey: key, in: id) { try body($0.bytes) }
    }

    /// Lends `key`'s value, zero-copy, to `body`; nil when absent.
    @_disfavoredOverload
    public func withValue<K: Collection<UInt8>, R>(forKey key: K, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try transaction.withValue(forKey: key, in: id, body)
    }

    /// Stores `value` under `key`.
    public func put<K: Collection<UInt8>, V: Collection<UInt8>>(_ key: K, _ value: V) throws(MapStoreError) {
        let writer = try writeTransaction()
        try withContiguousBytes(key) { (key) throws(MapStoreError) in
            try withContiguousBytes(value) { (value) throws(MapStoreError) in try writer.put(key: key, value: value, in: id) }
        }
    }

    /// Stores the UTF-8 bytes of `value` under the UTF-8 bytes of `key`.
    public func put(_ key: String, _ value: String) throws(MapStoreError) {
        try put(key.utf8, value.utf8)
    }

    /// Removes `key`; false when it was absent.
    @discardableResult
    public func delete<K: Collection<UInt8>>(_ key: K) throws(MapStoreError) -> Bool {
        let writer = try writeTransaction()
        return try withContiguousBytes(key) { (key) throws(MapStoreError) in try writer.delete(key: key, in: id) }
    }

    /// A cursor over the table.
    public func cursor() throws(MapStoreError) -> Cursor {
        try transaction.checkActive()
        return Cursor(transaction: transaction, tree: id)
    }

    /// The number of entries in the table.
    public func count() throws(MapStoreError) -> Int {
        Int(try transaction.root(of: id).entries)
    }
}
