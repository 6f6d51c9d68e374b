import ArgumentParser
import MapStore
import MapStoreVM

#if canImport(Glibc)
import Glibc
#endif

// Helpers every command group shares: opening a database the way the contract says,
// --hex and text arguments, raw output to stdout, JSON text, and the progress bar.

// MARK: - Opening a database

/// Opens databases for commands, applying docs/cli.md's rules on creation.
enum DatabaseOpener {
    /// Opens `path` for a command that only reads: never creates a file, maps it read-only,
    /// and exits 3 with "no such database: PATH" when it does not exist. Page checksums are
    /// verified on every read: a command prints damage as an error, never as data.
    static func forReading(_ path: String) throws -> Database {
        try requireExisting(path)
        var options = Options()
        options.readOnly = true
        options.create = false
        options.verifyChecksums = true
        return try Database(path: path, options: options)
    }

    /// Opens `path` for a command that writes, creating it when missing. Commits are
    /// durable (`.full`): the command returns only after its commit reached the disk.
    /// Checksums are verified on read, so a write never builds on a damaged page.
    static func forWriting(_ path: String) throws -> Database {
        try refuseNonDatabase(path, mustExist: false)
        var options = Options()
        options.durability = .full
        options.create = true
        options.verifyChecksums = true
        return try Database(path: path, options: options)
    }

    /// Opens `path` for a command that changes a database but must not create one (del,
    /// table drop, snapshot restore and delete): exits 3 with "no such database: PATH"
    /// when it is missing, else opens it as ``forWriting(_:)`` does.
    static func forChanging(_ path: String) throws -> Database {
        try requireExisting(path)
        return try forWriting(path)
    }

    /// Exits 3 with "no such database: PATH" when nothing is at `path`: for the commands
    /// that must not create a database.
    static func requireExisting(_ path: String) throws {
        try refuseNonDatabase(path, mustExist: true)
    }

    /// The one place every command's DB is vetted before it is opened: exit 3 when `path`
    /// is a directory (which the open would otherwise report as a damaged page 0, or as
    /// EISDIR), and when nothing is there while `mustExist`.
    static func refuseNonDatabase(_ path: String, mustExist: Bool) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            guard !mustExist else {
                throw CommandExit(status: ExitStatus.failure, message: "mapstore: no such database: \(path)")
            }
            return
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            throw CommandExit(status: ExitStatus.failure, message: "mapstore: \(path) is a directory, not a database file")
        }
    }

    /// Whether something exists at `path` (a file, or anything else `stat` can see).
    static func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}

/// Whether `a` and `b` name the same file: the same device and inode, links followed
/// (false when either is missing).
func sameFile(_ a: String, _ b: String) -> Bool {
    var first = stat(), second = stat()
    guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
    return first.st_dev == second.st_dev && first.st_ino == second.st_ino
}

/// The permission bits of the file at `path` (0o644 when it cannot be read): what a file
/// written from it (a dump, a backup) may grant, at most.
func permissionBits(of path: String) -> UInt32 {
    var info = stat()
    return stat(path, &info) == 0 ? UInt32(info.st_mode & 0o777) : 0o644
}

// MARK: - Keys and values on the command line

/// How a command spells keys and values: UTF-8 text as given, or lowercase hex with `--hex`.
struct ByteSpelling {
    /// Whether `--hex` was given.
    var hex: Bool

    /// The bytes of a command-line argument; bad hex exits 2 naming the argument.
    func bytes(of argument: String, what: String) throws -> [UInt8] {
        guard hex else { return Array(argument.utf8) }
        guard let bytes = Hex.decode(argument) else {
            throw CommandExit(status: ExitStatus.usage,
                              message: "mapstore: \(what) \(argument.debugDescription) is not valid hex (expected pairs of digits 0-9, a-f)")
        }
        return bytes
    }

    /// A key argument: its bytes, and exit 2 when it is empty (no key is empty).
    func key(_ argument: String, what: String = "KEY") throws -> [UInt8] {
        let key = try bytes(of: argument, what: what)
        guard !key.isEmpty else {
            throw CommandExit(status: ExitStatus.usage, message: "mapstore: \(what) must not be empty")
        }
        return key
    }

    /// Bytes as they are printed: raw, or lowercase hex.
    func printed(_ bytes: [UInt8]) -> [UInt8] {
        hex ? Array(Hex.encode(bytes).utf8) : bytes
    }

    /// Bytes as a JSON string value: hex, or the UTF-8 text (invalid sequences become U+FFFD).
    func json(_ bytes: [UInt8]) -> String {
        JSON.string(hex ? Hex.encode(bytes) : String(decoding: bytes, as: UTF8.self))
    }

    /// Bytes for a one-line message: hex, or quoted text with unprintable bytes escaped.
    func quoted(_ bytes: [UInt8]) -> String {
        hex ? Hex.encode(bytes) : Self.quote(bytes)
    }

