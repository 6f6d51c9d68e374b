// swift-tools-version: 6.0
// libFuzzer targets for MapStore's parsers and page decoding. Build and run with
// Fuzz/run.sh (needs -sanitize=fuzzer, so it is its own package and not part of `swift test`).
import Foundation
import PackageDescription

// The root package's identity is the name of the folder it was cloned into ("main" here,
// anything in CI), so derive it rather than spell it.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// The fuzz executables have no top-level code: libFuzzer's main calls LLVMFuzzerTestOneInput.
let library: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "MapStoreFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(name: "fuzz-dump-reader", dependencies: [.product(name: "MapStore", package: root)], swiftSettings: library),
        .executableTarget(name: "fuzz-trace", dependencies: [.product(name: "MapStoreVM", package: root)], swiftSettings: library),
        .executableTarget(name: "fuzz-database-file", dependencies: [.product(name: "MapStore", package: root)], swiftSettings: library),
    ]
)
