/// An ordered list of typed values whose encoding sorts, byte by byte, exactly as the tuples
/// sort element by element: composite keys for an ordered store (FoundationDB's tuple layer).
///
/// ```swift
/// let key = Tuple("alice", 2024, 3)                  // or: let key: Tuple = ["alice", 2024, 3]
/// try orders.put(key.encoded, value)                 // bytes in memcmp order
/// let all = KeyRange.prefix(Tuple("alice"))          // every key whose tuple starts with "alice"
/// let decoded = try Tuple(decoding: key.encoded)     // == key
/// let year = try decoded.value(at: 1, as: Int.self)  // 2024
/// ```
///
/// Elements are strings, integers of any width, booleans, doubles, floats, UUIDs, byte
/// arrays, nested tuples and nil (``Element``). Two tuples compare element by element, and a
/// tuple that is a prefix of another sorts first. Two elements of different kinds sort by
/// kind, in this order: nil, bytes, string, nested tuple, integer, float, double, bool, UUID.
/// Within a kind:
///
/// - bytes and strings compare as their bytes (a string as its UTF-8 bytes, not as Swift's
///   `<`, which calls canonically equivalent strings equal);
/// - integers compare by value, whatever width they were written with (`Int8(-1)` equals
///   `Int64(-1)`; `UInt64.max` is the largest integer, `Int64.min` the smallest);
/// - doubles and floats in IEEE 754 total order: -NaN, -infinity, the negative numbers,
///   -0.0, +0.0, the positive numbers, +infinity, +NaN (NaNs by their bits);
/// - false before true; UUIDs as their 16 bytes; nested tuples as tuples.
///
/// The type codes, the escaping of zero bytes and the number formats are FoundationDB's; a
/// string, a byte string and a nested tuple end with 0x00 0x00 where FoundationDB writes one
/// 0x00, so that no encoding is a byte prefix of another unless its tuple is a prefix of the
/// other (docs/typed.md has the bytes of each kind). Equality is equality of the encodings:
/// `-0.0` and `+0.0` differ, a NaN equals itself, and "é" precomposed differs from "e"
/// followed by a combining accent.
public struct Tuple: Sendable, Hashable {
    /// The elements, first to last.
    public var elements: [Element]

    /// The empty tuple (its encoding is empty, so it is no key by itself, only a prefix).
    public init() {
        elements = []
    }

    /// A tuple of `values`, in order: `Tuple("alice", 3, true)`.
    public init<each Value: TupleElement>(_ values: repeat each Value) {
        var elements: [Element] = []
        for value in repeat each values { elements.append(value.tupleElement) }
        self.elements = elements
    }

    /// A tuple of `elements`, in order (a slice of another tuple, say).
    public init<S: Sequence<Element>>(elements: S) {
        self.elements = Array(elements)
    }

    /// This tuple with `value` added at the end.
    public func appending(_ value: some TupleElement) -> Tuple {
        var copy = self
        copy.append(value)
        return copy
    }

    /// Adds `value` at the end.
    public mutating func append(_ value: some TupleElement) {
        elements.append(value.tupleElement)
    }

    /// Element `index` as a `T`: throws ``MapStoreError/invalidArgument(reason:)`` when the
    /// tuple has no such element or it is of another kind (or, for an integer, out of `T`'s range).
    public func value<T: TupleElement>(at index: Int, as type: T.Type = T.self) throws(MapStoreError) -> T {
        guard elements.indices.contains(index) else {
            throw MapStoreError.invalidArgument(reason: "the tuple \(self) has no element \(index)")
        }
        do {
            return try T(tupleElement: elements[index])
        } catch {
            throw MapStoreError.invalidArgument(reason: "element \(index) of \(self): \(error.reason)")
        }
    }
}

extension Tuple {
    /// One element of a tuple.
    public enum Element: Sendable, Hashable {
        /// Nil: sorts before every other element.
        case null
        /// A byte string, compared as its bytes.
        case bytes([UInt8])
        /// A string, compared as its UTF-8 bytes.
        case string(String)
        /// A nested tuple, compared as a tuple.
        case tuple(Tuple)
        /// An integer of any width, compared by value.
        case integer(Integer)
        /// A 32-bit float, in IEEE total order; sorts before every double.
        case float(Float)
        /// A double, in IEEE total order.
        case double(Double)
        /// A boolean, false first.
        case bool(Bool)
        /// A UUID, compared as its 16 bytes.
        case uuid(TupleUUID)

        /// Equality of encodings: strings by their UTF-8 bytes, floats and doubles by their bits.
        public static func == (a: Element, b: Element) -> Bool {
            switch (a, b) {
            case (.null, .null): true
            case let (.bytes(x), .bytes(y)): x == y
            case let (.string(x), .string(y)): x.utf8.elementsEqual(y.utf8)
            case let (.tuple(x), .tuple(y)): x == y
            case let (.integer(x), .integer(y)): x == y
            case let (.float(x), .float(y)): x.bitPattern == y.bitPattern
            case let (.double(x), .double(y)): x.bitPattern == y.bitPattern
            case let (.bool(x), .bool(y)): x == y
            case let (.uuid(x), .uuid(y)): x == y
            default: false
            }
        }

