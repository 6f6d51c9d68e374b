/// How a ``TypedTable`` turns its values into bytes and back.
///
/// ``BinaryValueCoder`` is the default; `import MapStoreFoundation` adds `JSONValueCoder`
/// (Foundation's JSONEncoder and JSONDecoder). A coder of your own can be given to
/// ``ReadTransaction/table(_:key:value:coder:)``; whatever it throws, the table reports as a
/// ``MapStoreError`` naming the table, the key and the type.
public protocol ValueCoder: Sendable {
    /// `value`'s bytes.
    func encode<Value: Encodable>(_ value: Value) throws -> [UInt8]

    /// The `Value` the bytes at `bytes` encode. The buffer is valid only during the call
    /// (it may point into the database's map): copy what you keep.
    func decode<Value: Decodable>(_ type: Value.Type, from bytes: UnsafeRawBufferPointer) throws -> Value
}

/// The default coder of typed tables: ``BinaryValueEncoder`` and ``BinaryValueDecoder``.
///
/// Compact (integers as varints, keys once per field, no punctuation) and several times
/// faster than JSON both ways (docs/typed.md has the figures); it decodes straight from the
/// map, without copying the value first.
public struct BinaryValueCoder: ValueCoder {
    /// The coder.
    public init() {}

    /// ``BinaryValueEncoder/encode(_:)``.
    public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        try BinaryValueEncoder().encode(value)
    }

    /// ``BinaryValueDecoder/decode(_:from:)-(_,UnsafeRawBufferPointer)``.
    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: UnsafeRawBufferPointer) throws -> Value {
        try BinaryValueDecoder().decode(type, from: bytes)
    }
}

/// A one-line account of a coder's error: the coding path and what the coder said, in place
/// of the nested dump `String(describing:)` gives of a `DecodingError`.
func describeCodingError(_ error: any Error) -> String {
    switch error {
    case let error as DecodingError:
        switch error {
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .keyNotFound(_, context),
             let .dataCorrupted(context):
            return describe(context.codingPath, context.debugDescription)
        @unknown default:
            return String(describing: error)
        }
    case let error as EncodingError:
        switch error {
        case let .invalidValue(_, context):
            return describe(context.codingPath, context.debugDescription)
        @unknown default:
            return String(describing: error)
        }
    case let error as MapStoreError:
        return error.description
    default:
        return String(describing: error)
    }
}

/// `at items[2].price: what` (or just `what` at the top).
private func describe(_ path: [any CodingKey], _ what: String) -> String {
    guard !path.isEmpty else { return what }
    var text = "at "
    for (i, key) in path.enumerated() {
        if let index = key.intValue, key.stringValue == "Index \(index)" {
            text += "[\(index)]"
        } else {
            text += (i == 0 ? "" : ".") + key.stringValue
        }
    }
    return text + ": " + what
}
