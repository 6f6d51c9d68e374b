import Foundation
import MapStore
import MapStoreVM

/// A fresh directory under the system's temporary directory, removed when the value goes away.
package final class TemporaryDirectory {
    package let path: String

    package init(_ label: String = #function) {
        let base = NSTemporaryDirectory() + "mapstore-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
        path = base
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A database path inside the directory.
    package func file(_ name: String = "test.mapstore") -> String { path + "/" + name }
}

/// The tests' seeded generator: the model's SplitMix64, so every failing sequence can be
/// replayed from its seed.
package typealias SeededGenerator = SplitMix64

extension Options {
    /// Test options: a small reservation so many databases can be open at once.
    package static func testing(_ mode: MappingMode = .readOnly, durability: Durability = .none) -> Options {
        var options = Options(mappingMode: mode, durability: durability)
        options.maxSize = 1 << 30
        return options
    }
}

/// Whether the long test mode is on (`MAPSTORE_LONG=1`).
package var longMode: Bool { ProcessInfo.processInfo.environment["MAPSTORE_LONG"] == "1" }
