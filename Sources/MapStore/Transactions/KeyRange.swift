/// A range of keys in byte order: from `lower` (inclusive) up to `upper` (exclusive).
public struct KeyRange: Sendable, Equatable {
    /// The first key in the range, or nil for "from the first key".
    public var lower: [UInt8]?
    /// The first key past the range, or nil for "to the last key".
    public var upper: [UInt8]?

    /// Keys from `lower` (inclusive) to `upper` (exclusive); nil means unbounded.
    public init(from lower: [UInt8]? = nil, to upper: [UInt8]? = nil) {
        self.lower = lower
        self.upper = upper
    }

    /// Every key.
    public static let all = KeyRange()

    /// Every key that starts with `prefix`.
    public static func prefix(_ prefix: [UInt8]) -> KeyRange {
        // The first key past the prefix: drop trailing 0xff bytes, then add one to the last.
        var end = prefix
        while let last = end.last, last == 0xFF { end.removeLast() }
        if end.isEmpty { return KeyRange(from: prefix, to: nil) }
        end[end.count - 1] += 1
        return KeyRange(from: prefix, to: end)
    }

    /// Every key that starts with the UTF-8 bytes of `prefix`.
    public static func prefix(_ prefix: String) -> KeyRange { .prefix(Array(prefix.utf8)) }

    /// Whether `key` lies in the range.
    func contains(_ key: UnsafeRawBufferPointer) -> Bool {
        if let lower, lower.withUnsafeBytes({ compareKeys(key, $0) < 0 }) { return false }
        if let upper, upper.withUnsafeBytes({ compareKeys(key, $0) >= 0 }) { return false }
        return true
    }

    func isBelow(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let lower else { return false }
        return lower.withUnsafeBytes { compareKeys(key, $0) < 0 }
    }

    func isAbove(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let upper else { return false }
        return upper.withUnsafeBytes { compareKeys(key, $0) >= 0 }
    }
}
