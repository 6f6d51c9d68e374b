// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "MapStore",
    products: [
        .library(name: "MapStore", targets: ["MapStore"]),
        .library(name: "MapStoreVM", targets: ["MapStoreVM"]),
        .library(name: "MapStoreShadow", targets: ["MapStoreShadow"]),
        .library(name: "MapStoreFoundation", targets: ["MapStoreFoundation"]),
        .library(name: "MapStoreReplication", targets: ["MapStoreReplication"]),
        .executable(name: "mapstore", targets: ["mapstore-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // Replication's S3 client: HTTP, and the HMAC and SHA-256 of its request signing.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .target(name: "CShims"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "MapStore",
            dependencies: [
                "CShims",
                "CZlib",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // What typed tables and tuple keys get from Foundation: the JSON value coder and UUID
        // elements. Its own target, so `import MapStore` does not link Foundation.
        .target(name: "MapStoreFoundation", dependencies: ["MapStore"]),
        // Replication to S3-compatible object storage: the S3 client (async-http-client, AWS
        // Signature Version 4). Its own target, so `import MapStore` stays free of the HTTP stack.
        .target(
            name: "MapStoreReplication",
            dependencies: [
                "MapStore",
                "CZlib",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The VM model: a Core i7 MMU and a Linux-style kernel, and the trace language.
        // It imports nothing of the store.
        .target(name: "MapStoreVM"),
        // Shadow mode: replays what the store did to its map in the VM model and compares the
        // model's prediction with the real kernel (/proc). It reaches the engine's hooks through
        // `package` declarations, so they are not the store's public API.
        .target(
            name: "MapStoreShadow",
            dependencies: ["MapStore", "MapStoreVM", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .executableTarget(
            name: "mapstore-cli",
            dependencies: [
                "MapStore", "MapStoreVM", "MapStoreShadow", "MapStoreReplication",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Child processes for the multi-process tests (bank transfers, readers and writers
        // killed mid-transaction). Not a product: only the tests run it.
        // (MapStoreVM for its seeded generator, SplitMix64.)
        .executableTarget(
            name: "mapstore-testhelper",
            dependencies: ["MapStore", "MapStoreVM"]
        ),
        // What several test targets share: running the built `mapstore`, temporary directories,
        // test options, the seeded generator. Test targets cannot import each other, so it is
        // a regular target, under Tests/ and used only by them; its declarations are `package`.
        .target(
            name: "MapStoreTestSupport",
            dependencies: ["MapStore", "MapStoreVM"],
            path: "Tests/MapStoreTestSupport"
        ),
        .testTarget(
            name: "MapStoreTests",
            // The tests run the built `mapstore` and `mapstore-testhelper` executables, so `swift test` must build them.
            dependencies: [
                "MapStore", "MapStoreFoundation", "MapStoreTestSupport", "mapstore-cli", "mapstore-testhelper",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "MapStoreReplicationTests",
            // Against a real SeaweedFS the tests start on free loopback ports (SeaweedFS.swift);
            // the CLI tests run the built `mapstore` (replicate, restore s3://).
            // The follower tests run `mapstore-testhelper`'s bank reader on the replica.
            dependencies: ["MapStore", "MapStoreReplication", "MapStoreTestSupport", "mapstore-cli", "mapstore-testhelper",
                           .product(name: "MetricsTestKit", package: "swift-metrics")]
        ),
        .testTarget(
            name: "MapStoreVMTests",
            // The CLI tests run the built `mapstore` (vm translate, vm replay).
            dependencies: ["MapStoreVM", "MapStoreTestSupport", "mapstore-cli"]
        ),
        .testTarget(
            name: "MapStoreShadowTests",
            // The CLI tests run the built `mapstore` (vm compare, vm shadow-peer).
            dependencies: ["MapStore", "MapStoreVM", "MapStoreShadow", "MapStoreTestSupport", "mapstore-cli"]
        ),
    ]
)
