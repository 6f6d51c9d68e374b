/// Encodes `Encodable` values in MapStore's compact binary format: the default coder of a
/// ``TypedTable`` (``BinaryValueCoder``).
///
/// ```swift
/// let bytes = try BinaryValueEncoder().encode(order)
/// let again = try BinaryValueDecoder().decode(Order.self, from: bytes)
/// ```
///
/// Each value is a tag byte and its payload: integers as varints (0...127 in the tag byte
/// itself), floats and doubles in their IEEE bits, strings as a length and UTF-8, `[UInt8]`
/// as a length and the bytes, keyed containers with their keys (so adding an optional field,
/// dropping one or reordering them keeps old values readable), unkeyed ones as a run of
/// values. A nil optional field is written as its key and a nil byte. The format starts with
/// a format byte (1).
///
/// The encoder writes in one pass, in order, so a type's `encode(to:)` must finish writing
/// into a nested container before it writes into the one that holds it again, and may ask
/// one encoder for one value (or the same container again, as a subclass and its superclass
/// do). Interleaving two containers, or writing two values into one single-value container,
/// throws `EncodingError.invalidValue`; JSONEncoder allows both.
public struct BinaryValueEncoder: Sendable {
    /// An encoder.
    public init() {}

    /// `value`'s bytes.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let state = BinaryEncodingState()
        try state.encode(value, slotDepth: 0)
        if let failure = state.failure { throw failure }
        return state.output
    }
}

/// One encode's output and the containers still open in it.
///
/// Only the one encode that made it uses it, on one thread: its fields skip the dynamic
/// exclusivity checks, which cost more than the writes they guard.
final class BinaryEncodingState {
    @exclusivity(unchecked) var output: [UInt8] = [BinaryFormat.version]
    /// The containers not yet ended, outermost first: the id their handles carry, whether
    /// keyed, and where their tag is. A write into one ends every container above it.
    @exclusivity(unchecked) var open: [(id: Int, isKeyed: Bool, start: Int)] = []
    @exclusivity(unchecked) var nextID = 0
    /// `keys[i]`: the key of the value being written in `open[i]`, for coding paths.
    @exclusivity(unchecked) var keys: [any CodingKey] = []
    /// An error a call that cannot throw (a container request) met; every later write throws
    /// it. (`hasFailed` is what each write tests: cheaper than unwrapping the error.)
    @exclusivity(unchecked) var failure: EncodingError? {
        didSet { hasFailed = failure != nil }
    }
    @exclusivity(unchecked) var hasFailed = false
    /// Where the value of a `superEncoder()` goes, until something is written there.
    @exclusivity(unchecked) var pendingSlot: Int?

    /// The coding path of a value whose container would be `open[depth]`.
    func path(_ depth: Int) -> [any CodingKey] { Array(keys.prefix(depth)) }

    func setKey(_ key: any CodingKey, depth: Int) {
        if keys.count > depth { keys[depth] = key } else { keys.append(key) }
    }

    // MARK: Values and containers

    /// Writes `value` at the end of the output, as the value of a slot `slotDepth` containers deep.
    func encode<T: Encodable>(_ value: T, slotDepth: Int) throws {
        if writeScalar(value) { return }
        let start = output.count
        try value.encode(to: BinaryEncoding(state: self, slotStart: start, slotDepth: slotDepth))
        // A value that asked for no container at all is an empty keyed container, as
        // JSONEncoder writes `{}`.
        if output.count == start { writeEmptyKeyed() }
        end(downTo: slotDepth)
    }

    /// Opens a container as the value of the slot at `slotStart`, `slotDepth` containers deep,
    /// and returns its id (-1 after a failure, which is recorded for the next write).
    func openContainer(keyed: Bool, slotStart: Int, slotDepth: Int) -> Int {
        if hasFailed { return -1 }
        if output.count == slotStart, open.count == slotDepth {
            guard slotDepth < BinaryFormat.maxNesting else {
                fail("containers nested deeper than \(BinaryFormat.maxNesting) levels", depth: slotDepth)
                return -1
            }
            output.append(keyed ? BinaryFormat.keyed : BinaryFormat.unkeyed)
            let id = nextID
            nextID += 1
            open.append((id, keyed, slotStart))
            return id
        }
        // The same container asked for again (a subclass's encode(to:) and then its superclass's).
        if open.count > slotDepth, open[slotDepth].start == slotStart, open[slotDepth].isKeyed == keyed {
            end(downTo: slotDepth + 1)
            return open[slotDepth].id
        }
        fail("a second value asked for where one was already written (BinaryValueEncoder writes each value once, in order)",
             depth: slotDepth)
        return -1
    }

