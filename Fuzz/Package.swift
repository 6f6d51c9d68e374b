// swift-tools-version: 6.0
// libFuzzer targets for MapStore's parsers and page decoding. Build and run with
// Fuzz/run.sh (needs -sanitize=fuzzer, so it is its own package and not part of `swift test`).
import PackageDescription

// The fuzz executables have no top-level code: libFuzzer's main calls LLVMFuzzerTestOneInput.
let library: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "MapStoreFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(name: "fuzz-dump-reader", dependencies: [.product(name: "MapStore", package: "main")], swiftSettings: library),
        .executableTarget(name: "fuzz-trace", dependencies: [.product(name: "MapStore", package: "main")], swiftSettings: library),
        .executableTarget(name: "fuzz-database-file", dependencies: [.product(name: "MapStore", package: "main")], swiftSettings: library),
    ]
)
