import Foundation
import MapStore

/// A ``MapStore/ValueCoder`` that stores values as JSON, through Foundation's `JSONEncoder` and
/// `JSONDecoder`: readable by any tool, at several times the cost of the default
/// ``MapStore/BinaryValueCoder`` (docs/typed.md has the figures).
///
/// ```swift
/// let orders = try txn.table("orders", key: Tuple.self, value: Order.self, coder: JSONValueCoder())
/// ```
public struct JSONValueCoder: ValueCoder {
    /// Makes the encoder each ``encode(_:)`` uses (so its options are yours to set).
    let makeEncoder: @Sendable () -> JSONEncoder
    /// Makes the decoder each ``decode(_:from:)`` uses.
    let makeDecoder: @Sendable () -> JSONDecoder

    /// A coder with `JSONEncoder()` and `JSONDecoder()` as they come.
    public init() {
        self.init(encoder: { JSONEncoder() }, decoder: { JSONDecoder() })
    }

    /// A coder whose encoder and decoder `encoder` and `decoder` make and configure
    /// (key strategies, date formats, sorted keys): `JSONValueCoder(encoder: { let e =
    /// JSONEncoder(); e.outputFormatting = .sortedKeys; return e }, decoder: { JSONDecoder() })`.
    public init(encoder: @escaping @Sendable () -> JSONEncoder, decoder: @escaping @Sendable () -> JSONDecoder) {
        makeEncoder = encoder
        makeDecoder = decoder
    }

    /// `value` as UTF-8 JSON.
    public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        Array(try makeEncoder().encode(value))
    }

    /// The `Value` of the JSON at `bytes` (copied into `Data` first, which JSONDecoder needs).
    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: UnsafeRawBufferPointer) throws -> Value {
        try makeDecoder().decode(type, from: Data(bytes))
    }
}