    /// `"text"` with bytes outside 0x20...0x7e (and `"`, `\`) written as `\xx` hex escapes.
    static func quote(_ bytes: [UInt8]) -> String {
        var text = "\""
        for byte in bytes.prefix(80) {
            if byte >= 0x20 && byte <= 0x7e && byte != 0x22 && byte != 0x5c {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\" + Hex.encode([byte])
            }
        }
        return text + (bytes.count > 80 ? "...\"" : "\"")
    }
}

/// Lowercase hex strings, as `--hex` reads and prints them.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Two lowercase hex digits per byte.
    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of an even number of hex digits (either case), or nil when it is not hex.
    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// The value of one hex digit, or nil.
    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

// MARK: - JSON

/// Hand-written JSON text: the CLI prints only flat objects of strings, numbers and lists.
enum JSON {
    /// `text` as a JSON string literal, quoted and escaped (RFC 8259), by the package's one
    /// escaper (MapStoreVM's, which trace and shadow output use as well).
    static func string(_ text: String) -> String {
        TraceOutput.jsonString(text)
    }

    /// `{"a": 1, "b": "x"}` from already-encoded values, in the order given.
    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(string($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}

// MARK: - Output

/// Buffered raw bytes to a file descriptor (stdout by default): values go out exactly as
/// stored, not through `String`. A failed write exits 3 naming the output.
struct Output {
    private let fd: Int32
    private let name: String
    private var buffer: [UInt8] = []

    /// An output to `fd`, called `name` in error messages.
    init(fd: Int32 = STDOUT_FILENO, name: String = "stdout") {
        self.fd = fd
        self.name = name
        buffer.reserveCapacity(1 << 16)
    }

    /// Appends bytes, writing them out once 64 KiB are pending.
    mutating func write(_ bytes: some Sequence<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { try flush() }
    }

    /// Appends the UTF-8 bytes of `text`.
    mutating func write(_ text: String) throws {
        try write(text.utf8)
    }

    /// Writes everything pending.
    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try Self.writeAll(fd, $0, name: name) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw CommandExit(status: ExitStatus.failure,
                                  message: "mapstore: write to \(name) failed: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }
}

/// Reads all of a file descriptor (stdin by default), retrying EINTR.
func readAll(fd: Int32 = STDIN_FILENO, name: String = "stdin") throws -> [UInt8] {
    var bytes = [UInt8]()
    while let chunk = try readChunk(fd: fd, name: name) { bytes.append(contentsOf: chunk) }
    return bytes
}

/// The next bytes of `fd` (up to 64 KiB), or nil at end of file.
func readChunk(fd: Int32, name: String) throws -> [UInt8]? {
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw CommandExit(status: ExitStatus.failure,
                              message: "mapstore: read from \(name) failed: \(String(cString: strerror(errno)))")
        }
        if count == 0 { return nil }
        chunk.removeLast(chunk.count - count)
        return chunk
    }
}

// MARK: - Progress

/// A one-line progress bar on stderr for long work, drawn only when stderr is a terminal
/// (so piped or redirected stderr stays clean for scripts), and not when the command's
/// data goes to stdout and stdout is that same terminal (the bar would land among the data).
struct ProgressBar {
    private let label: String
    private var total: Int
    private let enabled: Bool
    private var drawn = -1

    /// A bar for `total` units of work (0 when unknown: then it shows a count).
    /// `dataOnStdout`: the command writes its output to stdout (dump, backup to `-`).
    init(_ label: String, total: Int, dataOnStdout: Bool = false) {
        self.label = label
        self.total = total
        self.enabled = isatty(STDERR_FILENO) == 1 && !(dataOnStdout && Self.stdoutIsTheTerminalOfStderr())
    }

    /// Shows that `done` units are finished; redraws only when the shown figure changes.
    mutating func update(_ done: Int) {
        guard enabled else { return }
        let shown = total > 0 ? min(100, done * 100 / total) : done / 1000
        guard shown != drawn else { return }
        drawn = shown
        let line: String
        if total > 0 {
            let width = 30
            let filled = shown * width / 100
            line = "\r\(label) [" + String(repeating: "#", count: filled)
                + String(repeating: " ", count: width - filled) + "] \(shown)%"
        } else {
            line = done > 0 ? "\r\(label) ... \(done)" : "\r\(label) ..."
        }
        Entry.writeToStderr(line)
    }

    /// Shows that `done` of `total` units are finished, for work that learns its total as it
    /// goes (the library's `(done, total)` progress callbacks); a new total erases the line
    /// and draws the bar afresh (a shorter line would leave the old one's tail).
    mutating func update(_ done: Int, of total: Int) {
        if total != self.total {
            finish()
            self.total = total
            drawn = -1
        }
        update(done)
    }

    /// Erases the bar so the terminal is left as it was.
    func finish() {
        guard enabled, drawn >= 0 else { return }
        Entry.writeToStderr("\r\u{1B}[2K")
    }

    /// Whether stdout is a terminal and the same one as stderr.
    private static func stdoutIsTheTerminalOfStderr() -> Bool {
        guard isatty(STDOUT_FILENO) == 1 else { return false }
        var out = stat(), err = stat()
        guard fstat(STDOUT_FILENO, &out) == 0, fstat(STDERR_FILENO, &err) == 0 else { return true }
        return out.st_rdev == err.st_rdev
    }
}
