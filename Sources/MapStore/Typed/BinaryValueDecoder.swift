/// Decodes what ``BinaryValueEncoder`` wrote.
///
/// It first walks the whole value, checking every tag, length and terminator against the
/// bytes' end, so damaged bytes throw `DecodingError.dataCorrupted` naming the byte offset
/// (never a crash, never a read past the buffer); then it decodes, throwing
/// `DecodingError.typeMismatch`, `.keyNotFound` or `.valueNotFound` with the coding path
/// when the bytes hold another type. It reads the buffer in place: the decoder a type's
/// `init(from:)` gets reads nothing once ``decode(_:from:)-(_,UnsafeRawBufferPointer)`` returned.
public struct BinaryValueDecoder: Sendable {
    /// A decoder.
    public init() {}

    /// The `T` that `bytes` encode.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0) }
    }

    /// The `T` the bytes at `buffer` encode (valid only during the call).
    public func decode<T: Decodable>(_ type: T.Type, from buffer: UnsafeRawBufferPointer) throws -> T {
        let state = BinaryDecodingState(bytes: buffer)
        // A decoder that escaped `init(from:)` must not read the buffer after it is gone.
        defer { state.bytes = UnsafeRawBufferPointer(start: nil, count: 0) }
        do throws(BinaryReadFailure) {
            guard buffer.first == BinaryFormat.version else {
                throw BinaryReadFailure(offset: 0, .corrupted, buffer.isEmpty ? "no bytes at all"
                    : "format byte 0x\(hex([buffer[0]])), not \(BinaryFormat.version): not a value BinaryValueEncoder wrote")
            }
            let end = try state.skip(at: 1, nesting: 0)
            guard end == buffer.count else {
                throw BinaryReadFailure(offset: end, .corrupted, "\(buffer.count - end) bytes after the value")
            }
        } catch {
            throw error.decodingError(T.self, codingPath: [])
        }
        return try state.decode(T.self, at: 1, depth: 0)
    }
}

/// A read that failed: where, and how (turned into a `DecodingError` by the container,
/// which knows the type and the coding path).
struct BinaryReadFailure: Error {
    enum Kind { case typeMismatch, valueNotFound, corrupted }
    let offset: Int
    let kind: Kind
    let message: String

    init(offset: Int, _ kind: Kind, _ message: String) {
        self.offset = offset
        self.kind = kind
        self.message = message
    }

    func decodingError(_ type: Any.Type, codingPath: [any CodingKey]) -> DecodingError {
        let context = DecodingError.Context(codingPath: codingPath, debugDescription: "byte \(offset): \(message)")
        switch kind {
        case .typeMismatch: return .typeMismatch(type, context)
        case .valueNotFound: return .valueNotFound(type, context)
        case .corrupted: return .dataCorrupted(context)
        }
    }
}

/// One decode's bytes, and the keys of the path being decoded. Only that decode uses it, on
/// one thread (hence no dynamic exclusivity checks).
final class BinaryDecodingState {
    /// The value's bytes; emptied when the decode returns.
    @exclusivity(unchecked) var bytes: UnsafeRawBufferPointer
    /// `keys[i]`: the key of the value being decoded `i + 1` levels down, for coding paths.
    @exclusivity(unchecked) var keys: [any CodingKey] = []

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    func path(_ depth: Int) -> [any CodingKey] { Array(keys.prefix(depth)) }

    func path(_ depth: Int, _ key: some CodingKey) -> [any CodingKey] { path(depth) + [key] }

    func setKey(_ key: any CodingKey, depth: Int) {
        if keys.count > depth { keys[depth] = key } else { keys.append(key) }
    }

    /// The `T` at `offset`, `depth` keys down.
    func decode<T: Decodable>(_ type: T.Type, at offset: Int, depth: Int) throws -> T {
        if isScalar(T.self, at: offset) {
            var end = 0
            do throws(BinaryReadFailure) { return try readScalar(T.self, at: offset, end: &end) } catch {
                throw error.decodingError(T.self, codingPath: path(depth))
            }
        }
        return try T(from: BinaryDecoding(state: self, offset: offset, depth: depth))
    }

    /// Whether ``readScalar(_:at:end:)`` reads a `T` at `offset`: when `T` is a primitive type,
    /// or `[UInt8]` stored as bytes. The containers read these straight from the bytes,
    /// without the trip through `init(from:)` and a container of their own.
    @inline(__always)
    func isScalar<T>(_ type: T.Type, at offset: Int) -> Bool {
        BinaryFormat.scalarType(of: T.self) != nil
            || (T.self == [UInt8].self && offset < bytes.count && bytes[offset] == BinaryFormat.bytes)
    }