    /// Makes the container `id` at `open[depth]` the one written to: ends every container
    /// above it. Throws when it has been ended already: containers were interleaved.
    func reopen(_ id: Int, depth: Int) throws {
        if hasFailed, let failure { throw failure }
        guard depth < open.count, open[depth].id == id else {
            let error = EncodingError.invalidValue(id, EncodingError.Context(
                codingPath: path(depth),
                debugDescription: "a container written to after a value beside it was written (BinaryValueEncoder cannot interleave containers)"))
            failure = error
            throw error
        }
        end(downTo: depth + 1)
    }

    /// Checks that a single-value container may write its one value now.
    func claim(slotStart: Int, slotDepth: Int) throws {
        if hasFailed, let failure { throw failure }
        guard output.count == slotStart, open.count == slotDepth else {
            let error = EncodingError.invalidValue((), EncodingError.Context(
                codingPath: path(slotDepth),
                debugDescription: "a single-value container written to twice, or after a value beside it was written"))
            failure = error
            throw error
        }
    }

    /// Ends every container above the first `depth`.
    func end(downTo depth: Int) {
        if let slot = pendingSlot {
            pendingSlot = nil
            if output.count == slot { writeEmptyKeyed() }
        }
        while open.count > depth {
            output.append(open.removeLast().isKeyed ? BinaryFormat.endOfKeyed : BinaryFormat.endOfUnkeyed)
        }
    }

    func fail(_ reason: String, depth: Int) {
        failure = EncodingError.invalidValue((), EncodingError.Context(codingPath: path(depth), debugDescription: reason))
    }

    // MARK: Payloads

    func writeKey(_ key: some CodingKey) {
        let name = key.stringValue
        output.appendVarint(UInt64(name.utf8.count) + 1)
        output.append(contentsOf: name.utf8)
    }

    func writeEmptyKeyed() {
        output.append(BinaryFormat.keyed)
        output.append(BinaryFormat.endOfKeyed)
    }

    func writeUnsigned(_ value: UInt64) {
        if value < 0x80 {
            output.append(BinaryFormat.smallInteger | UInt8(value))
        } else {
            output.append(BinaryFormat.unsigned)
            output.appendVarint(value)
        }
    }

    func writeSigned(_ value: Int64) {
        if value >= 0 {
            writeUnsigned(UInt64(value))
        } else {
            output.append(BinaryFormat.negative)
            output.appendVarint(UInt64(bitPattern: ~value))
        }
    }

    /// Writes `value` straight into the output when `T` is a primitive type or `[UInt8]`,
    /// without the trip through its `encode(to:)` and a container; false for any other type.
    @inline(__always)
    func writeScalar<T>(_ value: T) -> Bool {
        if let scalar = BinaryFormat.scalarType(of: T.self) {
            write(value, as: scalar)
            return true
        }
        if T.self == [UInt8].self {
            writeBytes(unsafeBitCast(value, to: [UInt8].self))
            return true
        }
        return false
    }

    /// `value`, whose type is `S` (checked by the caller), written as an `S`.
    private func write<S: BinaryScalar, T>(_ value: T, as scalar: S.Type) {
        unsafeBitCast(value, to: S.self).write(to: self)
    }

    func writeBytes(_ bytes: [UInt8]) {
        output.append(BinaryFormat.bytes)
        output.appendVarint(UInt64(bytes.count))
        output.append(contentsOf: bytes)
    }
}

// What the containers write for each primitive type (BinaryScalar, BinaryValueFormat.swift).

extension Bool {
    func write(to state: BinaryEncodingState) { state.output.append(self ? BinaryFormat.true : BinaryFormat.false) }
}

