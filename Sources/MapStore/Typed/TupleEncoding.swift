// The tuple encoding: each element is a type code, then its bytes, so that memcmp of two
// encodings orders them as the tuples. The codes and the rules are FoundationDB's tuple
// layer's, but for one change (below, "terminator"):
//
//   nil            0x00                 (0x00 0xff inside a nested tuple)
//   bytes          0x01, the bytes with each 0x00 written 0x00 0xff, then 0x00 0x00
//   string         0x02, its UTF-8 bytes escaped the same way, then 0x00 0x00
//   nested tuple   0x05, its elements, then 0x00 0x00
//   integer        0x14 for zero; 0x14 + n, then the value in n big-endian bytes (1...8, the
//                  fewest that hold it) for a positive one; 0x14 - n, then the one's complement
//                  of its magnitude in n bytes, for a negative one
//   float          0x20, then 4 bytes; double 0x21, then 8: the IEEE bits big-endian, all of
//                  them flipped for a negative sign, only the sign bit flipped otherwise
//   false, true    0x26, 0x27
//   UUID           0x30, then its 16 bytes
//
// Why the order holds: type codes rise in the order of kinds; a longer positive integer is a
// larger one and gets a larger code, a longer negative one is a smaller one and gets a smaller
// code; in an escaped run the terminator 0x00 0x00 sorts below an escaped zero 0x00 0xff,
// which sorts below every other byte, so "a" < "a\0" < "ab"; the float transform maps IEEE
// total order onto unsigned order of the bits.
//
// The terminator: FoundationDB ends a string, a byte string or a nested tuple with a lone
// 0x00, which is a prefix of its escape 0x00 0xff, so ("a") encodes to a byte prefix of
// ("a\0b") and a byte-prefix scan of ("a") finds ("a\0b") too (its range functions work
// around it). Ending them with 0x00 0x00 costs a byte and makes every element's encoding
// prefix-free: one encoding is a byte prefix of another exactly when the tuple is a prefix
// of the other, and `KeyRange.prefix(tuple.encoded)` is the tuple's prefix range.

/// The type codes of the tuple encoding.
enum TupleCode {
    static let null: UInt8 = 0x00
    static let bytes: UInt8 = 0x01
    static let string: UInt8 = 0x02
    static let nested: UInt8 = 0x05
    /// Integers take `zero - 8 ... zero + 8`.
    static let zero: UInt8 = 0x14
    static let float: UInt8 = 0x20
    static let double: UInt8 = 0x21
    static let `false`: UInt8 = 0x26
    static let `true`: UInt8 = 0x27
    static let uuid: UInt8 = 0x30
    /// After 0x00 in bytes, a string or a nested tuple: the 0x00 was data (or, nested, a nil).
    static let escape: UInt8 = 0xFF
    /// After 0x00 in bytes, a string or a nested tuple: the element ends.
    static let end: UInt8 = 0x00
}

extension Tuple {
    /// The tuple's bytes: they compare with memcmp as the tuples compare.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        encode(into: &bytes)
        return bytes
    }

    /// Appends the tuple's bytes to `bytes`.
    public func encode(into bytes: inout [UInt8]) {
        for element in elements { element.encode(into: &bytes, nested: false) }
    }
}

extension Tuple.Element {
    /// Appends the element's bytes; `nested` inside a nested tuple, where nil needs an escape.
    func encode(into out: inout [UInt8], nested: Bool) {
        switch self {
        case .null:
            out.append(TupleCode.null)
            if nested { out.append(TupleCode.escape) }
        case let .bytes(value):
            out.append(TupleCode.bytes)
            value.withUnsafeBufferPointer { appendEscaped($0, to: &out) }
        case let .string(value):
            out.append(TupleCode.string)
            if value.utf8.withContiguousStorageIfAvailable({ appendEscaped($0, to: &out) }) == nil {
                appendEscaped(Array(value.utf8), to: &out)
            }
        case let .tuple(value):
            out.append(TupleCode.nested)
            for element in value.elements { element.encode(into: &out, nested: true) }
            out.append(TupleCode.null)
            out.append(TupleCode.end)
        case let .integer(value):
            encodeInteger(value, into: &out)
        case let .float(value):
            out.append(TupleCode.float)
            appendBigEndian(UInt64(orderedBits(value.bitPattern)), count: 4, to: &out)
        case let .double(value):
            out.append(TupleCode.double)
            appendBigEndian(orderedBits(value.bitPattern), count: 8, to: &out)
        case let .bool(value):
            out.append(value ? TupleCode.true : TupleCode.false)
        case let .uuid(value):
            out.append(TupleCode.uuid)
            appendBigEndian(value.high, count: 8, to: &out)
            appendBigEndian(value.low, count: 8, to: &out)
        }
    }
}

/// Appends `bytes` with each 0x00 written as 0x00 0xff, then the terminator 0x00 0x00.
private func appendEscaped<C: Collection<UInt8>>(_ bytes: C, to out: inout [UInt8]) {
    if !bytes.contains(0) {
        out.append(contentsOf: bytes)
    } else {
        for byte in bytes {
            out.append(byte)
            if byte == 0 { out.append(TupleCode.escape) }
        }
    }
    out.append(TupleCode.null)
    out.append(TupleCode.end)
}

private func encodeInteger(_ value: Tuple.Integer, into out: inout [UInt8]) {
    let length = (UInt64.bitWidth - value.magnitude.leadingZeroBitCount + 7) / 8
    if value.isNegative {
        // The one's complement in `length` bytes: 2^(8 length) - 1 - magnitude, which the low
        // bytes of ~magnitude are.
        out.append(TupleCode.zero - UInt8(length))
        appendBigEndian(~value.magnitude, count: length, to: &out)
    } else {
        out.append(TupleCode.zero + UInt8(length))
        appendBigEndian(value.magnitude, count: length, to: &out)
    }
}

/// Appends the low `count` bytes of `value`, most significant first.
private func appendBigEndian(_ value: UInt64, count: Int, to out: inout [UInt8]) {
    for i in stride(from: count - 1, through: 0, by: -1) {
        out.append(UInt8(truncatingIfNeeded: value >> (8 * i)))
    }
}

/// IEEE bits to bits whose unsigned order is IEEE total order: a negative number has all its
/// bits flipped (a larger magnitude is a smaller number), a positive one only its sign bit.
func orderedBits<T: FixedWidthInteger & UnsignedInteger>(_ bits: T) -> T {
    let sign: T = 1 << (T.bitWidth - 1)
    return bits & sign != 0 ? ~bits : bits ^ sign
}

/// The inverse of ``orderedBits(_:)``.
func ieeeBits<T: FixedWidthInteger & UnsignedInteger>(_ ordered: T) -> T {
    let sign: T = 1 << (T.bitWidth - 1)
    return ordered & sign != 0 ? ordered ^ sign : ~ordered
}
