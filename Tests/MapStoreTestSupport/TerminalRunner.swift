import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What one run of `mapstore` on a pseudo-terminal showed.
package struct TerminalResult {
    /// The exit status.
    package var status: Int32
    /// Every byte that reached the terminal (stderr, and stdout when it was the terminal too),
    /// as the terminal got them: its line discipline turns each "\n" into "\r\n".
    package var terminal: [UInt8]
    /// stdout when it was a file instead of the terminal (empty otherwise).
    package var stdout: [UInt8]

    /// The terminal's bytes as UTF-8 text.
    package var screen: String { String(decoding: terminal, as: UTF8.self) }
}

/// A pseudo-terminal pair: the side a test reads, and the side a child writes as its terminal.
private struct PseudoTerminal {
    let primary: Int32
    let secondary: Int32

    // The Glibc module leaves these out (they are declared only under _XOPEN_SOURCE), so
    // they are looked up by name, as C functions.
    private typealias OpenFunction = @convention(c) (Int32) -> Int32
    private typealias NameFunction = @convention(c) (Int32, UnsafeMutablePointer<CChar>?, Int) -> Int32

    /// The libc function `name` as a `Function`, or nil when libc has none.
    private static func libc<Function>(_ name: String, as _: Function.Type) -> Function? {
        dlsym(nil, name).map { unsafeBitCast($0, to: Function.self) }
    }

    /// A new pair, or nil when the system has no pseudo-terminals to give.
    static func open() -> PseudoTerminal? {
        guard let openPrimary = libc("posix_openpt", as: OpenFunction.self), let grant = libc("grantpt", as: OpenFunction.self),
              let unlock = libc("unlockpt", as: OpenFunction.self), let nameOf = libc("ptsname_r", as: NameFunction.self)
        else { return nil }
        let primary = openPrimary(O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard primary >= 0 else { return nil }
        var name = [CChar](repeating: 0, count: 128)
        guard grant(primary) == 0, unlock(primary) == 0, nameOf(primary, &name, name.count) == 0 else {
            close(primary)
            return nil
        }
        let secondary = Glibc.open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard secondary >= 0 else {
            close(primary)
            return nil
        }
        return PseudoTerminal(primary: primary, secondary: secondary)
    }
}

/// Bytes a reading thread collects while the test waits for the child.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [UInt8] = []

    func append(_ bytes: ArraySlice<UInt8>) { lock.withLock { storage.append(contentsOf: bytes) } }
    var bytes: [UInt8] { lock.withLock { storage } }
}

extension CLI {
    /// Whether this machine can give a test a pseudo-terminal (the terminal tests need one).
    package static let terminalsAvailable: Bool = {
        guard let terminal = PseudoTerminal.open() else { return false }
        close(terminal.primary)
        close(terminal.secondary)
        return true
    }()

    /// Runs `mapstore ARGUMENTS` with stderr on a new pseudo-terminal, as a user at a terminal
    /// runs it, and stdout on the same terminal when `stdoutOnTerminal`, else in a file. stdin
    /// is /dev/null. Checks, as ``run(_:stdin:in:stdout:sourceLocation:)`` does, that the
    /// child exits (never by a signal) within a generous hang guard.
    package static func runOnTerminal(
        _ arguments: [String], stdoutOnTerminal: Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> TerminalResult {
        let terminal = try #require(PseudoTerminal.open(), "no pseudo-terminal", sourceLocation: sourceLocation)
        let secondary = FileHandle(fileDescriptor: terminal.secondary, closeOnDealloc: false)
        let outPath = NSTemporaryDirectory() + "mapstore-cli-tty-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        defer { try? output.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdoutOnTerminal ? secondary : output
        process.standardError = secondary
        do {
            try process.run()
        } catch {
            close(terminal.secondary)
            close(terminal.primary)
            throw error
        }
        // Only the child holds the terminal now: once it exits, reading gives EIO.
        close(terminal.secondary)

        // The child blocks when the terminal's buffer is full, so it is read while it runs.
        let collected = Collected()
        let drained = DispatchSemaphore(value: 0)
        let primary = terminal.primary
        DispatchQueue.global().async {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(primary, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                collected.append(buffer[..<count])
            }
            drained.signal()
        }
        let described = "mapstore \(arguments) on a terminal"
        waitForExit(process, described: described, sourceLocation: sourceLocation)
        let closed = drained.wait(timeout: .now() + 60) == .success
        #expect(closed, "\(described): the terminal never closed", sourceLocation: sourceLocation)
        // A reader that never finished still reads the descriptor: it is left open then.
        if closed { close(primary) }
        return TerminalResult(status: process.terminationStatus, terminal: collected.bytes,
                              stdout: Array(try Data(contentsOf: URL(fileURLWithPath: outPath))))
    }
}