extension String {
    func write(to state: BinaryEncodingState) {
        state.output.append(BinaryFormat.string)
        state.output.appendVarint(UInt64(utf8.count))
        state.output.append(contentsOf: utf8)
    }
}

extension Double {
    func write(to state: BinaryEncodingState) {
        state.output.append(BinaryFormat.double)
        state.output.appendLittleEndian(bitPattern, count: 8)
    }
}

extension Float {
    func write(to state: BinaryEncodingState) {
        state.output.append(BinaryFormat.float)
        state.output.appendLittleEndian(UInt64(bitPattern), count: 4)
    }
}

extension BinaryScalar where Self: FixedWidthInteger & SignedInteger {
    func write(to state: BinaryEncodingState) { state.writeSigned(Int64(self)) }
}

extension BinaryScalar where Self: FixedWidthInteger & UnsignedInteger {
    func write(to state: BinaryEncodingState) { state.writeUnsigned(UInt64(self)) }
}

/// The `Encoder` a value's `encode(to:)` gets: the slot its value goes in.
struct BinaryEncoding: Encoder {
    let state: BinaryEncodingState
    /// Where the value starts, and how many containers are open around it.
    let slotStart: Int
    let slotDepth: Int

    var codingPath: [any CodingKey] { state.path(slotDepth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let id = state.openContainer(keyed: true, slotStart: slotStart, slotDepth: slotDepth)
        return KeyedEncodingContainer(BinaryKeyedEncoding<Key>(state: state, id: id, depth: slotDepth))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let id = state.openContainer(keyed: false, slotStart: slotStart, slotDepth: slotDepth)
        return BinaryUnkeyedEncoding(state: state, id: id, depth: slotDepth)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        BinarySingleValueEncoding(state: state, slotStart: slotStart, slotDepth: slotDepth)
    }
}

/// A keyed container: `open[depth]`.
struct BinaryKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: BinaryEncodingState
    let id: Int
    let depth: Int

    var codingPath: [any CodingKey] { state.path(depth) }

    /// Starts the entry of `key`: the container reopened, the key written.
    private func entry(_ key: Key) throws {
        try state.reopen(id, depth: depth)
        state.writeKey(key)
    }

    private func scalar(_ value: some BinaryScalar, _ key: Key) throws {
        try entry(key)
        value.write(to: state)
    }

    private mutating func optional(_ value: (some BinaryScalar)?, _ key: Key) throws {
        if let value { try scalar(value, key) } else { try encodeNil(forKey: key) }
    }

    mutating func encodeNil(forKey key: Key) throws {
        try entry(key)
        state.output.append(BinaryFormat.null)
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try scalar(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try scalar(value, key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try entry(key)
        if state.writeScalar(value) { return }
        state.setKey(key, depth: depth)
        try state.encode(value, slotDepth: depth + 1)
    }

    // A nil optional is written, not left out, so a decoder that reads the fields in the
    // order they were written finds each one where it looks first.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try optional(value, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        BinaryEncoding(state: state, slotStart: nestedSlot(key), slotDepth: depth + 1).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        BinaryEncoding(state: state, slotStart: nestedSlot(key), slotDepth: depth + 1).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: BinaryCodingKey.super) }

    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key) }

    /// Starts the entry of `key` for a container asked for without a throw; returns where its
    /// value goes (-1, a slot no container can open, after a failure).
    private func nestedSlot(_ key: some CodingKey) -> Int {
        do {
            try state.reopen(id, depth: depth)
        } catch {
            return -1
        }
        state.writeKey(key)
        state.setKey(key, depth: depth)
        return state.output.count
    }

    private func superEncoder(named key: some CodingKey) -> any Encoder {
        let slot = nestedSlot(key)
        if slot >= 0 { state.pendingSlot = slot }
        return BinaryEncoding(state: state, slotStart: slot, slotDepth: depth + 1)
    }
}

/// A container that writes values without keys (an unkeyed or a single-value one): the
/// primitive `encode` overloads of both protocols, each a call of `scalar`.
protocol BinaryScalarEncoding {
    mutating func scalar(_ value: some BinaryScalar) throws
}

