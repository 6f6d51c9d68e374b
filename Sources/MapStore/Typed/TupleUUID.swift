/// The 16 bytes of a UUID, as a tuple element stores them (big-endian, as written in its
/// usual 8-4-4-4-12 form).
///
/// The engine does not import Foundation, so this is its own type; `import MapStoreFoundation`
/// makes Foundation's `UUID` a ``TupleElement`` that encodes as this.
public struct TupleUUID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The first eight bytes, big-endian.
    public var high: UInt64
    /// The last eight bytes, big-endian.
    public var low: UInt64

    /// The UUID whose bytes, first to last, are `high` then `low`, each big-endian.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The UUID of these 16 bytes (the layout of C's `uuid_t` and of Foundation's `UUID.uuid`).
    public init(_ bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                          UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        let array = withUnsafeBytes(of: bytes) { Array($0) }
        self.init(bigEndian: array[...])
    }

    /// The UUID of `bytes`; throws ``MapStoreError/invalidArgument(reason:)`` unless there are exactly 16.
    public init(bytes: [UInt8]) throws(MapStoreError) {
        guard bytes.count == 16 else {
            throw MapStoreError.invalidArgument(reason: "a UUID is 16 bytes, not \(bytes.count)")
        }
        self.init(bigEndian: bytes[...])
    }

    /// The UUID of 16 bytes (checked by the caller).
    init<C: Collection<UInt8>>(bigEndian bytes: C) where C.Index == Int {
        let start = bytes.startIndex
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 {
            high = high << 8 | UInt64(bytes[start + i])
            low = low << 8 | UInt64(bytes[start + 8 + i])
        }
        self.init(high: high, low: low)
    }

    /// The 16 bytes, first to last.
    public var bytes: [UInt8] {
        (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? high : low) >> (56 - 8 * (i % 8))) }
    }

    /// The 16 bytes as a tuple (the layout of C's `uuid_t`).
    public var uuid: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        let b = bytes
        return (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
    }

    /// Order of the bytes.
    public static func < (a: TupleUUID, b: TupleUUID) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }

    /// Lowercase hex in the 8-4-4-4-12 form.
    public var description: String {
        let digits = hex(bytes)
        var text = ""
        for (i, character) in digits.enumerated() {
            if i == 8 || i == 12 || i == 16 || i == 20 { text.append("-") }
            text.append(character)
        }
        return text
    }
}
