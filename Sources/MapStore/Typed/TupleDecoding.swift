extension Tuple {
    /// The deepest nesting ``init(decoding:)`` accepts: more than a key of a database with
    /// 4 KiB pages can hold (998 bytes, three a level), few enough that decoding's recursion
    /// stays small.
    public static let maxDecodedNesting = 512

    /// The tuple `bytes` encode (``encoded``).
    ///
    /// Throws ``MapStoreError/invalidArgument(reason:)`` naming the byte offset and what is
    /// wrong when `bytes` are not an encoding this type writes: an unknown type code, an
    /// element cut short, a string or a nested tuple with no terminator, a string that is
    /// not UTF-8, an integer outside `Int64.min...UInt64.max` or not in its shortest form,
    /// nesting deeper than ``maxDecodedNesting``. It never reads past `bytes`. Every
    /// encoding it accepts is the one ``encoded`` writes for the result.
    public init<C: Collection<UInt8>>(decoding bytes: C) throws(MapStoreError) {
        let decoded: Result<Tuple, MapStoreError>? = bytes.withContiguousStorageIfAvailable { buffer in
            do throws(MapStoreError) { return .success(try Tuple(decoding: UnsafeRawBufferPointer(buffer))) } catch { return .failure(error) }
        }
        if let decoded {
            self = try decoded.get()
        } else {
            self = try withBytes(of: Array(bytes)) { (buffer) throws(MapStoreError) in try Tuple(decoding: buffer) }
        }
    }

    /// The tuple the bytes at `buffer` encode; see ``init(decoding:)-(C)``.
    public init(decoding buffer: UnsafeRawBufferPointer) throws(MapStoreError) {
        var reader = TupleReader(bytes: buffer)
        self.init(elements: try reader.elements(nestedAt: nil, depth: 0))
    }
}