extension BinaryScalarEncoding {
    mutating func encode(_ value: Bool) throws { try scalar(value) }
    mutating func encode(_ value: String) throws { try scalar(value) }
    mutating func encode(_ value: Double) throws { try scalar(value) }
    mutating func encode(_ value: Float) throws { try scalar(value) }
    mutating func encode(_ value: Int) throws { try scalar(value) }
    mutating func encode(_ value: Int8) throws { try scalar(value) }
    mutating func encode(_ value: Int16) throws { try scalar(value) }
    mutating func encode(_ value: Int32) throws { try scalar(value) }
    mutating func encode(_ value: Int64) throws { try scalar(value) }
    mutating func encode(_ value: UInt) throws { try scalar(value) }
    mutating func encode(_ value: UInt8) throws { try scalar(value) }
    mutating func encode(_ value: UInt16) throws { try scalar(value) }
    mutating func encode(_ value: UInt32) throws { try scalar(value) }
    mutating func encode(_ value: UInt64) throws { try scalar(value) }
}

/// An unkeyed container: `open[depth]`.
struct BinaryUnkeyedEncoding: UnkeyedEncodingContainer, BinaryScalarEncoding {
    let state: BinaryEncodingState
    let id: Int
    let depth: Int
    var count = 0

    var codingPath: [any CodingKey] { state.path(depth) }

    private mutating func element() throws {
        try state.reopen(id, depth: depth)
        count += 1
    }

    mutating func scalar(_ value: some BinaryScalar) throws {
        try element()
        value.write(to: state)
    }

    mutating func encodeNil() throws {
        try element()
        state.output.append(BinaryFormat.null)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try element()
        if state.writeScalar(value) { return }
        state.setKey(BinaryCodingKey(index: count - 1), depth: depth)
        try state.encode(value, slotDepth: depth + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        BinaryEncoding(state: state, slotStart: nestedSlot(), slotDepth: depth + 1).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        BinaryEncoding(state: state, slotStart: nestedSlot(), slotDepth: depth + 1).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let slot = nestedSlot()
        if slot >= 0 { state.pendingSlot = slot }
        return BinaryEncoding(state: state, slotStart: slot, slotDepth: depth + 1)
    }

    /// Starts an element for a container asked for without a throw; returns where it goes
    /// (-1 after a failure).
    private mutating func nestedSlot() -> Int {
        do {
            try state.reopen(id, depth: depth)
        } catch {
            return -1
        }
        state.setKey(BinaryCodingKey(index: count), depth: depth)
        count += 1
        return state.output.count
    }
}

/// A single-value container: the one value of its slot.
struct BinarySingleValueEncoding: SingleValueEncodingContainer, BinaryScalarEncoding {
    let state: BinaryEncodingState
    let slotStart: Int
    let slotDepth: Int

    var codingPath: [any CodingKey] { state.path(slotDepth) }

    func scalar(_ value: some BinaryScalar) throws {
        try state.claim(slotStart: slotStart, slotDepth: slotDepth)
        value.write(to: state)
    }

    mutating func encodeNil() throws {
        try state.claim(slotStart: slotStart, slotDepth: slotDepth)
        state.output.append(BinaryFormat.null)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try state.claim(slotStart: slotStart, slotDepth: slotDepth)
        try state.encode(value, slotDepth: slotDepth)
    }
}

/// The keys the coders make up: an unkeyed container's index (named "Index 3", as JSONDecoder
/// names it, only when asked), and named ones such as "super". An enum of at most 17 bytes,
/// so a coding path's existential holds it inline, without an allocation per element.
enum BinaryCodingKey: CodingKey {
    case index(Int)
    case named(String)

    static let `super` = BinaryCodingKey.named("super")

    init(stringValue: String) { self = .named(stringValue) }
    init(intValue: Int) { self = .index(intValue) }
    init(index: Int) { self = .index(index) }

    var stringValue: String {
        switch self {
        case let .index(index): "Index \(index)"
        case let .named(name): name
        }
    }

    var intValue: Int? {
        if case let .index(index) = self { index } else { nil }
    }
}
