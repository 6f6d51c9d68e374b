// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "MapStore",
    products: [
        .library(name: "MapStore", targets: ["MapStore"]),
        .executable(name: "mapstore", targets: ["mapstore-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
            ],
        ),
        .executableTarget(
            name: "mapstore-cli",
            dependencies: [
                "MapStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "MapStoreTests",
            // mapstore-cli: CLITests run the built `mapstore` executable, so `swift test` must build it.
            dependencies: ["MapStore", "mapstore-cli"]
        ),
    ]
)
