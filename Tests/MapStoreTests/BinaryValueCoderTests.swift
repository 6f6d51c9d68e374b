import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// The binary value coder on its own: round trips of what Codable types are made of, a seeded
/// random model of nested values, changed types reading old bytes, and damaged bytes, which
/// must throw (naming the byte) and never crash.
@Suite struct BinaryValueCoderTests {
    struct Address: Codable, Equatable, Sendable {
        var street: String
        var zip: Int?
    }

    enum Status: Codable, Equatable, Sendable {
        case pending
        case paid(amount: Double, currency: String)
        case shipped(Address, tracking: [String])
        indirect case split(Status, Status)
    }

    enum Size: String, Codable, Sendable { case small, large }

    struct Everything: Codable, Equatable, Sendable {
        var name: String
        var flags: [Bool]
        var int8: Int8, int16: Int16, int32: Int32, int64: Int64, int: Int
        var uint8: UInt8, uint16: UInt16, uint32: UInt32, uint64: UInt64, uint: UInt
        var float: Float
        var double: Double
        var bytes: [UInt8]
        var address: Address
        var addresses: [Address]
        var maybe: Address?
        var none: String?
        var some: String?
        var status: [Status]
        var size: Size
        var byName: [String: [Double]]
        var byNumber: [Int: String]
        var grid: [[Int]]
        var optionals: [Int?]
        var set: Set<String>
        var empty: [String: Int]

        // Made anew each time, not stored: a stored global's indirect enum payloads sit behind
        // tagged pointers that LeakSanitizer cannot follow, and it reported them as leaks.
        static var sample: Everything { Everything(
            name: "caf\u{E9} \u{1F600}", flags: [true, false, true],
            int8: .min, int16: -300, int32: .max, int64: .min, int: -1,
            uint8: .max, uint16: 300, uint32: .max, uint64: .max, uint: 127,
            float: -0.0, double: .pi, bytes: [0, 1, 0x80, 0xFF],
            address: Address(street: "Main", zip: 12345), addresses: [Address(street: "", zip: nil)],
            maybe: nil, none: nil, some: "x",
            status: [.pending, .paid(amount: 9.5, currency: "EUR"), .shipped(Address(street: "Dock", zip: 1), tracking: ["a", "b"]),
                     .split(.pending, .split(.paid(amount: 0, currency: ""), .pending))],
            size: .large, byName: ["a": [1, 2.5], "": [], "b\0c": [-1e300]], byNumber: [-1: "minus", 0: "zero", 1_000_000: "big"],
            grid: [[], [1], [2, 3]], optionals: [1, nil, 3], set: ["x", "y"], empty: [:]) }
    }

    static func roundTrip<T: Codable>(_ value: T) throws -> T {
        try BinaryValueDecoder().decode(T.self, from: try BinaryValueEncoder().encode(value))
    }

    @Test func everythingRoundTrips() throws {
        #expect(try Self.roundTrip(Everything.sample) == Everything.sample)
        #expect(try Self.roundTrip(Everything.sample.status) == Everything.sample.status)
        // Top-level primitives and optionals.
        #expect(try Self.roundTrip(42) == 42)
        #expect(try Self.roundTrip("") == "")
        #expect(try Self.roundTrip(Int?.none) == nil)
        #expect(try Self.roundTrip([UInt8]()) == [])
        #expect(try Self.roundTrip(Double.nan).isNaN)
        #expect(try Self.roundTrip([Double.infinity, -.infinity, -0.0]).map(\.bitPattern) == [Double.infinity, -.infinity, -0.0].map(\.bitPattern))
    }