    /// The `T` at `offset`, for a `T` that ``isScalar(_:at:)``; `end` becomes the offset past it.
    /// (An inout end rather than a tuple result: a tuple of a generic type needs its metadata
    /// made at run time, which cost more than the read.)
    func readScalar<T>(_ type: T.Type, at offset: Int, end: inout Int) throws(BinaryReadFailure) -> T {
        if let scalar = BinaryFormat.scalarType(of: T.self) { return try read(scalar, as: T.self, at: offset, end: &end) }
        return unsafeBitCast(try readBytes(at: offset, end: &end), to: T.self)
    }

    /// The `S` at `offset`, as the `T` it is (checked by the caller).
    private func read<S: BinaryScalar, T>(_ scalar: S.Type, as type: T.Type, at offset: Int, end: inout Int) throws(BinaryReadFailure) -> T {
        unsafeBitCast(try S.read(from: self, at: offset, end: &end), to: T.self)
    }

    // MARK: Reading

    func tag(at offset: Int) throws(BinaryReadFailure) -> UInt8 {
        guard offset < bytes.count else { throw BinaryReadFailure(offset: offset, .corrupted, "the bytes end where a value should be") }
        return bytes[offset]
    }

    /// Checks that `count` bytes follow `offset`; returns the offset past them.
    func need(_ count: Int, at offset: Int, for what: String) throws(BinaryReadFailure) -> Int {
        guard count <= bytes.count - offset else {
            throw BinaryReadFailure(offset: offset, .corrupted, "\(what) of \(count) bytes cut short by the end (\(bytes.count - offset) left)")
        }
        return offset + count
    }

