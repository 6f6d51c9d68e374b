import MapStoreTestSupport
import Testing
@testable import MapStore

/// The tuple encoding against an order defined here, element by element, independently of it:
/// memcmp of the encodings must order every seeded random pair as that model does, decoding
/// must give back the tuple, and no encoding may be a byte prefix of another unless its tuple
/// is a prefix of the other.
@Suite struct TupleTests {
    // MARK: The model order

    /// The kinds in the order the encoding promises.
    static func rank(_ element: Tuple.Element) -> Int {
        switch element {
        case .null: 0
        case .bytes: 1
        case .string: 2
        case .tuple: 3
        case .integer: 4
        case .float: 5
        case .double: 6
        case .bool: 7
        case .uuid: 8
        }
    }

    static func sign<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (a == b ? 0 : 1) }

    static func compareBytes<C: Collection<UInt8>>(_ a: C, _ b: C) -> Int {
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return sign(a.count, b.count)
    }

    /// IEEE 754 total order, by the standard library's `isTotallyOrdered(belowOrEqualTo:)`.
    static func compareIEEE<F: BinaryFloatingPoint>(_ a: F, _ b: F, sameBits: Bool) -> Int {
        if sameBits { return 0 }
        return a.isTotallyOrdered(belowOrEqualTo: b) ? -1 : 1
    }

    static func value(_ integer: Tuple.Integer) -> Int128 {
        integer.isNegative ? -Int128(integer.magnitude) : Int128(integer.magnitude)
    }

    static func compare(_ a: Tuple.Element, _ b: Tuple.Element) -> Int {
        let ranks = sign(rank(a), rank(b))
        if ranks != 0 { return ranks }
        switch (a, b) {
        case (.null, .null): return 0
        case let (.bytes(x), .bytes(y)): return compareBytes(x, y)
        case let (.string(x), .string(y)): return compareBytes(Array(x.utf8), Array(y.utf8))
        case let (.tuple(x), .tuple(y)): return compare(x, y)
        case let (.integer(x), .integer(y)): return sign(value(x), value(y))
        case let (.float(x), .float(y)): return compareIEEE(x, y, sameBits: x.bitPattern == y.bitPattern)
        case let (.double(x), .double(y)): return compareIEEE(x, y, sameBits: x.bitPattern == y.bitPattern)
        case let (.bool(x), .bool(y)): return sign(x ? 1 : 0, y ? 1 : 0)
        case let (.uuid(x), .uuid(y)): return compareBytes(x.bytes, y.bytes)
        default: preconditionFailure("same rank, different kinds")
        }
    }

    /// Element by element; on a common prefix, the shorter tuple first.
    static func compare(_ a: Tuple, _ b: Tuple) -> Int {
        for (x, y) in zip(a.elements, b.elements) {
            let order = compare(x, y)
            if order != 0 { return order }
        }
        return sign(a.count, b.count)
    }

    static func isProperPrefix(_ a: Tuple, of b: Tuple) -> Bool {
        a.count < b.count && zip(a.elements, b.elements).allSatisfy { compare($0, $1) == 0 }
    }

    // MARK: Random tuples

    /// Pieces of strings: zero bytes, multi-byte characters, both forms of "é".
    static let stringPieces = ["", "a", "b", "\0", "\0\0", "ab", "\u{E9}", "e\u{301}", "\u{FF}", "日本", "\u{10FFFF}", "z"]
    static let bytePieces: [UInt8] = [0x00, 0x01, 0x61, 0xFE, 0xFF]
    static let specialDoubles: [Double] = [
        0.0, -0.0, 1, -1, .infinity, -.infinity, .nan, -.nan, .signalingNaN, -.signalingNaN,
        Double(bitPattern: 0x7FF8_0000_0000_0001), Double(bitPattern: 0xFFF0_0000_0000_0001),
        .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
    ]
    static let specialIntegers: [Int128] = [
        0, 1, -1, 127, 128, 255, 256, -255, -256, -257, 65535, 65536,
        Int128(Int64.min), Int128(Int64.min) + 1, Int128(Int64.max), Int128(Int64.max) + 1, Int128(UInt64.max), Int128(UInt64.max) - 1,
    ]

    static func randomInteger(_ rng: inout SeededGenerator) -> Int128 {
        if rng.next() % 3 == 0 { return specialIntegers[Int(rng.next() % UInt64(specialIntegers.count))] }
        // A magnitude of a random bit length, so every byte length of the encoding comes up.
        let bits = Int(rng.next() % 65)
        let magnitude = bits == 0 ? 0 : rng.next() >> (64 - bits)
        if rng.next() % 2 == 0 || magnitude > 1 << 63 { return Int128(magnitude) }
        return -Int128(magnitude)
    }

    static func randomElement(_ rng: inout SeededGenerator, depth: Int) -> Tuple.Element {
        switch rng.next() % (depth < 3 ? 10 : 9) {
        case 0: return .null
        case 1: return .bytes((0..<Int(rng.next() % 5)).map { _ in bytePieces[Int(rng.next() % UInt64(bytePieces.count))] })
        case 2: return .string((0..<Int(rng.next() % 4)).map { _ in stringPieces[Int(rng.next() % UInt64(stringPieces.count))] }.joined())
        case 3: return .integer(Tuple.Integer(exactly: randomInteger(&rng))!)
        case 4:
            if rng.next() % 2 == 0 { return .float(Float(specialDoubles[Int(rng.next() % UInt64(specialDoubles.count))])) }
            return .float(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())))
        case 5:
            if rng.next() % 2 == 0 { return .double(specialDoubles[Int(rng.next() % UInt64(specialDoubles.count))]) }
            return .double(Double(bitPattern: rng.next()))
        case 6: return .bool(rng.next() % 2 == 0)
        case 7:
            // Few distinct high halves, so UUIDs often share a prefix.
            return .uuid(TupleUUID(high: rng.next() % 3, low: rng.next()))
        case 8: return .integer(Tuple.Integer(exactly: Int128(rng.next() % 4) - 2)!)
        default: return .tuple(randomTuple(&rng, depth: depth + 1))
        }
    }

    static func randomTuple(_ rng: inout SeededGenerator, depth: Int = 0) -> Tuple {
        Tuple(elements: (0..<Int(rng.next() % 4)).map { _ in randomElement(&rng, depth: depth) })
    }

    /// Two tuples, often close: equal, one a prefix of the other, one element changed, or the
    /// last string or bytes continued (the pairs a prefix-unsafe encoding gets wrong).
    static func randomPair(_ rng: inout SeededGenerator) -> (Tuple, Tuple) {
        let a = randomTuple(&rng)
        var b = a
        switch rng.next() % 6 {
        case 0: b = randomTuple(&rng)
        case 1: break
        case 2: for _ in 0..<(1 + rng.next() % 2) { b.elements.append(randomElement(&rng, depth: 0)) }
        case 3: b.elements.removeLast(Int(rng.next() % UInt64(b.count + 1)))
        case 4 where !b.isEmpty: b[Int(rng.next() % UInt64(b.count))] = randomElement(&rng, depth: 0)
        default:
            let extra = ["\0", "\0b", "b", "\0\0"][Int(rng.next() % 4)]
            switch b.last {
            case let .string(text)?: b[b.count - 1] = .string(text + extra)
            case let .bytes(bytes)?: b[b.count - 1] = .bytes(bytes + Array(extra.utf8))
            default: b.elements.append(.string(extra))
            }
        }
        return rng.next() % 2 == 0 ? (a, b) : (b, a)
    }

    // MARK: Properties

    @Test(arguments: 0..<8 as Range<UInt64>)
    func memcmpOrderIsTupleOrder(seed: UInt64) {
        var rng = SeededGenerator(seed: 0x7475_706C_6500 + seed)
        for _ in 0..<1500 {
            let (a, b) = Self.randomPair(&rng)
            let model = Self.compare(a, b)
            let bytes = Self.compareBytes(a.encoded, b.encoded)
            #expect(bytes == model, "\(a) vs \(b): memcmp says \(bytes), the tuples \(model)")
            #expect((a == b) == (model == 0), "\(a) == \(b)")
            #expect((a < b) == (model < 0), "\(a) < \(b)")
        }
    }

    @Test(arguments: 0..<8 as Range<UInt64>)
    func decodingGivesBackTheTuple(seed: UInt64) throws {
        var rng = SeededGenerator(seed: 0x6465_636F_6465 + seed)
        for _ in 0..<1500 {
            let tuple = Self.randomTuple(&rng)
            let decoded = try Tuple(decoding: tuple.encoded)
            #expect(decoded == tuple)
            #expect(Self.compare(decoded, tuple) == 0, "\(decoded) is \(tuple) element by element")
            #expect(decoded.encoded == tuple.encoded)
        }
    }

    @Test(arguments: 0..<8 as Range<UInt64>)
    func noEncodingIsAPrefixOfAnotherUnlessTheTupleIs(seed: UInt64) {
        var rng = SeededGenerator(seed: 0x7072_6566_6978 + seed)
        var prefixes = 0
        for _ in 0..<1500 {
            let (a, b) = Self.randomPair(&rng)
            let (x, y) = (a.encoded, b.encoded)
            let bytePrefix = x.count < y.count && y.starts(with: x)
            let tuplePrefix = Self.isProperPrefix(a, of: b)
            #expect(bytePrefix == tuplePrefix, "\(a) and \(b): byte prefix \(bytePrefix), tuple prefix \(tuplePrefix)")
            if tuplePrefix { prefixes += 1 }
        }
        #expect(prefixes > 100, "the pairs include many prefixes")
    }

    /// Bytes that are not an encoding throw; the ones that decode are an encoding of what they
    /// decode to. Every cut of a valid encoding too.
    @Test func randomAndCutBytesDecodeOrThrowCleanly() {
        var rng = SeededGenerator(seed: 99)
        var inputs: [[UInt8]] = []
        for _ in 0..<3000 {
            let codes: [UInt8] = [0x00, 0x01, 0x02, 0x05, 0x0C, 0x13, 0x14, 0x15, 0x1C, 0x20, 0x21, 0x26, 0x30, 0xFF]
            inputs.append((0..<Int(rng.next() % 12)).map { _ in
                rng.next() % 2 == 0 ? codes[Int(rng.next() % UInt64(codes.count))] : UInt8(truncatingIfNeeded: rng.next())
            })
        }
        for _ in 0..<200 {
            let bytes = Self.randomTuple(&rng).encoded
            for cut in 0..<bytes.count { inputs.append(Array(bytes[..<cut])) }
        }
        for bytes in inputs {
            do {
                let tuple = try Tuple(decoding: bytes)
                #expect(tuple.encoded == bytes, "0x\(hex(bytes)) decodes to \(tuple), which encodes otherwise")
            } catch {
                guard case let .invalidArgument(reason) = error else {
                    Issue.record("0x\(hex(bytes)): \(error)")
                    continue
                }
                #expect(reason.hasPrefix("malformed tuple at byte "), "\(reason)")
            }
        }
    }

    // MARK: Cases worked by hand

    @Test func encodingsOfEachKind() throws {
        #expect(Tuple().encoded == [])
        #expect(Tuple("hello").encoded == [0x02] + Array("hello".utf8) + [0x00, 0x00])
        #expect(Tuple([UInt8]([0x66, 0x00, 0x62])).encoded == [0x01, 0x66, 0x00, 0xFF, 0x62, 0x00, 0x00])
        #expect(Tuple(Tuple.Element.null).encoded == [0x00])
        #expect(Tuple(Tuple(Tuple.Element.null, "x")).encoded == [0x05, 0x00, 0xFF, 0x02, 0x78, 0x00, 0x00, 0x00, 0x00])
        #expect(Tuple(true, false).encoded == [0x27, 0x26])
        #expect(Tuple(0).encoded == [0x14])
        #expect(Tuple(1).encoded == [0x15, 0x01])
        #expect(Tuple(255).encoded == [0x15, 0xFF])
        #expect(Tuple(256).encoded == [0x16, 0x01, 0x00])
        #expect(Tuple(-1).encoded == [0x13, 0xFE])
        #expect(Tuple(-255).encoded == [0x13, 0x00])
        #expect(Tuple(-256).encoded == [0x12, 0xFE, 0xFF])
        #expect(Tuple(Int64.max).encoded == [0x1C, 0x7F] + [UInt8](repeating: 0xFF, count: 7))
        #expect(Tuple(Int.min).encoded == [0x0C, 0x7F] + [UInt8](repeating: 0xFF, count: 7))
        #expect(Tuple(UInt64.max).encoded == [0x1C] + [UInt8](repeating: 0xFF, count: 8))
        #expect(Tuple(1.0).encoded == [0x21, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0])
        #expect(Tuple(-1.0).encoded == [0x21, 0x40, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(Tuple(Float(1)).encoded == [0x20, 0xBF, 0x80, 0x00, 0x00])
        let uuid = TupleUUID(high: 0x0011_2233_4455_6677, low: 0x8899_AABB_CCDD_EEFF)
        #expect(Tuple(uuid).encoded == [0x30] + (0..<16).map { UInt8($0 * 0x11) })
        #expect(uuid.description == "00112233-4455-6677-8899-aabbccddeeff")
    }

    @Test func integersCompareByValueWhateverTheirWidth() throws {
        #expect(Tuple(Int8(-1)) == Tuple(Int64(-1)))
        #expect(Tuple(UInt8(7)).encoded == Tuple(7).encoded)
        #expect(Tuple(UInt16(300)).encoded == Tuple(Int32(300)).encoded)
        let ascending = [Tuple(Int.min), Tuple(Int32.min), Tuple(-256), Tuple(Int8(-1)), Tuple(UInt8(0)), Tuple(UInt8(255)),
                         Tuple(256), Tuple(Int.max), Tuple(UInt64(Int.max) + 1), Tuple(UInt64.max)]
        for (a, b) in zip(ascending, ascending.dropFirst()) {
            #expect(Self.compareBytes(a.encoded, b.encoded) < 0, "\(a) < \(b)")
        }
        #expect(try Tuple(decoding: Tuple(UInt64.max).encoded).value(at: 0, as: UInt64.self) == UInt64.max)
        #expect(try Tuple(decoding: Tuple(Int.min).encoded).value(at: 0, as: Int.self) == Int.min)
        #expect(throws: MapStoreError.invalidArgument(reason: "element 0 of (18446744073709551615): the integer 18446744073709551615 does not fit in Int")) {
            try Tuple(UInt64.max).value(at: 0, as: Int.self)
        }
        #expect(throws: MapStoreError.invalidArgument(reason: "element 0 of (300): the integer 300 does not fit in Int8")) {
            try Tuple(300).value(at: 0, as: Int8.self)
        }
        #expect(Tuple.Integer(exactly: Int128(UInt64.max) + 1) == nil)
        #expect(Tuple.Integer(exactly: Int128(Int64.min) - 1) == nil)
        #expect(Tuple.Integer(exactly: Int128(Int64.min)) == .min)
    }

    @Test func doublesAreInTotalOrderWithNaNsAtTheEnds() {
        let ascending: [Double] = [-.nan, -.infinity, -.greatestFiniteMagnitude, -1, -.leastNonzeroMagnitude, -0.0,
                                   0.0, .leastNonzeroMagnitude, 1, .greatestFiniteMagnitude, .infinity, .nan]
        let encoded = ascending.map { Tuple($0).encoded }
        for i in 1..<encoded.count {
            #expect(Self.compareBytes(encoded[i - 1], encoded[i]) < 0, "\(ascending[i - 1]) < \(ascending[i])")
        }
        #expect(Tuple(-0.0) != Tuple(0.0), "-0.0 and +0.0 are two keys")
        #expect(Tuple(Double.nan) == Tuple(Double.nan), "a NaN is its own key")
        let floats: [Float] = [-.nan, -.infinity, -1, -0.0, 0.0, 1, .infinity, .nan]
        let floatBytes = floats.map { Tuple($0).encoded }
        #expect(zip(floatBytes, floatBytes.dropFirst()).allSatisfy { Self.compareBytes($0, $1) < 0 })
        #expect(Self.compareBytes(Tuple(Float.infinity).encoded, Tuple(-Double.infinity).encoded) < 0, "every float before every double")
    }

    @Test func stringsCompareAsTheirUTF8Bytes() throws {
        let ascending = ["", "a", "a\0", "a\0\0", "a\0b", "ab", "b"].map { Tuple($0) }
        for (a, b) in zip(ascending, ascending.dropFirst()) {
            #expect(Self.compareBytes(a.encoded, b.encoded) < 0, "\(a) < \(b)")
            #expect(!b.encoded.starts(with: a.encoded), "\(a)'s bytes are no prefix of \(b)'s")
        }
        #expect(Self.compareBytes(Tuple("a", 5).encoded, Tuple("a\0b").encoded) < 0, "(\"a\", 5) < (\"a\\0b\")")
        let precomposed = "\u{E9}", decomposed = "e\u{301}"
        #expect(precomposed == decomposed, "Swift calls them equal")
        #expect(Tuple(precomposed) != Tuple(decomposed))
        #expect(Tuple(precomposed).encoded != Tuple(decomposed).encoded)
        #expect(Tuple(decomposed) < Tuple(precomposed), "0x65 ('e') before 0xc3")
        #expect(try Tuple(decoding: Tuple(decomposed).encoded).value(at: 0, as: String.self).utf8.elementsEqual(decomposed.utf8))
    }

    @Test func kindsSortInTheirOrder() {
        let ascending: Tuple = [nil, .bytes([0xFF]), "\u{10FFFF}", .tuple(["z"]), .integer(.max), .float(.nan), .double(.nan), false, true,
                                .uuid(TupleUUID(high: 0, low: 0))]
        let encoded = ascending.map { Tuple($0).encoded }
        #expect(zip(encoded, encoded.dropFirst()).allSatisfy { Self.compareBytes($0, $1) < 0 })
    }

    @Test func elementsReadBackAsTheirTypes() throws {
        let uuid = TupleUUID(high: 1, low: 2)
        let tuple = Tuple("alice", 3, true, 2.5, Float(1.5), [UInt8]([0, 1]), uuid, Tuple("x"), String?.none, Int?.some(4))
        let decoded = try Tuple(decoding: tuple.encoded)
        #expect(try decoded.value(at: 0, as: String.self) == "alice")
        #expect(try decoded.value(at: 1, as: UInt8.self) == 3)
        #expect(try decoded.value(at: 2, as: Bool.self))
        #expect(try decoded.value(at: 3, as: Double.self) == 2.5)
        #expect(try decoded.value(at: 4, as: Float.self) == 1.5)
        #expect(try decoded.value(at: 5, as: [UInt8].self) == [0, 1])
        #expect(try decoded.value(at: 6, as: TupleUUID.self) == uuid)
        #expect(try decoded.value(at: 7, as: Tuple.self) == ["x"])
        #expect(try decoded.value(at: 8, as: String?.self) == nil)
        #expect(try decoded.value(at: 9, as: Int?.self) == 4)
        #expect(decoded.description == "(\"alice\", 3, true, 2.5, Float(1.5), bytes(0001), 00000000-0000-0001-0000-000000000002, (\"x\"), nil, 4)")
        #expect(throws: MapStoreError.invalidArgument(reason: "element 0 of (\"a\"): expected Int, found the string \"a\"")) {
            try Tuple("a").value(at: 0, as: Int.self)
        }
        #expect(throws: MapStoreError.invalidArgument(reason: "element 0 of (1.0): expected Float, found the double 1.0")) {
            try Tuple(1.0).value(at: 0, as: Float.self)
        }
        #expect(throws: MapStoreError.invalidArgument(reason: "the tuple (1) has no element 1")) {
            try Tuple(1).value(at: 1, as: Int.self)
        }
    }

    /// Each way bytes can fail to be an encoding, with the offset and the words it is named by.
    @Test(arguments: [
        ([0x03], "malformed tuple at byte 0: unknown type code 0x03"),
        ([0x00, 0xFF], "malformed tuple at byte 1: unknown type code 0xff"),
        ([0x02, 0x61], "malformed tuple at byte 0: the string starting here has no terminating 0x00 0x00"),
        ([0x02, 0x61, 0x00], "malformed tuple at byte 2: a 0x00 at the end of the bytes, inside a string"),
        ([0x01, 0x00, 0x01], "malformed tuple at byte 1: 0x00 followed by 0x01 inside a byte string (only 0x00 0xff and 0x00 0x00 may follow)"),
        ([0x02, 0xC3, 0x28, 0x00, 0x00], "malformed tuple at byte 0: the string starting here is not valid UTF-8"),
        ([0x14, 0x15], "malformed tuple at byte 1: an integer cut short: 1 byte after its code, 0 left"),
        ([0x16, 0x00, 0x01], "malformed tuple at byte 0: an integer not in its shortest form"),
        ([0x13, 0xFF], "malformed tuple at byte 0: an integer not in its shortest form"),
        ([0x0C, 0x00, 0, 0, 0, 0, 0, 0, 0], "malformed tuple at byte 0: a negative integer below Int64.min"),
        ([0x1D, 0x09], "malformed tuple at byte 0: an integer of more than 8 bytes (outside Int64.min...UInt64.max)"),
        ([0x21, 0x00], "malformed tuple at byte 0: a double cut short: 8 bytes after its code, 1 left"),
        ([0x30, 1, 2, 3], "malformed tuple at byte 0: a UUID cut short: 16 bytes after its code, 3 left"),
        ([0x05, 0x14], "malformed tuple at byte 0: the nested tuple starting here has no terminating 0x00 0x00"),
        ([0x05, 0x00, 0x01], "malformed tuple at byte 1: 0x00 followed by 0x01 inside a nested tuple (only 0x00 0xff and 0x00 0x00 may follow)"),
    ] as [([UInt8], String)])
    func malformedBytesThrowNamingTheOffset(bytes: [UInt8], reason: String) {
        #expect(throws: MapStoreError.invalidArgument(reason: reason)) { try Tuple(decoding: bytes) }
    }

    @Test func nestingDeeperThanTheLimitThrows() throws {
        var tuple = Tuple(1)
        for _ in 0..<Tuple.maxDecodedNesting { tuple = Tuple(tuple) }
        #expect(try Tuple(decoding: tuple.encoded) == tuple, "\(Tuple.maxDecodedNesting) levels decode")
        let deeper = Tuple(tuple).encoded
        #expect(throws: MapStoreError.invalidArgument(
            reason: "malformed tuple at byte \(Tuple.maxDecodedNesting): tuples nested deeper than \(Tuple.maxDecodedNesting) levels")) {
            try Tuple(decoding: deeper)
        }
    }

    // MARK: Prefix ranges in a database

    /// A table of random tuple keys: a scan of `.prefix(p)` returns exactly the keys whose tuple
    /// starts with p, in the model's order; a range between two tuples, the keys between them.
    @Test func prefixRangesScanTheTuplesThatStartWithThePrefix() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        var rng = SeededGenerator(seed: 7)
        let firsts: [Tuple.Element] = ["a", "a\0", "a\0b", "ab", 1, 2, nil, .bytes([0]), .tuple(["a"]), .tuple(["a", nil])]
        var keys: [Tuple] = []
        for _ in 0..<600 {
            var key = Tuple(elements: [firsts[Int(rng.next() % UInt64(firsts.count))]])
            for _ in 0..<(rng.next() % 3) { key.elements.append(Self.randomElement(&rng, depth: 1)) }
            keys.append(key)
        }
        keys = keys.reduce(into: [Tuple]()) { unique, key in if !unique.contains(key) { unique.append(key) } }
        try db.write { txn in
            let table = try txn.table("t")
            for key in keys { try table.put(key.encoded, Array("\(key)".utf8)) }
        }
        let sorted = keys.sorted { Self.compare($0, $1) < 0 }
        try db.read { txn in
            let table = try txn.table("t")
            #expect(try table.entries().map { try Tuple(decoding: $0.key) } == sorted)
            for first in firsts {
                let prefix = Tuple(first)
                let expected = sorted.filter { $0 == prefix || Self.isProperPrefix(prefix, of: $0) }
                let scanned = try table.entries(in: .prefix(prefix)).map { try Tuple(decoding: $0.key) }
                #expect(scanned == expected, "prefix \(prefix)")
                #expect(!expected.isEmpty)
            }
            let (low, high) = (Tuple("a\0"), Tuple("ab"))
            let between = try table.entries(in: KeyRange(tuplesFrom: low, to: high)).map { try Tuple(decoding: $0.key) }
            #expect(between == sorted.filter { Self.compare($0, low) >= 0 && Self.compare($0, high) < 0 })
        }
    }
}