    @Test func theBytesAreAsDocumented() throws {
        struct Small: Codable { var a: Int; var b: String?; var c: [Bool] }
        let bytes = try BinaryValueEncoder().encode(Small(a: 300, b: nil, c: [true]))
        #expect(bytes == [0x01,                       // format
                          0x09,                       // keyed
                          0x02, 0x61, 0x03, 0xAC, 0x02, // "a": 300 as a varint
                          0x02, 0x62, 0x00,           // "b": nil
                          0x02, 0x63, 0x0A, 0x02, 0x0B, // "c": [true]
                          0x00])                      // end of keyed
        #expect(try BinaryValueEncoder().encode(-1) == [0x01, 0x04, 0x00])
        #expect(try BinaryValueEncoder().encode(127) == [0x01, 0xFF])
        #expect(try BinaryValueEncoder().encode([UInt8]([7, 8])) == [0x01, 0x08, 0x02, 7, 8])
        let json = try JSONEncoder().encode(Everything.sample)
        let binary = try BinaryValueEncoder().encode(Everything.sample)
        #expect(binary.count < json.count, "binary \(binary.count) bytes, JSON \(json.count)")
    }

    /// A subclass that codes its superclass either through `superEncoder()` (in a nested
    /// entry "super") or by handing it the same encoder (whose keyed container then holds the
    /// superclass's fields beside its own).
    class Base: Codable {
        var id: Int
        init(id: Int) { self.id = id }
    }

    final class Labelled: Base {
        var label: String
        let viaSuperEncoder: Bool
        init(id: Int, label: String, viaSuperEncoder: Bool) {
            self.label = label
            self.viaSuperEncoder = viaSuperEncoder
            super.init(id: id)
        }
        enum Keys: String, CodingKey { case label, viaSuperEncoder }
        required init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            label = try container.decode(String.self, forKey: .label)
            viaSuperEncoder = try container.decode(Bool.self, forKey: .viaSuperEncoder)
            try super.init(from: viaSuperEncoder ? container.superDecoder() : decoder)
        }
        override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(label, forKey: .label)
            try container.encode(viaSuperEncoder, forKey: .viaSuperEncoder)
            try super.encode(to: viaSuperEncoder ? container.superEncoder() : encoder)
        }
    }

    /// The keys of a keyed container, in the order they were written.
    struct KeysOf: Decodable {
        let keys: [String]
        init(from decoder: any Decoder) throws {
            keys = try decoder.container(keyedBy: BinaryCodingKey.self).allKeys.map(\.stringValue)
        }
    }

    @Test(arguments: [true, false])
    func subclassesRoundTrip(viaSuperEncoder: Bool) throws {
        let value = Labelled(id: 7, label: "seven", viaSuperEncoder: viaSuperEncoder)
        let decoded = try Self.roundTrip(value)
        #expect(decoded.id == 7 && decoded.label == "seven" && decoded.viaSuperEncoder == viaSuperEncoder)
        let binaryKeys = try BinaryValueDecoder().decode(KeysOf.self, from: BinaryValueEncoder().encode(value)).keys.sorted()
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any]
        #expect(binaryKeys == json?.keys.sorted(), "the same entries as JSONEncoder writes")
        #expect(binaryKeys == (viaSuperEncoder ? ["label", "super", "viaSuperEncoder"] : ["id", "label", "viaSuperEncoder"]))
    }

    // MARK: A random model

    /// Nested values of every shape Codable builds, coded by hand as JSON-like containers.
    indirect enum Model: Codable, Equatable {
        case null, bool(Bool), int(Int64), uint(UInt64), double(Double), string(String), bytes([UInt8])
        case array([Model]), object([String: Model])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null; return }
            let keyed = try decoder.container(keyedBy: BinaryCodingKey.self)
            let kind = try keyed.decode(String.self, forKey: BinaryCodingKey(stringValue: "kind"))
            let key = BinaryCodingKey(stringValue: "value")
            switch kind {
            case "bool": self = .bool(try keyed.decode(Bool.self, forKey: key))
            case "int": self = .int(try keyed.decode(Int64.self, forKey: key))
            case "uint": self = .uint(try keyed.decode(UInt64.self, forKey: key))
            case "double": self = .double(try keyed.decode(Double.self, forKey: key))
            case "string": self = .string(try keyed.decode(String.self, forKey: key))
            case "bytes": self = .bytes(try keyed.decode([UInt8].self, forKey: key))
            case "array":
                var unkeyed = try keyed.nestedUnkeyedContainer(forKey: key)
                var elements: [Model] = []
                while !unkeyed.isAtEnd { elements.append(try unkeyed.decode(Model.self)) }
                self = .array(elements)
            default:
                let object = try keyed.nestedContainer(keyedBy: BinaryCodingKey.self, forKey: key)
                var members: [String: Model] = [:]
                for name in object.allKeys { members[name.stringValue] = try object.decode(Model.self, forKey: name) }
                self = .object(members)
            }
        }

        func encode(to encoder: any Encoder) throws {
            if case .null = self {
                var container = encoder.singleValueContainer()
                try container.encodeNil()
                return
            }
            var keyed = encoder.container(keyedBy: BinaryCodingKey.self)
            let key = BinaryCodingKey(stringValue: "value")
            func kind(_ name: String) throws { try keyed.encode(name, forKey: BinaryCodingKey(stringValue: "kind")) }
            switch self {
            case .null: break
            case let .bool(value): try kind("bool"); try keyed.encode(value, forKey: key)
            case let .int(value): try kind("int"); try keyed.encode(value, forKey: key)
            case let .uint(value): try kind("uint"); try keyed.encode(value, forKey: key)
            case let .double(value): try kind("double"); try keyed.encode(value, forKey: key)
            case let .string(value): try kind("string"); try keyed.encode(value, forKey: key)
            case let .bytes(value): try kind("bytes"); try keyed.encode(value, forKey: key)
            case let .array(elements):
                try kind("array")
                var unkeyed = keyed.nestedUnkeyedContainer(forKey: key)
                for element in elements { try unkeyed.encode(element) }
            case let .object(members):
                try kind("object")
                var object = keyed.nestedContainer(keyedBy: BinaryCodingKey.self, forKey: key)
                for (name, member) in members { try object.encode(member, forKey: BinaryCodingKey(stringValue: name)) }
            }
        }

        static func random(_ rng: inout SeededGenerator, depth: Int = 0) -> Model {
            switch rng.next() % (depth < 4 ? 9 : 7) {
            case 0: return .null
            case 1: return .bool(rng.next() % 2 == 0)
            case 2: return .int(Int64(bitPattern: rng.next()) >> (rng.next() % 64))
            case 3: return .uint(rng.next() >> (rng.next() % 64))
            case 4: return .double(Double(Int64(bitPattern: rng.next()) >> 40) / 8)
            case 5: return .string(["", "a", "\0", "\u{E9}", "\u{1F600}", "key"].shuffled(using: &rng).prefix(Int(rng.next() % 4)).joined())
            case 6: return .bytes((0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            case 7: return .array((0..<Int(rng.next() % 5)).map { _ in random(&rng, depth: depth + 1) })
            default:
                var members: [String: Model] = [:]
                for i in 0..<Int(rng.next() % 5) { members["m\(i)\(rng.next() % 3)"] = random(&rng, depth: depth + 1) }
                return .object(members)
            }
        }
    }

    @Test(arguments: 0..<4 as Range<UInt64>)
    func randomModelsRoundTrip(seed: UInt64) throws {
        var rng = SeededGenerator(seed: 0xC0DE + seed)
        for _ in 0..<300 {
            let model = Model.random(&rng)
            #expect(try Self.roundTrip(model) == model)
        }
    }

    /// Every cut and every flipped byte of a valid encoding: the decode either succeeds or
    /// throws a `DecodingError`; nothing traps or reads past the bytes.
    @Test func damagedBytesThrowAndNeverCrash() throws {
        var rng = SeededGenerator(seed: 3)
        let sample = try BinaryValueEncoder().encode(Everything.sample)
        for cut in 0..<sample.count {
            #expect(throws: DecodingError.self, "cut at \(cut)") { try BinaryValueDecoder().decode(Everything.self, from: Array(sample[..<cut])) }
        }
        for i in 0..<sample.count {
            var flipped = sample
            flipped[i] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            do { _ = try BinaryValueDecoder().decode(Everything.self, from: flipped) } catch is DecodingError {}
        }
        for _ in 0..<300 {
            let model = Model.random(&rng)
            var bytes = try BinaryValueEncoder().encode(model)
            bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            do { _ = try BinaryValueDecoder().decode(Model.self, from: bytes) } catch is DecodingError {}
        }
    }

    static func decodingError<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) -> String {
        do {
            _ = try BinaryValueDecoder().decode(type, from: bytes)
            return "no error"
        } catch {
            return describeCodingError(error)
        }
    }

    @Test func errorsNameThePlaceAndTheByte() throws {
        struct Wrong: Codable { var street: Int; var zip: String }
        let bytes = try BinaryValueEncoder().encode(Wrong(street: 5, zip: "x"))
        #expect(Self.decodingError(Address.self, from: bytes) == "at street: byte 9: expected a String, found an integer")
        struct Nested: Codable { var address: Wrong }
        let nested = try BinaryValueEncoder().encode(Nested(address: Wrong(street: 5, zip: "x")))
        #expect(Self.decodingError([String: Address].self, from: nested) == "at address.street: byte 18: expected a String, found an integer")
        #expect(Self.decodingError(Address.self, from: try BinaryValueEncoder().encode(["zip": 1]))
            == "no value for the key \"street\" (at byte 1)")
        #expect(Self.decodingError(Int8.self, from: try BinaryValueEncoder().encode(300)) == "byte 1: the integer 300 does not fit in Int8")
        #expect(Self.decodingError(UInt.self, from: try BinaryValueEncoder().encode(-2)) == "byte 1: the integer -2 does not fit in UInt")
        #expect(Self.decodingError(Int.self, from: Array("{\"a\":1}".utf8)) == "byte 0: format byte 0x7b, not 1: not a value BinaryValueEncoder wrote")
        #expect(Self.decodingError(Int.self, from: []) == "byte 0: no bytes at all")
        #expect(Self.decodingError(Int.self, from: [0x01, 0x81, 0x00]) == "byte 2: 1 bytes after the value")
        #expect(Self.decodingError(String.self, from: [0x01, 0x07, 0x05, 0x61]) == "byte 2: a String of 5 bytes runs past the end (1 left)")
        #expect(Self.decodingError(String.self, from: [0x01, 0x07, 0x01, 0xFF]) == "byte 1: a String that is not valid UTF-8")
        #expect(Self.decodingError(Int.self, from: [0x01, 0x03] + [UInt8](repeating: 0xFF, count: 9) + [0x02])
            == "byte 2: a varint longer than 64 bits")
        #expect(Self.decodingError(Int.self, from: [0x01, 0x0C]) == "byte 1: the unknown tag 0x0c where a value should be")
        #expect(Self.decodingError([Int].self, from: [0x01, 0x0A, 0x81]) == "byte 3: the bytes end where a value should be")
        #expect(Self.decodingError(Address.self, from: [0x01, 0x00]) == "byte 1: expected a keyed container, found nil")
        let deep = [0x01] + [UInt8](repeating: 0x0A, count: 600) + [UInt8](repeating: 0x0B, count: 600)
        #expect(Self.decodingError([Int].self, from: deep) == "byte 513: containers nested deeper than 512 levels")
    }

    @Test func aChangedTypeReadsWhatTheOldOneWrote() throws {
        struct Old: Codable { var name: String; var retired: Int; var count: Int }
        struct New: Codable, Equatable { var count: Int; var name: String; var added: String?; var maybe: [Int]? }
        let old = try BinaryValueEncoder().encode(Old(name: "n", retired: 1, count: 2))
        #expect(try BinaryValueDecoder().decode(New.self, from: old) == New(count: 2, name: "n", added: nil, maybe: nil))
    }

    @Test func interleavedContainersThrowInsteadOfWritingGarbage() throws {
        struct Interleaved: Encodable {
            enum Keys: CodingKey { case a, b }
            func encode(to encoder: any Encoder) throws {
                var outer = encoder.container(keyedBy: Keys.self)
                var inner = outer.nestedUnkeyedContainer(forKey: .a)
                try inner.encode(1)
                try outer.encode(2, forKey: .b)
                try inner.encode(3)   // `inner` was ended by the write to `outer`
            }
        }
        struct Twice: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode(1)
                try container.encode(2)
            }
        }
        #expect(throws: EncodingError.self) { try BinaryValueEncoder().encode(Interleaved()) }
        #expect(throws: EncodingError.self) { try BinaryValueEncoder().encode(Twice()) }
        do {
            _ = try BinaryValueEncoder().encode(Interleaved())
        } catch {
            #expect(describeCodingError(error).contains("cannot interleave containers"), "\(error)")
        }
    }

    /// A type that keeps its decoder and reads from it after the decode returned finds nothing
    /// there (the buffer may be gone), and gets an error, not a crash.
    @Test func aDecoderKeptPastItsDecodeReadsNothing() throws {
        final class Keeper: Decodable, @unchecked Sendable {
            nonisolated(unsafe) static var kept: (any Decoder)?
            init(from decoder: any Decoder) throws { Keeper.kept = decoder }
        }
        _ = try BinaryValueDecoder().decode(Keeper.self, from: try BinaryValueEncoder().encode(["a": 1]))
        let kept = try #require(Keeper.kept)
        #expect(throws: DecodingError.self) { try kept.container(keyedBy: BinaryCodingKey.self) }
        #expect(throws: DecodingError.self) { try kept.singleValueContainer().decode(Int.self) }
        Keeper.kept = nil
    }

    /// `[UInt8]` is stored as bytes: read back through a container it decodes, asked for as an
    /// unkeyed container by `Array.init(from:)` itself it is a type mismatch (docs/typed.md).
    @Test func bytesReadThroughAContainer() throws {
        struct ThroughContainer: Decodable {
            let bytes: [UInt8]
            init(from decoder: any Decoder) throws { bytes = try decoder.singleValueContainer().decode([UInt8].self) }
        }
        struct ThroughArray: Decodable {
            let bytes: [UInt8]
            init(from decoder: any Decoder) throws { bytes = try [UInt8](from: decoder) }
        }
        let encoded = try BinaryValueEncoder().encode([UInt8]([1, 2, 3]))
        #expect(try BinaryValueDecoder().decode(ThroughContainer.self, from: encoded).bytes == [1, 2, 3])
        #expect(Self.decodingError(ThroughArray.self, from: encoded) == "byte 1: expected an unkeyed container, found bytes")
    }

    @Test func largeValuesRoundTrip() throws {
        let numbers = (0..<100_000).map { $0 * 7919 - 300_000 }
        #expect(try Self.roundTrip(numbers) == numbers)
        let blob = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let bytes = try BinaryValueEncoder().encode(blob)
        #expect(bytes.count == blob.count + 5, "a format byte, a tag, a 3-byte length")
        #expect(try BinaryValueDecoder().decode([UInt8].self, from: bytes) == blob)
        let text = String(repeating: "ünïcödé ", count: 20_000)
        #expect(try Self.roundTrip(text) == text)
    }
}