    /// The LEB128 varint at `offset`, and the offset past it.
    func varint(at offset: Int) throws(BinaryReadFailure) -> (value: UInt64, end: Int) {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var at = offset
        while true {
            guard at < bytes.count else { throw BinaryReadFailure(offset: offset, .corrupted, "a varint cut short by the end") }
            let byte = bytes[at]
            at += 1
            guard shift < 63 || byte <= 1 else { throw BinaryReadFailure(offset: offset, .corrupted, "a varint longer than 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return (value, at) }
            shift += 7
        }
    }

    /// The varint at `offset`; `end` becomes the offset past it.
    func varint(at offset: Int, end: inout Int) throws(BinaryReadFailure) -> UInt64 {
        let (value, after) = try varint(at: offset)
        end = after
        return value
    }

    /// A varint length at `offset`, checked against the bytes left after it; returns where
    /// the counted bytes start.
    func length(at offset: Int, for what: String) throws(BinaryReadFailure) -> (count: Int, start: Int) {
        let (value, start) = try varint(at: offset)
        guard value <= UInt64(bytes.count - start) else {
            throw BinaryReadFailure(offset: offset, .corrupted, "\(what) of \(value) bytes runs past the end (\(bytes.count - start) left)")
        }
        return (Int(value), start)
    }

    /// The offset just past the value at `offset`, `nesting` containers deep: the check of
    /// the whole structure before a decode, and how a keyed container steps over entries.
    func skip(at offset: Int, nesting: Int) throws(BinaryReadFailure) -> Int {
        let tag = try tag(at: offset)
        switch tag {
        case BinaryFormat.null, BinaryFormat.false, BinaryFormat.true, BinaryFormat.smallInteger...:
            return offset + 1
        case BinaryFormat.unsigned, BinaryFormat.negative:
            return try varint(at: offset + 1).end
        case BinaryFormat.float:
            return try need(4, at: offset + 1, for: "a Float")
        case BinaryFormat.double:
            return try need(8, at: offset + 1, for: "a Double")
        case BinaryFormat.string, BinaryFormat.bytes:
            let (count, start) = try length(at: offset + 1, for: BinaryFormat.name(of: tag))
            return start + count
        case BinaryFormat.keyed, BinaryFormat.unkeyed:
            guard nesting < BinaryFormat.maxNesting else {
                throw BinaryReadFailure(offset: offset, .corrupted, "containers nested deeper than \(BinaryFormat.maxNesting) levels")
            }
            var at = offset + 1
            if tag == BinaryFormat.keyed {
                while let entry = try keyedEntry(at: at) { at = try skip(at: entry.value, nesting: nesting + 1) }
            } else {
                while try self.tag(at: at) != BinaryFormat.endOfUnkeyed { at = try skip(at: at, nesting: nesting + 1) }
            }
            return at + 1
        default:
            throw BinaryReadFailure(offset: offset, .corrupted, "\(BinaryFormat.name(of: tag)) where a value should be")
        }
    }

    /// The keyed container's entry at `offset`: where its key's bytes are and where its value
    /// starts; nil at the container's end.
    func keyedEntry(at offset: Int) throws(BinaryReadFailure) -> (key: Range<Int>, value: Int)? {
        let (countPlusOne, start) = try varint(at: offset)
        if countPlusOne == 0 { return nil }
        guard countPlusOne - 1 <= UInt64(bytes.count - start) else {
            throw BinaryReadFailure(offset: offset, .corrupted, "a key of \(countPlusOne - 1) bytes runs past the end")
        }
        let end = start + Int(countPlusOne - 1)
        return (start..<end, end)
    }

    func mismatch(_ expected: String, at offset: Int) -> BinaryReadFailure {
        let tag = offset < bytes.count ? bytes[offset] : BinaryFormat.null
        let kind: BinaryReadFailure.Kind = tag == BinaryFormat.null ? .valueNotFound : .typeMismatch
        return BinaryReadFailure(offset: offset, kind, "expected \(expected), found \(BinaryFormat.name(of: tag))")
    }

    /// The integer at `offset` as a `T`; throws when it does not fit.
    func readInteger<T: FixedWidthInteger>(at offset: Int, end: inout Int) throws(BinaryReadFailure) -> T {
        let tag = try tag(at: offset)
        let value: T?
        let text: String
        switch tag {
        case BinaryFormat.smallInteger...:
            end = offset + 1
            return T(tag & 0x7F)
        case BinaryFormat.unsigned:
            let magnitude = try varint(at: offset + 1, end: &end)
            value = T(exactly: magnitude)
            text = "\(magnitude)"
        case BinaryFormat.negative:
            // ~value was written: the value is -1 - that, below Int64.min when it exceeds Int64.max.
            let complement = try varint(at: offset + 1, end: &end)
            value = complement <= UInt64(Int64.max) ? T(exactly: ~Int64(complement)) : nil
            text = complement <= UInt64(Int64.max) ? "\(~Int64(complement))" : "-1 - \(complement)"
        default:
            throw mismatch("an integer (\(T.self))", at: offset)
        }
        guard let value else {
            throw BinaryReadFailure(offset: offset, .typeMismatch, "the integer \(text) does not fit in \(T.self)")
        }
        return value
    }

    func readBytes(at offset: Int, end: inout Int) throws(BinaryReadFailure) -> [UInt8] {
        let (count, start) = try length(at: offset + 1, for: "bytes")
        end = start + count
        return Array(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
    }
}

// What the containers read for each primitive type (BinaryScalar, BinaryValueFormat.swift).

extension Bool {
    static func read(from state: BinaryDecodingState, at offset: Int, end: inout Int) throws(BinaryReadFailure) -> Bool {
        let tag = try state.tag(at: offset)
        guard tag == BinaryFormat.false || tag == BinaryFormat.true else { throw state.mismatch("a Bool", at: offset) }
        end = offset + 1
        return tag == BinaryFormat.true
    }
}

extension String {
    static func read(from state: BinaryDecodingState, at offset: Int, end: inout Int) throws(BinaryReadFailure) -> String {
        guard try state.tag(at: offset) == BinaryFormat.string else { throw state.mismatch("a String", at: offset) }
        let (count, start) = try state.length(at: offset + 1, for: "a String")
        guard let string = validatedUTF8(UnsafeRawBufferPointer(rebasing: state.bytes[start..<start + count])) else {
            throw BinaryReadFailure(offset: offset, .corrupted, "a String that is not valid UTF-8")
        }
        end = start + count
        return string
    }
}

extension Double {
    static func read(from state: BinaryDecodingState, at offset: Int, end: inout Int) throws(BinaryReadFailure) -> Double {
        switch try state.tag(at: offset) {
        case BinaryFormat.double:
            end = try state.need(8, at: offset + 1, for: "a Double")
            return Double(bitPattern: littleEndian(state.bytes, offset + 1, 8))
        case BinaryFormat.float:
            // Every Float is a Double: a field widened from Float reads what it wrote.
            return Double(try Float.read(from: state, at: offset, end: &end))
        default:
            throw state.mismatch("a Double", at: offset)
        }
    }
}

extension Float {
    static func read(from state: BinaryDecodingState, at offset: Int, end: inout Int) throws(BinaryReadFailure) -> Float {
        switch try state.tag(at: offset) {
        case BinaryFormat.float:
            end = try state.need(4, at: offset + 1, for: "a Float")
            return Float(bitPattern: UInt32(littleEndian(state.bytes, offset + 1, 4)))
        case BinaryFormat.double:
            let value = try Double.read(from: state, at: offset, end: &end)
            guard let exact = Float(exactly: value) else {
                throw BinaryReadFailure(offset: offset, .typeMismatch, "the Double \(value) is no Float")
            }
            return exact
        default:
            throw state.mismatch("a Float", at: offset)
        }
    }
}

extension BinaryScalar where Self: FixedWidthInteger {
    static func read(from state: BinaryDecodingState, at offset: Int, end: inout Int) throws(BinaryReadFailure) -> Self {
        try state.readInteger(at: offset, end: &end)
    }
}

/// The `count` bytes at `offset` (checked by the caller) as a little-endian number.
private func littleEndian(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> UInt64 {
    var value: UInt64 = 0
    for i in (0..<count).reversed() { value = value << 8 | UInt64(bytes[offset + i]) }
    return value
}

/// The `Decoder` a type's `init(from:)` gets: the value at `offset`, `depth` keys down.
struct BinaryDecoding: Decoder {
    let state: BinaryDecodingState
    let offset: Int
    let depth: Int

    var codingPath: [any CodingKey] { state.path(depth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Checks that the value is a container with tag `tag`.
    private func open(_ tag: UInt8, _ type: Any.Type) throws {
        do throws(BinaryReadFailure) {
            guard try state.tag(at: offset) == tag else { throw state.mismatch(BinaryFormat.name(of: tag), at: offset) }
        } catch {
            throw error.decodingError(type, codingPath: codingPath)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try open(BinaryFormat.keyed, KeyedDecodingContainer<Key>.self)
        return KeyedDecodingContainer(BinaryKeyedDecoding<Key>(state: state, start: offset + 1, depth: depth))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try open(BinaryFormat.unkeyed, (any UnkeyedDecodingContainer).self)
        return BinaryUnkeyedDecoding(state: state, start: offset + 1, depth: depth, cursor: offset + 1)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        BinarySingleValueDecoding(state: state, offset: offset, depth: depth)
    }
}

/// A keyed container whose first entry is at `start`.
///
/// It looks for each key first where the last one read ended, so a type that reads its fields
/// in the order they were written (synthesized `Codable` does) never searches; a key
/// elsewhere is found by walking the entries from the first.
final class BinaryKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: BinaryDecodingState
    let start: Int
    let depth: Int
    /// The entry after the one read last.
    @exclusivity(unchecked) var cursor: Int

    init(state: BinaryDecodingState, start: Int, depth: Int) {
        self.state = state
        self.start = start
        self.depth = depth
        cursor = start
    }

    var codingPath: [any CodingKey] { state.path(depth) }

    var allKeys: [Key] {
        var keys: [Key] = []
        var at = start
        // The structure was checked before the decode began; a throw here means the buffer
        // is gone (the decoder escaped its decode), and there are no keys to give.
        while let entry = try? state.keyedEntry(at: at) {
            if let name = validatedUTF8(UnsafeRawBufferPointer(rebasing: state.bytes[entry.key])), let key = Key(stringValue: name) {
                keys.append(key)
            }
            guard let next = try? state.skip(at: entry.value, nesting: depth + 1) else { break }
            at = next
        }
        return keys
    }

    /// Where the value of the key named `name` starts, or nil when the container has none.
    func find(_ name: String) throws(BinaryReadFailure) -> Int? {
        if let entry = try state.keyedEntry(at: cursor), matches(name, entry.key) { return entry.value }
        var at = start
        while let entry = try state.keyedEntry(at: at) {
            if matches(name, entry.key) { return entry.value }
            at = try state.skip(at: entry.value, nesting: depth + 1)
        }
        return nil
    }

    private func matches(_ name: String, _ range: Range<Int>) -> Bool {
        let name = name.utf8
        guard name.count == range.count else { return false }
        let stored = UnsafeRawBufferPointer(rebasing: state.bytes[range])
        return name.withContiguousStorageIfAvailable { compareKeys(UnsafeRawBufferPointer($0), stored) == 0 } ?? name.elementsEqual(stored)
    }

    /// Where the value of `key` starts, or nil when there is none (a damaged walk throws).
    private func lookUp(_ key: some CodingKey) throws -> Int? {
        do throws(BinaryReadFailure) { return try find(key.stringValue) } catch {
            throw error.decodingError(Key.self, codingPath: codingPath)
        }
    }

    /// The value of `key`, which must be present; throws `keyNotFound` when it is not.
    private func value(of key: some CodingKey) throws -> Int {
        guard let found = try lookUp(key) else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(
                codingPath: codingPath, debugDescription: "no value for the key \"\(key.stringValue)\" (at byte \(start - 1))"))
        }
        return found
    }

    /// Whether the value at `offset` is nil; reads past it if so.
    private func readNil(at offset: Int) throws -> Bool {
        do throws(BinaryReadFailure) {
            guard try state.tag(at: offset) == BinaryFormat.null else { return false }
        } catch {
            throw error.decodingError(Never.self, codingPath: codingPath)
        }
        cursor = offset + 1
        return true
    }

    /// The `T` of `key` at `offset`; reads past it.
    private func scalar<T: BinaryScalar>(at offset: Int, _ key: Key) throws -> T {
        do throws(BinaryReadFailure) { return try T.read(from: state, at: offset, end: &cursor) } catch {
            throw error.decodingError(T.self, codingPath: state.path(depth, key))
        }
    }

    private func scalar<T: BinaryScalar>(_ key: Key) throws -> T {
        try scalar(at: try value(of: key), key)
    }

    private func scalarIfPresent<T: BinaryScalar>(_ key: Key) throws -> T? {
        guard let at = try lookUp(key), !(try readNil(at: at)) else { return nil }
        return try scalar(at: at, key) as T
    }

    func contains(_ key: Key) -> Bool {
        (try? find(key.stringValue)) != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        try readNil(at: try value(of: key))
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try scalar(key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try scalar(key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try scalar(key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try scalar(key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try scalar(key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try scalar(key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try scalar(key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try scalar(key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try scalar(key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try scalar(key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try scalar(key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try scalar(key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try scalar(key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try scalar(key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decode(type, at: try value(of: key), key)
    }

    /// The `T` of `key` at `offset`; reads past it.
    private func decode<T: Decodable>(_ type: T.Type, at offset: Int, _ key: Key) throws -> T {
        if state.isScalar(T.self, at: offset) {
            do throws(BinaryReadFailure) { return try state.readScalar(T.self, at: offset, end: &cursor) } catch {
                throw error.decodingError(T.self, codingPath: state.path(depth, key))
            }
        }
        state.setKey(key, depth: depth)
        let value = try state.decode(type, at: offset, depth: depth + 1)
        try advance(past: offset)
        return value
    }

    // One lookup each, where the protocol's defaults look the key up three times.
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try scalarIfPresent(key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try scalarIfPresent(key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let at = try lookUp(key), !(try readNil(at: at)) else { return nil }
        return try decode(type, at: at, key)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try nested(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try nested(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try nested(BinaryCodingKey.super)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try nested(key)
    }

    /// A decoder of `key`'s value, read past.
    private func nested(_ key: some CodingKey) throws -> BinaryDecoding {
        let at = try value(of: key)
        state.setKey(key, depth: depth)
        try advance(past: at)
        return BinaryDecoding(state: state, offset: at, depth: depth + 1)
    }

    /// Moves the cursor past the value at `offset`.
    private func advance(past offset: Int) throws {
        do throws(BinaryReadFailure) { cursor = try state.skip(at: offset, nesting: depth + 1) } catch {
            throw error.decodingError(Key.self, codingPath: codingPath)
        }
    }
}

/// An unkeyed container whose first value is at `start`.
struct BinaryUnkeyedDecoding: UnkeyedDecodingContainer {
    let state: BinaryDecodingState
    let start: Int
    let depth: Int
    /// The next value.
    var cursor: Int
    var currentIndex = 0

    var codingPath: [any CodingKey] { state.path(depth) }

    /// The number of values (counted by walking them).
    var count: Int? {
        var at = start
        var count = 0
        while let tag = try? state.tag(at: at), tag != BinaryFormat.endOfUnkeyed {
            guard let next = try? state.skip(at: at, nesting: depth + 1) else { return nil }
            at = next
            count += 1
        }
        return count
    }

    var isAtEnd: Bool { ((try? state.tag(at: cursor)) ?? BinaryFormat.endOfUnkeyed) == BinaryFormat.endOfUnkeyed }

    /// The offset of the next value; throws `valueNotFound` past the end.
    private func next(_ type: Any.Type) throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, DecodingError.Context(
                codingPath: state.path(depth, BinaryCodingKey(index: currentIndex)),
                debugDescription: "byte \(cursor): the unkeyed container has no more values (it had \(currentIndex))"))
        }
        return cursor
    }

    private mutating func scalar<T: BinaryScalar>() throws -> T {
        let at = try next(T.self)
        do throws(BinaryReadFailure) {
            let value = try T.read(from: state, at: at, end: &cursor)
            currentIndex += 1
            return value
        } catch {
            throw error.decodingError(T.self, codingPath: state.path(depth, BinaryCodingKey(index: currentIndex)))
        }
    }

    mutating func decodeNil() throws -> Bool {
        guard (try? state.tag(at: try next(Never.self))) == BinaryFormat.null else { return false }
        cursor += 1
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try scalar() }
    mutating func decode(_ type: String.Type) throws -> String { try scalar() }
    mutating func decode(_ type: Double.Type) throws -> Double { try scalar() }
    mutating func decode(_ type: Float.Type) throws -> Float { try scalar() }
    mutating func decode(_ type: Int.Type) throws -> Int { try scalar() }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try scalar() }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try scalar() }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try scalar() }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try scalar() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try scalar() }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar() }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar() }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar() }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar() }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let at = try next(T.self)
        if state.isScalar(T.self, at: at) {
            do throws(BinaryReadFailure) {
                let value = try state.readScalar(T.self, at: at, end: &cursor)
                currentIndex += 1
                return value
            } catch {
                throw error.decodingError(T.self, codingPath: state.path(depth, BinaryCodingKey(index: currentIndex)))
            }
        }
        let decoder = try nested(type)
        return try state.decode(type, at: decoder.offset, depth: decoder.depth)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try nested(KeyedDecodingContainer<NestedKey>.self).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nested((any UnkeyedDecodingContainer).self).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        try nested((any Decoder).self)
    }

    /// A decoder of the next value, read past.
    private mutating func nested(_ type: Any.Type) throws -> BinaryDecoding {
        let at = try next(type)
        state.setKey(BinaryCodingKey(index: currentIndex), depth: depth)
        do throws(BinaryReadFailure) { cursor = try state.skip(at: at, nesting: depth + 1) } catch {
            throw error.decodingError(type, codingPath: codingPath)
        }
        currentIndex += 1
        return BinaryDecoding(state: state, offset: at, depth: depth + 1)
    }
}

/// A single-value container: the value at `offset`.
struct BinarySingleValueDecoding: SingleValueDecodingContainer {
    let state: BinaryDecodingState
    let offset: Int
    let depth: Int

    var codingPath: [any CodingKey] { state.path(depth) }

    private func scalar<T: BinaryScalar>() throws -> T {
        var end = 0
        do throws(BinaryReadFailure) { return try T.read(from: state, at: offset, end: &end) } catch {
            throw error.decodingError(T.self, codingPath: codingPath)
        }
    }

    func decodeNil() -> Bool { (try? state.tag(at: offset)) == BinaryFormat.null }

    func decode(_ type: Bool.Type) throws -> Bool { try scalar() }
    func decode(_ type: String.Type) throws -> String { try scalar() }
    func decode(_ type: Double.Type) throws -> Double { try scalar() }
    func decode(_ type: Float.Type) throws -> Float { try scalar() }
    func decode(_ type: Int.Type) throws -> Int { try scalar() }
    func decode(_ type: Int8.Type) throws -> Int8 { try scalar() }
    func decode(_ type: Int16.Type) throws -> Int16 { try scalar() }
    func decode(_ type: Int32.Type) throws -> Int32 { try scalar() }
    func decode(_ type: Int64.Type) throws -> Int64 { try scalar() }
    func decode(_ type: UInt.Type) throws -> UInt { try scalar() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar() }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try state.decode(type, at: offset, depth: depth)
    }
}
