/// Which tree of the database an operation works on.
@usableFromInline
enum TreeID: Hashable, Sendable {
    case main
    case table(String)
}

/// A consistent, read-only view of the database at one commit.
///
/// Lent to the closure of ``Database/read(_:)`` (or, as a ``WriteTransaction``, of
/// ``Database/write(_:)``) and valid only inside it: a transaction used after its closure
/// returned throws ``MapStoreError/invalidArgument(reason:)``. Readers never block and are
/// never blocked; they see the commit that was newest when they started, however many
/// commits follow. Values lent through ``withValue(forKey:_:)-(_,(RawSpan)->R)`` point straight into the map.
public class ReadTransaction {
    let environment: Environment
    @usableFromInline let pages: TransactionPages
    /// The commit this transaction reads (a write transaction: the commit it builds on; set
    /// again when a handle reuses its write transaction, ``WriteTransaction/restart(base:oldChain:durability:)``).
    @exclusivity(unchecked) var base: Meta
    @usableFromInline @exclusivity(unchecked) var main: TreeRoot
    /// Table roots read from (or, in a writer, changed in) the main tree.
    @exclusivity(unchecked) var tables: [String: TreeRoot?] = [:]
    @usableFromInline @exclusivity(unchecked) var isActive = true
    /// Bumped by every change, so a scan in a write transaction knows to re-seek.
    @usableFromInline @exclusivity(unchecked) var generation: UInt64 = 0
    /// ``freeListWords()`` once read (nil until then, and again when a write transaction is
    /// set up on a new base).
    @exclusivity(unchecked) var inlineFreeList: [UInt64]?

    init(environment: Environment, base: Meta, pages: TransactionPages) {
        self.environment = environment
        self.base = base
        self.pages = pages
        self.main = base.main
    }

    /// The id of the commit this transaction reads.
    public final var transactionID: UInt64 { base.txnID }

    /// The largest key this database accepts, in bytes (998 with 4 KiB pages).
    public final var maxKeySize: Int { environment.limits.maxKeySize }

    /// The free list's words inline in this commit's meta page (format version 4; empty for
    /// older versions and when the working part is in chain pages), read from the map the
    /// first time and kept. Whatever needs this commit's free list asks at the start: its meta
    /// page is overwritten two commits later, and after that this throws
    /// ``MapStoreError/locked(reason:)`` (``Database/check()``, ``Database/stat()`` and backups
    /// then start again on a new transaction).
    package final func freeListWords() throws(MapStoreError) -> [UInt64] {
        if let inlineFreeList { return inlineFreeList }
        guard let words = environment.freeListWords(of: base) else {
            throw MapStoreError.locked(reason: "commit \(base.txnID) was overwritten in its meta page, which holds its free list, before the list was read; read again")
        }
        inlineFreeList = words
        return words
    }

    // MARK: Checks

    @inline(__always)
    final func checkActive() throws(MapStoreError) {
        guard isActive else {
            throw MapStoreError.invalidArgument(reason: "transaction used after its closure returned")
        }
    }

    @inline(__always)
    final func checkKey(_ key: UnsafeRawBufferPointer) throws(MapStoreError) {
        guard key.count >= 1, key.count <= environment.limits.maxKeySize else {
            throw MapStoreError.keyTooLarge(size: key.count, limit: environment.limits.maxKeySize)
        }
    }

    // MARK: Trees

    /// The root of `tree` as this transaction sees it (an absent table is empty).
    @usableFromInline
    final func root(of tree: TreeID) throws(MapStoreError) -> TreeRoot {
        switch tree {
        case .main:
            return main
        case let .table(name):
            if let cached = tables[name] { return cached ?? TreeRoot() }
            let found = try lookupTable(name)
            tables[name] = .some(found)
            return found ?? TreeRoot()
        }
    }

    /// Reads a table's descriptor from the main tree.
    final func lookupTable(_ name: String) throws(MapStoreError) -> TreeRoot? {
        let reader = TreeReader(space: pages)
        return try withContiguousBytes(Array(name.utf8)) { (key) throws(MapStoreError) -> TreeRoot? in
            guard let (page, entry) = try reader.find(main, key: key) else { return nil }
            guard entry.isTable else { return nil }
            return try TableDescriptor.decode(try reader.value(of: entry, in: page), pageCount: pages.pageCount, at: page.pageNumber)
        }
    }

    // MARK: Reading

    /// Calls `body` with the bytes of `key`'s value, straight from the map (no copy), or
    /// returns nil when the key is absent. The buffer is valid only inside `body`.
    @inlinable
    final func withValue<R>(forKey key: UnsafeRawBufferPointer, in tree: TreeID, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        guard let value = try lookup(key, in: tree) else { return nil }
        return try body(value)
    }

    /// The bytes of `key`'s value in the map (or a writer's own page), or nil.
    @usableFromInline
    final func lookup(_ key: UnsafeRawBufferPointer, in tree: TreeID) throws(MapStoreError) -> UnsafeRawBufferPointer? {
        try checkActive()
        try checkKey(key)
        let root: TreeRoot
        if case .main = tree { root = main } else { root = try self.root(of: tree) }
        let reader = TreeReader(space: pages)
        guard let (page, entry) = try reader.find(root, key: key), !entry.isTable else { return nil }
        return try reader.value(of: entry, in: page)
    }