/// Reads a tuple's elements from its bytes, checking every length before it reads.
struct TupleReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    func malformed(at offset: Int, _ what: String) -> MapStoreError {
        MapStoreError.invalidArgument(reason: "malformed tuple at byte \(offset): \(what)")
    }

    /// The elements up to the end of the bytes or, in a nested tuple (which started with
    /// its type code at `nestedAt`), up to its terminator.
    mutating func elements(nestedAt start: Int?, depth: Int) throws(MapStoreError) -> [Tuple.Element] {
        var elements: [Tuple.Element] = []
        while offset < bytes.count {
            if start != nil, bytes[offset] == TupleCode.null {
                // Inside a nested tuple 0x00 0xff is nil, 0x00 0x00 ends the tuple.
                let next = try byteAfterZero(at: offset, in: "nested tuple")
                offset += 2
                if next == TupleCode.end { return elements }
                elements.append(.null)
                continue
            }
            elements.append(try element(depth: depth))
        }
        if let start {
            throw malformed(at: start, "the nested tuple starting here has no terminating 0x00 0x00")
        }
        return elements
    }

    /// The element whose type code is at `offset`.
    mutating func element(depth: Int) throws(MapStoreError) -> Tuple.Element {
        let start = offset
        let code = bytes[offset]
        offset += 1
        switch code {
        case TupleCode.null:
            return .null
        case TupleCode.bytes:
            return .bytes(try escapedRun(startingAt: start, kind: "byte string"))
        case TupleCode.string:
            let utf8 = try escapedRun(startingAt: start, kind: "string")
            guard let string = validatedUTF8(utf8) else {
                throw malformed(at: start, "the string starting here is not valid UTF-8")
            }
            return .string(string)
        case TupleCode.nested:
            guard depth < Tuple.maxDecodedNesting else {
                throw malformed(at: start, "tuples nested deeper than \(Tuple.maxDecodedNesting) levels")
            }
            return .tuple(Tuple(elements: try elements(nestedAt: start, depth: depth + 1)))
        case TupleCode.zero - 8...TupleCode.zero + 8:
            return .integer(try integer(code: code, at: start))
        case TupleCode.zero - 9, TupleCode.zero + 9:
            throw malformed(at: start, "an integer of more than 8 bytes (outside Int64.min...UInt64.max)")
        case TupleCode.float:
            return .float(Float(bitPattern: ieeeBits(UInt32(try bigEndian(4, of: "a float", at: start)))))
        case TupleCode.double:
            return .double(Double(bitPattern: ieeeBits(try bigEndian(8, of: "a double", at: start))))
        case TupleCode.false:
            return .bool(false)
        case TupleCode.true:
            return .bool(true)
        case TupleCode.uuid:
            try need(16, of: "a UUID", at: start)
            let high = try bigEndian(8, of: "a UUID", at: start)
            return .uuid(TupleUUID(high: high, low: try bigEndian(8, of: "a UUID", at: start)))
        default:
            throw malformed(at: start, "unknown type code 0x\(hex([code]))")
        }
    }

    /// The bytes of an escaped run (a byte string's or a string's) from `offset` to its
    /// terminator, unescaped; the offset moves past the terminator.
    mutating func escapedRun(startingAt start: Int, kind: String) throws(MapStoreError) -> [UInt8] {
        var run: [UInt8] = []
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte != 0 {
                run.append(byte)
                offset += 1
                continue
            }
            let next = try byteAfterZero(at: offset, in: kind)
            offset += 2
            if next == TupleCode.end { return run }
            run.append(0)
        }
        throw malformed(at: start, "the \(kind) starting here has no terminating 0x00 0x00")
    }

    /// The byte after the 0x00 at `offset` in a string, byte string or nested tuple: 0xff
    /// (an escaped zero, or a nil) or 0x00 (the end); anything else is malformed.
    func byteAfterZero(at offset: Int, in kind: String) throws(MapStoreError) -> UInt8 {
        guard offset + 1 < bytes.count else {
            throw malformed(at: offset, "a 0x00 at the end of the bytes, inside a \(kind)")
        }
        let next = bytes[offset + 1]
        guard next == TupleCode.escape || next == TupleCode.end else {
            throw malformed(at: offset, "0x00 followed by 0x\(hex([next])) inside a \(kind) (only 0x00 0xff and 0x00 0x00 may follow)")
        }
        return next
    }

    /// An integer of code `code` (at `start`): its bytes follow.
    mutating func integer(code: UInt8, at start: Int) throws(MapStoreError) -> Tuple.Integer {
        let isNegative = code < TupleCode.zero
        let length = Int(isNegative ? TupleCode.zero - code : code - TupleCode.zero)
        if length == 0 { return Tuple.Integer(isNegative: false, magnitude: 0) }
        let first = offset
        let raw = try bigEndian(length, of: "an integer", at: start)
        if isNegative {
            // The one's complement of the magnitude in `length` bytes; a first byte of 0xff
            // would be a magnitude that fits in fewer bytes.
            guard bytes[first] != 0xFF else { throw malformed(at: start, "an integer not in its shortest form") }
            let magnitude = length == 8 ? ~raw : (UInt64(1) << (8 * length)) - 1 - raw
            guard magnitude <= 1 << 63 else { throw malformed(at: start, "a negative integer below Int64.min") }
            return Tuple.Integer(isNegative: true, magnitude: magnitude)
        }
        guard bytes[first] != 0 else { throw malformed(at: start, "an integer not in its shortest form") }
        return Tuple.Integer(isNegative: false, magnitude: raw)
    }

    /// Checks that `count` bytes follow the offset, for `kind` (the element at `start`).
    func need(_ count: Int, of kind: String, at start: Int) throws(MapStoreError) {
        let left = bytes.count - offset
        guard left >= count else {
            throw malformed(at: start, "\(kind) cut short: \(count) \(count == 1 ? "byte" : "bytes") after its code, \(left) left")
        }
    }

    /// The next `count` bytes (at most 8) as a big-endian number; the offset moves past them.
    mutating func bigEndian(_ count: Int, of kind: String, at start: Int) throws(MapStoreError) -> UInt64 {
        try need(count, of: kind, at: start)
        var value: UInt64 = 0
        for i in offset..<offset + count { value = value << 8 | UInt64(bytes[i]) }
        offset += count
        return value
    }
}

/// The string `utf8` spells, or nil when it is not valid UTF-8 (never repaired: a repair would
/// change the bytes, and the bytes are what a key is).
func validatedUTF8<C: Collection<UInt8>>(_ utf8: C) -> String? {
    // ASCII, most names and keys, is UTF-8 as it is (and the generic validation below
    // instantiates type metadata on every call).
    if !utf8.contains(where: { $0 >= 0x80 }) { return String(decoding: utf8, as: UTF8.self) }
    if #available(macOS 15, iOS 18, tvOS 18, watchOS 11, visionOS 2, *) {
        return String(validating: utf8, as: UTF8.self)
    }
    let string = String(decoding: utf8, as: UTF8.self)
    // Decoding replaces each invalid sequence with U+FFFD, so the bytes differ exactly when
    // some were invalid.
    return string.utf8.elementsEqual(utf8) ? string : nil
}
