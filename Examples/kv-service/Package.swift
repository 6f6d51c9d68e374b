// swift-tools-version: 6.0
// An HTTP key-value service on MapStore (Hummingbird 2), and its twin on SQLite through
// GRDB with the same endpoints, for the side-by-side load test (scripts/loadtest.sh).
// Its own package, so the library stays free of web dependencies.
import Foundation
import PackageDescription

// The root package's identity is the name of the folder it was cloned into.
let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "kv-service",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "KVService",
            dependencies: [
                .product(name: "MapStore", package: root),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "kv-service", dependencies: ["KVService"]),
        .testTarget(
            name: "KVServiceTests",
            dependencies: ["KVService", .product(name: "HummingbirdTesting", package: "hummingbird")]
        ),
    ]
)