    /// Lends the bytes of `key`'s value in the main tree to `body` as a `RawSpan`, straight from
    /// the map (zero-copy), or returns nil when the key is absent.
    ///
    /// The compiler keeps the span inside `body` (it cannot be stored or returned), which the
    /// buffer of the `UnsafeRawBufferPointer` form only asks of its caller; reading it costs the
    /// same, a load plus a bounds check. A closure whose parameter type is left to inference gets
    /// this form unless its body needs the buffer's API (`count`, a subscript, `baseAddress`).
    ///
    /// ```swift
    /// let first = try txn.withValue(forKey: key) { (value: RawSpan) in
    ///     value.isEmpty ? nil : value.unsafeLoad(as: UInt8.self)
    /// }
    /// ```
    @inlinable
    final public func withValue<K: Collection<UInt8>, R>(forKey key: K, _ body: (RawSpan) throws -> R) throws -> R? {
        try withValue(forKey: key, in: .main) { try body($0.bytes) }
    }

    /// Calls `body` with the bytes of `key`'s value in the main tree, straight from the map
    /// (zero-copy), or returns nil when the key is absent. The buffer is valid only inside `body`
    /// (the `RawSpan` form, ``withValue(forKey:_:)-(K,(RawSpan)->R)``, has the compiler check that).
    @inlinable @_disfavoredOverload
    final public func withValue<K: Collection<UInt8>, R>(forKey key: K, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try withValue(forKey: key, in: .main, body)
    }

    @inlinable
    final func withValue<K: Collection<UInt8>, R>(forKey key: K, in tree: TreeID, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        // Arrays and native strings lend their storage: no copy of the key, no allocation.
        if let result = try key.withContiguousStorageIfAvailable({ try withValue(forKey: UnsafeRawBufferPointer($0), in: tree, body) }) {
            return result
        }
        return try Array(key).withUnsafeBytes { try withValue(forKey: $0, in: tree, body) }
    }

    /// The value stored under `key`, or nil when the key is absent.
    @inlinable
    final public func get<K: Collection<UInt8>>(_ key: K) throws(MapStoreError) -> [UInt8]? {
        try get(key, in: .main)
    }

    /// The value stored under the UTF-8 bytes of `key`, or nil.
    final public func get(_ key: String) throws(MapStoreError) -> [UInt8]? {
        try get(key.utf8, in: .main)
    }

    /// The value under the UTF-8 bytes of `key`, decoded as UTF-8 (invalid sequences repaired), or nil.
    final public func getString(_ key: String) throws(MapStoreError) -> String? {
        guard let bytes = try get(key.utf8, in: .main) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `key` is present.
    final public func contains<K: Collection<UInt8>>(_ key: K) throws(MapStoreError) -> Bool {
        try get(key, in: .main) != nil
    }

    @inlinable
    final func get<K: Collection<UInt8>>(_ key: K, in tree: TreeID) throws(MapStoreError) -> [UInt8]? {
        try withContiguousBytes(key) { (key) throws(MapStoreError) -> [UInt8]? in try get(key: key, in: tree) }
    }

    @usableFromInline
    final func get(key: UnsafeRawBufferPointer, in tree: TreeID) throws(MapStoreError) -> [UInt8]? {
        guard let value = try lookup(key, in: tree) else { return nil }
        return Array(value)
    }

    /// A cursor over the main tree.
    final public func cursor() throws(MapStoreError) -> Cursor {
        try checkActive()
        return Cursor(transaction: self, tree: .main)
    }

    // MARK: Tables

    /// The table named `name`: an empty one when it does not exist (a write creates it).
    final public func table(_ name: String) throws(MapStoreError) -> Table {
        try checkActive()
        guard !name.isEmpty, name.utf8.count <= maxKeySize else {
            throw MapStoreError.invalidArgument(reason: "table name must be 1...\(maxKeySize) bytes of UTF-8")
        }
        return Table(transaction: self, name: name)
    }

    /// Whether a table named `name` exists.
    final public func hasTable(_ name: String) throws(MapStoreError) -> Bool {
        try checkActive()
        if let cached = tables[name] { return cached != nil }
        return try lookupTable(name) != nil
    }

    /// The names of all tables, in byte order of their UTF-8 names.
    final public func tableNames() throws(MapStoreError) -> [String] {
        try checkActive()
        var names: [String] = []
        var cursor = TreeCursor(source: pages, tree: main, pageCount: pages.pageCount)
        var more = try cursor.first()
        while more {
            let (_, entry) = try cursor.current()
            if entry.isTable { names.append(String(decoding: entry.key, as: UTF8.self)) }
            more = try cursor.next()
        }
        // A writer's tables created or dropped since its last flush live in `tables` only.
        var set = Set(names)
        for (name, root) in tables {
            if root == nil { set.remove(name) } else { set.insert(name) }
        }
        return set.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Entries in the main tree (tables not counted).
    final public func count() throws(MapStoreError) -> Int {
        try checkActive()
        return Int(main.entries)
    }

    final func finish() {
        isActive = false
    }
}
