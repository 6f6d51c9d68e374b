// The bytes of ``BinaryValueEncoder``: a format byte (1), then one value. A value is a tag
// byte and what the tag says follows:
//
//   0x00           nil
//   0x01, 0x02     false, true
//   0x03 n         an integer >= 128: n as a LEB128 varint (7 bits a byte, low first)
//   0x04 n         a negative integer: ~value (= -1 - value) as a varint
//   0x05 f         a Float: 4 bytes, little-endian IEEE bits
//   0x06 d         a Double: 8 bytes, little-endian IEEE bits
//   0x07 len utf8  a String: its UTF-8 byte count as a varint, then the bytes
//   0x08 len bytes a [UInt8]: its count as a varint, then the bytes
//   0x09 entries 0 a keyed container: entries of (the key's UTF-8 byte count + 1 as a varint,
//                  the key's bytes, a value), ended by a 0x00 byte (a count + 1 of zero)
//   0x0a values 0b an unkeyed container: values, ended by the tag 0x0b
//   0x80 | n       an integer 0...127 in the tag itself
//
// No value says how long it is, so a decoder that skips one walks it (strings and byte
// arrays in one step). Keyed entries keep their keys, so a type can add an optional field,
// drop one or reorder them and still read what it wrote before; nil optionals are written as
// a key with nil, so a decoder reading fields in the order they were written never searches.

/// The tags and limits of the binary value format.
enum BinaryFormat {
    /// The first byte of every encoded value.
    static let version: UInt8 = 1

    static let null: UInt8 = 0x00
    static let `false`: UInt8 = 0x01
    static let `true`: UInt8 = 0x02
    static let unsigned: UInt8 = 0x03
    static let negative: UInt8 = 0x04
    static let float: UInt8 = 0x05
    static let double: UInt8 = 0x06
    static let string: UInt8 = 0x07
    static let bytes: UInt8 = 0x08
    static let keyed: UInt8 = 0x09
    static let unkeyed: UInt8 = 0x0A
    static let endOfUnkeyed: UInt8 = 0x0B
    /// Tags from here up hold an integer 0...127 in their low bits.
    static let smallInteger: UInt8 = 0x80
    /// Ends a keyed container where the next entry's key length would be.
    static let endOfKeyed: UInt8 = 0x00

    /// The deepest nesting of containers either side accepts: a decoder recurses once a
    /// level, so a damaged value cannot run it out of stack.
    static let maxNesting = 512

    /// The primitive type `type` is, if it is one: what lets the containers write and read
    /// the elements of `[String]`, `[Int]`, ... (which reach them as generic values) directly.
    @inline(__always)
    static func scalarType<T>(of type: T.Type) -> (any BinaryScalar.Type)? {
        // Metatype comparisons, most common first: cheaper than a dynamic cast to the protocol.
        if T.self == String.self { return String.self }
        if T.self == Int.self { return Int.self }
        if T.self == Double.self { return Double.self }
        if T.self == Bool.self { return Bool.self }
        if T.self == Int64.self { return Int64.self }
        if T.self == UInt64.self { return UInt64.self }
        if T.self == Int32.self { return Int32.self }
        if T.self == UInt32.self { return UInt32.self }
        if T.self == Float.self { return Float.self }
        if T.self == UInt8.self { return UInt8.self }
        if T.self == Int8.self { return Int8.self }
        if T.self == Int16.self { return Int16.self }
        if T.self == UInt16.self { return UInt16.self }
        if T.self == UInt.self { return UInt.self }
        return nil
    }

    /// What a tag holds, for error messages.
    static func name(of tag: UInt8) -> String {
        switch tag {
        case null: "nil"
        case `false`, `true`: "a Bool"
        case unsigned, negative, smallInteger...: "an integer"
        case float: "a Float"
        case double: "a Double"
        case string: "a String"
        case bytes: "bytes"
        case keyed: "a keyed container"
        case unkeyed: "an unkeyed container"
        case endOfUnkeyed: "the end of an unkeyed container"
        default: "the unknown tag 0x\(hex([tag]))"
        }
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as a LEB128 varint: 7 bits a byte, low bits first, the high bit set on
    /// every byte but the last.
    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        append(UInt8(value))
    }

    /// Appends the low `count` bytes of `value`, least significant first.
    @inline(__always)
    mutating func appendLittleEndian(_ value: UInt64, count: Int) {
        for i in 0..<count { append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }
}

/// A primitive type of `Codable`: what each container writes for it (BinaryValueEncoder.swift)
/// and reads back (BinaryValueDecoder.swift).
protocol BinaryScalar {
    func write(to state: BinaryEncodingState)
    /// The value at `offset`; `end` becomes the offset just past it.
    static func read(from state: BinaryDecodingState, at offset: Int, end: inout Int) throws(BinaryReadFailure) -> Self
}

extension Bool: BinaryScalar {}
extension String: BinaryScalar {}
extension Double: BinaryScalar {}
extension Float: BinaryScalar {}
extension Int: BinaryScalar {}
extension Int8: BinaryScalar {}
extension Int16: BinaryScalar {}
extension Int32: BinaryScalar {}
extension Int64: BinaryScalar {}
extension UInt: BinaryScalar {}
extension UInt8: BinaryScalar {}
extension UInt16: BinaryScalar {}
extension UInt32: BinaryScalar {}
extension UInt64: BinaryScalar {}
