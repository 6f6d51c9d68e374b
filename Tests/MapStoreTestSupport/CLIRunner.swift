import Foundation
import Testing

/// What one run of the `mapstore` executable did.
package struct CLIResult {
    /// The exit status.
    package var status: Int32
    /// Everything written to stdout, as bytes.
    package var stdout: [UInt8]
    /// Everything written to stderr, as bytes.
    package var stderr: [UInt8]

    /// stdout as UTF-8 text.
    package var out: String { String(decoding: stdout, as: UTF8.self) }
    /// stderr as UTF-8 text.
    package var err: String { String(decoding: stderr, as: UTF8.self) }
    /// stdout split into lines (without their newlines).
    package var lines: [String] { out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
}

/// Runs the built `mapstore` executable as a real subprocess.
package enum CLI {
    /// The `mapstore` binary: `MAPSTORE_CLI` if set, else the one beside the test bundle in
    /// the build directory (the test target depends on mapstore-cli, so `swift test` builds it).
    package static let executable: String = {
        if let override = ProcessInfo.processInfo.environment["MAPSTORE_CLI"] { return override }
        var candidates: [URL] = []
        if let url = Bundle.main.executableURL { candidates.append(url.deletingLastPathComponent()) }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL)
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in candidates {
            let path = directory.appendingPathComponent("mapstore").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return candidates[0].appendingPathComponent("mapstore").path
    }()

    /// The dump fixtures made by LMDB 0.9.24's tools (Tests/Fixtures/dump).
    package static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/dump")

    /// The bytes of a fixture file.
    package static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    /// Runs `mapstore ARGUMENTS` with `stdin` (empty when nil) in `directory`, and checks
    /// that it ended by exiting (never by a signal) within a generous hang guard. stdout is
    /// captured unless a `stdout` handle is given (then the result's stdout is empty).
    @discardableResult
    package static func run(
        _ arguments: [String], stdin: [UInt8]? = nil, in directory: String? = nil, stdout: FileHandle? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> CLIResult {
        try launch(executable, arguments, described: "mapstore \(arguments)", stdin: stdin, in: directory, stdout: stdout,
                   sourceLocation: sourceLocation)
    }

    /// Runs `mapstore` with arguments given as raw bytes, which need not be UTF-8 (Foundation's
    /// `Process` takes `String`s, which always are): `/bin/sh` builds each argument with
    /// `printf` octal escapes and execs the binary, so the child's argv holds exactly these
    /// bytes. An argument must not end in a newline (command substitution drops it).
    @discardableResult
    package static func run(
        bytes arguments: [[UInt8]], stdin: [UInt8]? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> CLIResult {
        let words = arguments.map { argument in
            "\"$(printf '" + argument.map { "\\" + String($0, radix: 8) }.joined() + "')\""
        }
        let script = "exec '\(executable)' " + words.joined(separator: " ")
        let described = "mapstore \(arguments.map { String(decoding: $0, as: UTF8.self) })"
        return try launch("/bin/sh", ["-c", script], described: described, stdin: stdin, in: nil, stdout: nil,
                          sourceLocation: sourceLocation)
    }

    /// Runs another program, `path ARGUMENTS` (a shell, an LMDB tool), as `run` runs `mapstore`.
    @discardableResult
    package static func run(
        program path: String, _ arguments: [String], in directory: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> CLIResult {
        try launch(path, arguments, described: "\(path) \(arguments)", stdin: nil, in: directory, stdout: nil,
                   sourceLocation: sourceLocation)
    }

    /// Runs `path ARGUMENTS` as `run` describes, calling it `described` in failures.
    private static func launch(
        _ path: String, _ arguments: [String], described: String, stdin: [UInt8]?, in directory: String?, stdout: FileHandle?,
        sourceLocation: SourceLocation
    ) throws -> CLIResult {
        let scratch = NSTemporaryDirectory() + "mapstore-cli-io-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let inPath = scratch + "/stdin", outPath = scratch + "/stdout", errPath = scratch + "/stderr"
        _ = FileManager.default.createFile(atPath: inPath, contents: Data(stdin ?? []))
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let error = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? input.close()
            try? output.close()
            try? error.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = stdout ?? output
        process.standardError = error
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        try process.run()
        waitForExit(process, described: described, sourceLocation: sourceLocation)
        return CLIResult(
            status: process.terminationStatus,
            stdout: Array(try Data(contentsOf: URL(fileURLWithPath: outPath))),
            stderr: Array(try Data(contentsOf: URL(fileURLWithPath: errPath))))
    }
}

extension CLI {
    /// Waits for `process` to end, and checks that it ended by exiting (never by a signal)
    /// within a generous hang guard, not a timing assertion: a command that never ends is
    /// killed and reported, as `described`.
    static func waitForExit(_ process: Process, described: String, sourceLocation: SourceLocation) {
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            process.waitUntilExit()
            done.signal()
        }
        let hung = done.wait(timeout: .now() + 300) == .timedOut
        if hung {
            process.terminate()
            process.waitUntilExit()
        }
        #expect(!hung, "\(described) did not finish: a hang", sourceLocation: sourceLocation)
        #expect(process.terminationReason == .exit,
                "\(described) was killed by signal \(process.terminationStatus)", sourceLocation: sourceLocation)
    }
}

/// `text`'s UTF-8 bytes.
package func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The lines of a dump from `HEADER=END` to `DATA=END` of every section (the part that is
/// byte-identical to LMDB's `mdb_dump`), joined.
package func dumpDataLines(_ dump: [UInt8]) -> [String] {
    var inData = false
    var lines: [String] = []
    for line in String(decoding: dump, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
        if line == "HEADER=END" { inData = true }
        if inData { lines.append(String(line)) }
        if line == "DATA=END" { inData = false }
    }
    return lines
}
