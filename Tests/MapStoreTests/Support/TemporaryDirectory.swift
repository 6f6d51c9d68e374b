import Foundation
@testable import MapStore

/// A fresh directory under the system's temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init(_ label: String = #function) {
        let base = NSTemporaryDirectory() + "mapstore-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
        path = base
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A database path inside the directory.
    func file(_ name: String = "test.mapstore") -> String { path + "/" + name }
}

/// A small deterministic generator (SplitMix64), so every failing sequence can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Options {
    /// Test options: a small reservation so many databases can be open at once.
    static func testing(_ mode: MappingMode = .readOnly, durability: Durability = .none) -> Options {
        var options = Options(mappingMode: mode, durability: durability)
        options.maxSize = 1 << 30
        return options
    }
}

/// Whether the long test mode is on (`MAPSTORE_LONG=1`).
var longMode: Bool { ProcessInfo.processInfo.environment["MAPSTORE_LONG"] == "1" }
