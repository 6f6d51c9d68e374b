import Foundation
import MapStore
import MapStoreTestSupport

/// A running child process whose stdout the test reads line by line.
final class ChildProcess {
    let process = Process()
    private let output = Pipe()
    private var buffer = Data()

    /// Starts `executable ARGUMENTS`; stderr goes to the test's stderr.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        try process.run()
    }

    /// The next line of stdout, or nil at end of file (the child exited).
    func readLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }

    /// Waits for the child to exit and returns its status (or -signal when killed).
    @discardableResult
    func wait() -> Int32 {
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
    }

    /// SIGKILL, the crash no code can catch.
    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        wait()
    }

    /// Everything left on stdout until the child exits.
    func remainingLines() -> [String] {
        var lines: [String] = []
        while let line = readLine() { lines.append(line) }
        return lines
    }
}

/// The multi-process test helper, built beside the test bundle like `mapstore`.
enum TestHelper {
    static let executable: String = {
        let cli = URL(fileURLWithPath: CLI.executable)
        return cli.deletingLastPathComponent().appendingPathComponent("mapstore-testhelper").path
    }()

    /// Starts the helper; `durability` overrides its default `.noMetaSync`.
    static func start(_ arguments: [String], writeMap: Bool = false, durability: Durability? = nil) throws -> ChildProcess {
        var environment: [String: String] = writeMap ? ["MAPSTORE_TEST_WRITEMAP": "1"] : [:]
        if let durability { environment["MAPSTORE_TEST_DURABILITY"] = durability.rawValue }
        return try ChildProcess(executable, arguments, environment: environment)
    }
}
