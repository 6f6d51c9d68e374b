/// A named table whose keys are `Key`s and whose values are `Value`s, written and read
/// through a ``ValueCoder``.
///
/// ```swift
/// struct Order: Codable { var item: String; var quantity: Int }
///
/// try db.write { txn in
///     let orders = try txn.table("orders", key: Tuple.self, value: Order.self)
///     try orders.put(Tuple("alice", 1), Order(item: "apple", quantity: 3))
/// }
/// let alices = try db.read { txn in
///     try txn.table("orders", key: Tuple.self, value: Order.self).entries(in: .prefix(Tuple("alice")))
/// }
/// ```
///
/// It is a ``Table`` underneath (the same tree, readable as bytes too) and, like it, valid
/// only inside its transaction; writing needs a ``WriteTransaction``'s. Keys are ordered by
/// their bytes: a ``Tuple`` key scans in tuple order. A stored key or value that is not an
/// encoding of `Key` or `Value` throws ``MapStoreError/decodingFailed(reason:)`` naming the
/// table, the key and the type, e.g. `cannot decode Order for key ("alice", 3) in table
/// 'orders': at quantity: byte 23: expected an integer (Int), found a String`.
public struct TypedTable<Key: TableKey, Value: Codable> {
    /// The table as bytes.
    public let table: Table
    /// How values become bytes and back.
    public let coder: any ValueCoder

    /// The table's name.
    public var name: String { table.name }

    // MARK: Single entries

    /// The value under `key`, or nil.
    public func get(_ key: Key) throws(MapStoreError) -> Value? {
        try key.withKeyBytes { (bytes) throws(MapStoreError) -> Value? in
            guard let value = try table.transaction.lookup(bytes, in: table.id) else { return nil }
            return try decodeValue(value, key: key.keyDescription)
        }
    }

    /// Whether `key` is present.
    public func contains(_ key: Key) throws(MapStoreError) -> Bool {
        try key.withKeyBytes { (bytes) throws(MapStoreError) in try table.transaction.lookup(bytes, in: table.id) != nil }
    }

    /// Stores `value` under `key`, replacing any value there. A value the coder cannot encode
    /// throws ``MapStoreError/invalidArgument(reason:)`` naming the key and the type.
    public func put(_ key: Key, _ value: Value) throws(MapStoreError) {
        let bytes: [UInt8]
        do {
            bytes = try coder.encode(value)
        } catch {
            throw MapStoreError.invalidArgument(
                reason: "cannot encode \(Value.self) for key \(key.keyDescription) in table '\(name)': \(describeCodingError(error))")
        }
        try key.withKeyBytes { (key) throws(MapStoreError) in try table.put(key, bytes) }
    }

    /// Removes `key`; false when it was absent.
    @discardableResult
    public func delete(_ key: Key) throws(MapStoreError) -> Bool {
        try key.withKeyBytes { (bytes) throws(MapStoreError) in try table.delete(bytes) }
    }

    /// The number of entries.
    public func count() throws(MapStoreError) -> Int {
        try table.count()
    }

    // MARK: Ranges

    /// The entries in `range` in key order (or reverse), decoded one at a time: a
    /// ``TypedScan`` whose ``TypedScan/next()`` throws at damage or at an entry that does not decode.
    public func scan(_ range: KeyRange = .all, reverse: Bool = false) -> TypedScan<Key, Value> {
        TypedScan(table: self, scan: table.scan(range, reverse: reverse))
    }

    /// The entries in `range`, decoded into an array: at most `limit` of them, the first in
    /// the scan's order.
    public func entries(in range: KeyRange = .all, reverse: Bool = false,
                        limit: Int = .max) throws(MapStoreError) -> [(key: Key, value: Value)] {
        precondition(limit >= 0, "a negative limit (\(limit))")
        var scan = scan(range, reverse: reverse)
        var entries: [(key: Key, value: Value)] = []
        while entries.count < limit, let entry = try scan.next() { entries.append(entry) }
        return entries
    }

    /// Decodes every entry in `range`, in key order (or reverse), straight from the map, and
    /// gives it to `body`; see ``Table/forEach(in:reverse:_:)``. An entry that does not decode
    /// ends the walk with its error; so does an error `body` throws.
    public func forEach(in range: KeyRange = .all, reverse: Bool = false,
                        _ body: (_ key: Key, _ value: Value) throws -> Void) throws {
        try table.forEach(in: range, reverse: reverse) { key, value in
            let (key, value) = try decodeEntry(key: key, value: value)
            try body(key, value)
        }
    }

    // MARK: Decoding

    /// The entry of these bytes, decoded.
    func decodeEntry(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws(MapStoreError) -> (key: Key, value: Value) {
        let decodedKey: Key
        do {
            decodedKey = try Key(keyBytes: key)
        } catch {
            throw MapStoreError.decodingFailed(
                reason: "the key 0x\(hex(key)) in table '\(name)' as \(Key.self): \(error.reason)")
        }
        return (decodedKey, try decodeValue(value, key: decodedKey.keyDescription))
    }

    func decodeValue(_ bytes: UnsafeRawBufferPointer, key: String) throws(MapStoreError) -> Value {
        do {
            return try coder.decode(Value.self, from: bytes)
        } catch {
            throw MapStoreError.decodingFailed(reason: "\(Value.self) for key \(key) in table '\(name)': \(describeCodingError(error))")
        }
    }
}

/// The entries of a range of a ``TypedTable``, decoded one at a time, in key order or reverse.
///
/// ```swift
/// var scan = orders.scan(.prefix(Tuple("alice")))
/// while let (key, order) = try scan.next() { ... }
/// ```
///
/// Like ``Scan``, which it reads through, it is valid only inside its transaction, goes on
/// past changes a write transaction makes to the table, and once it throws (damage, or an
/// entry that does not decode) throws that error on every later call.
public struct TypedScan<Key: TableKey, Value: Codable> {
    let table: TypedTable<Key, Value>
    var scan: Scan
    var failure: MapStoreError?

    init(table: TypedTable<Key, Value>, scan: Scan) {
        self.table = table
        self.scan = scan
    }

    /// The next entry, decoded, or nil past the end of the range.
    public mutating func next() throws(MapStoreError) -> (key: Key, value: Value)? {
        if let failure { throw failure }
        guard let (key, value) = try scan.next() else { return nil }
        do throws(MapStoreError) {
            return try withBytes(of: key) { (key) throws(MapStoreError) in
                try withBytes(of: value) { (value) throws(MapStoreError) in try table.decodeEntry(key: key, value: value) }
            }
        } catch {
            failure = error
            throw error
        }
    }
}

extension ReadTransaction {
    /// The table `name` with keys of type `Key` (``Tuple``, `String`, `[UInt8]` or any
    /// ``TableKey``) and values of type `Value`, coded by `coder`; like ``table(_:)``, an empty
    /// one when it does not exist (a write creates it).
    ///
    /// ```swift
    /// let orders = try txn.table("orders", key: Tuple.self, value: Order.self)
    /// ```
    public final func table<Key: TableKey, Value: Codable>(
        _ name: String, key: Key.Type, value: Value.Type, coder: any ValueCoder = BinaryValueCoder()
    ) throws(MapStoreError) -> TypedTable<Key, Value> {
        TypedTable(table: try table(name), coder: coder)
    }
}
