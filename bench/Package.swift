// swift-tools-version: 6.0
import PackageDescription

// The benchmark suite: MapStore side by side with LMDB and SQLite (docs/benchmarks.md).
// Its own package, so the library never links LMDB or SQLite.
let package = Package(
    name: "MapStoreBench",
    dependencies: [
        .package(name: "MapStore", path: ".."),
    ],
    targets: [
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .executableTarget(
            name: "mapstore-bench",
            dependencies: [
                "CLMDB", "CSQLite",
                .product(name: "MapStore", package: "MapStore"),
            ]
        ),
        // Durable writes per second with 1, 8 and 64 concurrent async writers, group commit
        // off and on (MapStore only: LMDB and SQLite have no async API to compare).
        .executableTarget(
            name: "group-commit-bench",
            dependencies: [.product(name: "MapStore", package: "MapStore")]
        ),
        // Encode and decode per value of a typed table's coders: the binary coder (the
        // default) against Foundation's JSONEncoder and JSONDecoder (docs/typed.md).
        .executableTarget(
            name: "coder-bench",
            dependencies: [
                .product(name: "MapStore", package: "MapStore"),
                .product(name: "MapStoreFoundation", package: "MapStore"),
            ]
        ),
    ],
    swiftLanguageModes: [.v5]
)
