/// A value that can be an element of a ``Tuple``: `String`, every integer type of 64 bits or
/// fewer, `Bool`, `Double`, `Float`, `[UInt8]`, ``TupleUUID``, ``Tuple`` itself (nested),
/// ``Tuple/Element``, and an `Optional` of any of them (nil is the nil element).
/// `import MapStoreFoundation` adds Foundation's `UUID`.
public protocol TupleElement {
    /// The element this value is.
    var tupleElement: Tuple.Element { get }

    /// The value `element` is; throws ``MapStoreError/invalidArgument(reason:)`` when it is of
    /// another kind, or (for an integer) outside this type's range.
    init(tupleElement element: Tuple.Element) throws(MapStoreError)
}

extension TupleElement {
    /// The error for an element of the wrong kind.
    static func mismatch(_ element: Tuple.Element) -> MapStoreError {
        MapStoreError.invalidArgument(reason: "expected \(Self.self), found \(element.kindName) \(element)")
    }
}

extension Tuple.Element {
    /// The kind's name, for error messages.
    var kindName: String {
        switch self {
        case .null: "nil"
        case .bytes: "the bytes"
        case .string: "the string"
        case .tuple: "the tuple"
        case .integer: "the integer"
        case .float: "the float"
        case .double: "the double"
        case .bool: "the boolean"
        case .uuid: "the UUID"
        }
    }
}

extension Tuple.Element: TupleElement {
    /// Itself.
    public var tupleElement: Tuple.Element { self }
    /// `element` itself.
    public init(tupleElement element: Tuple.Element) { self = element }
}

extension Tuple: TupleElement {
    /// The nested-tuple element.
    public var tupleElement: Tuple.Element { .tuple(self) }
    /// The tuple of a nested-tuple element.
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .tuple(value) = element else { throw Self.mismatch(element) }
        self = value
    }
}

extension String: TupleElement {
    /// The string element.
    public var tupleElement: Tuple.Element { .string(self) }
    /// The string of a string element.
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .string(value) = element else { throw Self.mismatch(element) }
        self = value
    }
}

extension Bool: TupleElement {
    /// The boolean element.
    public var tupleElement: Tuple.Element { .bool(self) }
    /// The value of a boolean element.
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .bool(value) = element else { throw Self.mismatch(element) }
        self = value
    }
}

extension Double: TupleElement {
    /// The double element (its bits kept: a NaN's payload, -0.0).
    public var tupleElement: Tuple.Element { .double(self) }
    /// The value of a double element (a float element is another kind).
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .double(value) = element else { throw Self.mismatch(element) }
        self = value
    }
}

extension Float: TupleElement {
    /// The float element, which sorts before every double.
    public var tupleElement: Tuple.Element { .float(self) }
    /// The value of a float element (a double element is another kind).
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .float(value) = element else { throw Self.mismatch(element) }
        self = value
    }
}

extension Array: TupleElement where Element == UInt8 {
    /// The byte-string element.
    public var tupleElement: Tuple.Element { .bytes(self) }
    /// The bytes of a byte-string element.
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .bytes(value) = element else { throw Self.mismatch(element) }
        self = value
    }
}

extension TupleUUID: TupleElement {
    /// The UUID element.
    public var tupleElement: Tuple.Element { .uuid(self) }
    /// The UUID of a UUID element.
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .uuid(value) = element else { throw Self.mismatch(element) }
        self = value
    }
}

extension Optional: TupleElement where Wrapped: TupleElement {
    /// The wrapped value's element, or the nil element.
    public var tupleElement: Tuple.Element { self?.tupleElement ?? .null }
    /// nil for the nil element, else the wrapped type's value.
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        if case .null = element {
            self = nil
        } else {
            self = try Wrapped(tupleElement: element)
        }
    }
}

// Integers: one kind, compared by value, whatever the width.

extension TupleElement where Self: FixedWidthInteger {
    /// The integer element of this value.
    public var tupleElement: Tuple.Element { .integer(Tuple.Integer(self)) }
    /// The value of an integer element; throws when it does not fit in this type.
    public init(tupleElement element: Tuple.Element) throws(MapStoreError) {
        guard case let .integer(value) = element else { throw Self.mismatch(element) }
        guard let exact = value.exactly(Self.self) else {
            throw MapStoreError.invalidArgument(reason: "the integer \(value) does not fit in \(Self.self)")
        }
        self = exact
    }
}

extension Int: TupleElement {}
extension Int8: TupleElement {}
extension Int16: TupleElement {}
extension Int32: TupleElement {}
extension Int64: TupleElement {}
extension UInt: TupleElement {}
extension UInt8: TupleElement {}
extension UInt16: TupleElement {}
extension UInt32: TupleElement {}
extension UInt64: TupleElement {}
