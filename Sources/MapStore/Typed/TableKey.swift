/// A key type of a ``TypedTable``: how its values become key bytes and come back from them.
///
/// ``Tuple`` (composite keys in tuple order), `String` (its UTF-8 bytes) and `[UInt8]` (the
/// bytes themselves) are keys; a type of your own can be one too. The table's order is the
/// bytes' memcmp order, so a key type whose encoding preserves its order scans in order.
public protocol TableKey {
    /// Lends the key's bytes to `body`.
    func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R

    /// The key of these bytes; throws ``MapStoreError/invalidArgument(reason:)`` when they
    /// are not an encoding of this type.
    init(keyBytes: UnsafeRawBufferPointer) throws(MapStoreError)

    /// The key as error messages name it.
    var keyDescription: String { get }
}

extension Tuple: TableKey {
    /// Lends ``encoded`` to `body`.
    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
        try withBytes(of: encoded, body)
    }

    /// ``init(decoding:)-(UnsafeRawBufferPointer)`` of the bytes.
    public init(keyBytes: UnsafeRawBufferPointer) throws(MapStoreError) {
        try self.init(decoding: keyBytes)
    }

    /// ``description``: `("alice", 3)`.
    public var keyDescription: String { description }
}

extension String: TableKey {
    /// Lends the UTF-8 bytes to `body`.
    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
        try withContiguousBytes(utf8, body)
    }

    /// The string of UTF-8 `keyBytes`; invalid UTF-8 throws (a repaired string would be another key).
    public init(keyBytes: UnsafeRawBufferPointer) throws(MapStoreError) {
        guard let string = validatedUTF8(keyBytes) else {
            throw MapStoreError.invalidArgument(reason: "the key 0x\(hex(keyBytes)) is not valid UTF-8")
        }
        self = string
    }

    /// The string, quoted and escaped.
    public var keyDescription: String { String(reflecting: self) }
}

extension Array: TableKey where Element == UInt8 {
    /// Lends the bytes to `body`.
    public func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
        try withBytes(of: self, body)
    }

    /// A copy of the bytes.
    public init(keyBytes: UnsafeRawBufferPointer) {
        self = Array(keyBytes)
    }

    /// The bytes in hex: `0x6b6579`.
    public var keyDescription: String { "0x" + hex(self) }
}

extension KeyRange {
    /// Every key whose tuple starts with the elements of `tuple`, `tuple` itself included:
    /// a tuple's encoding is a byte prefix of another's exactly when the tuple is a prefix of
    /// the other (each element's bytes end where it ends).
    ///
    /// ```swift
    /// var scan = orders.scan(.prefix(Tuple("alice")))   // ("alice"), ("alice", 1), ("alice", 2, "x"), ...
    /// ```
    public static func prefix(_ tuple: Tuple) -> KeyRange {
        .prefix(tuple.encoded)
    }

    /// Keys from `lower`'s encoding (inclusive) up to `upper`'s (exclusive), in tuple order;
    /// nil is unbounded: `KeyRange(tuplesFrom: Tuple("alice", 3), to: Tuple("alice", 7))`.
    public init(tuplesFrom lower: Tuple?, to upper: Tuple?) {
        self.init(from: lower?.encoded, to: upper?.encoded)
    }
}