        /// Hashes what ``==`` compares.
        public func hash(into hasher: inout Hasher) {
            switch self {
            case .null: hasher.combine(0)
            case let .bytes(value): hasher.combine(1); hasher.combine(value)
            case let .string(value):
                hasher.combine(2)
                hasher.combine(value.utf8.count)
                for byte in value.utf8 { hasher.combine(byte) }
            case let .tuple(value): hasher.combine(5); hasher.combine(value)
            case let .integer(value): hasher.combine(0x14); hasher.combine(value)
            case let .float(value): hasher.combine(0x20); hasher.combine(value.bitPattern)
            case let .double(value): hasher.combine(0x21); hasher.combine(value.bitPattern)
            case let .bool(value): hasher.combine(0x26); hasher.combine(value)
            case let .uuid(value): hasher.combine(0x30); hasher.combine(value)
            }
        }
    }

    /// An integer element: any value from `Int64.min` through `UInt64.max`, whatever width it
    /// was written with (the encoding keeps only the value, so `UInt8(7)` and `Int(7)` are
    /// the same element).
    public struct Integer: Sendable, Hashable, Comparable, CustomStringConvertible {
        /// Whether the value is below zero (never for zero).
        public let isNegative: Bool
        /// The value's distance from zero: at most 2^63 when negative.
        public let magnitude: UInt64

        /// The smallest: `Int64.min`.
        public static let min = Integer(isNegative: true, magnitude: 1 << 63)
        /// The largest: `UInt64.max`.
        public static let max = Integer(isNegative: false, magnitude: .max)

        /// `value`, which must lie in `Int64.min...UInt64.max` (every integer type of 64 bits
        /// or fewer does); a wider value outside it traps, as an integer conversion would.
        public init<T: FixedWidthInteger>(_ value: T) {
            guard let integer = Integer(exactly: value) else {
                preconditionFailure("\(value) is outside the tuple integers' range Int64.min...UInt64.max")
            }
            self = integer
        }

        /// `value`, or nil when it lies outside `Int64.min...UInt64.max`.
        public init?<T: BinaryInteger>(exactly value: T) {
            guard let magnitude = UInt64(exactly: value.magnitude) else { return nil }
            let isNegative = value < 0
            if isNegative, magnitude > 1 << 63 { return nil }
            self.init(isNegative: isNegative, magnitude: magnitude)
        }

        init(isNegative: Bool, magnitude: UInt64) {
            self.isNegative = isNegative && magnitude != 0
            self.magnitude = magnitude
        }

        /// The value as a `T`, or nil when `T` cannot hold it.
        public func exactly<T: FixedWidthInteger>(_ type: T.Type = T.self) -> T? {
            guard isNegative else { return T(exactly: magnitude) }
            // -2^63 has no positive Int64 to negate.
            return magnitude == 1 << 63 ? T(exactly: Int64.min) : T(exactly: -Int64(magnitude))
        }

        /// Order by value.
        public static func < (a: Integer, b: Integer) -> Bool {
            switch (a.isNegative, b.isNegative) {
            case (true, false): true
            case (false, true): false
            case (true, true): a.magnitude > b.magnitude
            case (false, false): a.magnitude < b.magnitude
            }
        }

        /// The value in decimal.
        public var description: String { isNegative ? "-\(magnitude)" : "\(magnitude)" }
    }
}

extension Tuple: RandomAccessCollection, MutableCollection {
    /// Always 0.
    public var startIndex: Int { 0 }
    /// The number of elements.
    public var endIndex: Int { elements.count }

    /// Element `index` (which must exist).
    public subscript(index: Int) -> Element {
        get { elements[index] }
        set { elements[index] = newValue }
    }
}

extension Tuple: Comparable {
    /// The order of the encodings, which is the element-by-element order the type describes:
    /// the order of the keys in the store.
    public static func < (a: Tuple, b: Tuple) -> Bool {
        a.encoded.lexicographicallyPrecedes(b.encoded)
    }
}

extension Tuple: ExpressibleByArrayLiteral {
    /// A tuple of literals: `["alice", 3, nil, true, 2.5]`.
    public init(arrayLiteral elements: Element...) {
        self.elements = elements
    }
}

extension Tuple.Element: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral {
    /// A string element.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An integer element.
    public init(integerLiteral value: Int) { self = .integer(Tuple.Integer(value)) }
    /// A double element.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// A boolean element.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// The nil element.
    public init(nilLiteral: ()) { self = .null }
}

extension Tuple: CustomStringConvertible {
    /// The elements in parentheses: `("alice", 3, nil, true, 2.5, bytes(00ff), ("x"))`.
    public var description: String {
        "(" + elements.map(\.description).joined(separator: ", ") + ")"
    }
}

extension Tuple.Element: CustomStringConvertible {
    /// The element as ``Tuple/description`` writes it: strings quoted and escaped, bytes in
    /// hex as `bytes(00ff)`, a float as `Float(2.5)`, a UUID in its usual 8-4-4-4-12 form.
    public var description: String {
        switch self {
        case .null: "nil"
        case let .bytes(value): "bytes(" + hex(value) + ")"
        case let .string(value): String(reflecting: value)
        case let .tuple(value): value.description
        case let .integer(value): value.description
        case let .float(value): "Float(\(value))"
        case let .double(value): "\(value)"
        case let .bool(value): "\(value)"
        case let .uuid(value): value.description
        }
    }
}

/// `bytes` as lowercase hex, two digits a byte (for descriptions and error messages).
func hex<C: Collection<UInt8>>(_ bytes: C) -> String {
    bytes.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined()
}
