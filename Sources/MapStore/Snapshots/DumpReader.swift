#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads what `mdb_load` reads: LMDB dump text (`bytevalue` or `print`, one or more
/// sections) or, with `plainText`, the key-line/value-line text of `mdb_load -T`.
///
/// The reader pulls records one at a time, so a loader can put each into its transaction
/// and abort the whole load on the first error:
///
/// ```swift
/// var reader = DumpReader(bytes)
/// while let header = try reader.nextSection() {
///     while let record = try reader.nextRecord() { try txn.put(record.key, record.value) }
/// }
/// ```
///
/// Every malformed line throws ``MapStoreError/invalidArgument(reason:)`` with a reason
/// that starts `line N:` (1-based, counted over the whole input) and says what is wrong.
/// After an error the reader is spent: every later call throws the same error.
///
/// Rules, as `mdb_load` 0.9.24 applies them unless noted:
/// - Lines end at `\n` alone. A header line ending in `\r` is an error (CRLF input);
///   in `print` and plain-text data a raw `\r`, like any byte but `\n` and `\`, is data.
/// - Header: `KEYWORD=VALUE` lines up to `HEADER=END`. `VERSION` above 3, a `format`
///   other than `bytevalue`/`print` and a `type` other than `btree` are rejected; table
///   flags are noted; other keywords are skipped (``DumpHeader/ignoredKeywords``).
/// - Data: a key line and a value line, each starting with one space, until `DATA=END`.
///   Hex digits may be either case. In `print`, `\\` is one backslash and `\` with two
///   hex digits is that byte; any other `\` is an error.
/// - Stricter than `mdb_load`, which silently commits what it read so far in these cases:
///   a missing `DATA=END` or `HEADER=END`, a key line without its leading space, a bad
///   key line, and a key or value line without its final newline are errors.
/// - Each section starts in `bytevalue` and the main table unless its header says
///   otherwise (`mdb_load` carries `format=print` and `database=` over to later sections).
public struct DumpReader {
    private enum State {
        case start
        case betweenSections
        case records(format: DumpFormat, headerLine: Int)
        case end
        case failed(any Error)
    }

    private let plainText: Bool
    private var state = State.start
    /// Input not yet consumed starts at `position`; no `\n` lies in `position..<scanned`.
    private var buffer: [UInt8]
    private var position = 0
    private var scanned = 0
    private var nextChunk: (() throws -> [UInt8]?)?
    private var keyScratch: [UInt8] = []
    private var valueScratch: [UInt8] = []

    /// The number of lines read so far; the last line read is line `lineNumber`.
    public private(set) var lineNumber = 0

    /// Creates a reader over a whole input in memory.
    /// - Parameter plainText: read `mdb_load -T` text: no header, no leading spaces, no
    ///   `DATA=END`; each pair of lines is a key and a value spelled as in `print`.
    public init(_ bytes: [UInt8], plainText: Bool = false) {
        self.buffer = bytes
        self.plainText = plainText
    }

    /// Creates a reader that pulls its input from `nextChunk`, which returns the next bytes
    /// (any size; lines may span chunks) or `nil` at the end. Its errors come out of the
    /// reader's calls unchanged.
    public init(plainText: Bool = false, nextChunk: @escaping () throws -> [UInt8]?) {
        self.buffer = []
        self.plainText = plainText
        self.nextChunk = nextChunk
    }

    /// Reads the next section's header, skipping (but still checking) any records of the
    /// current section that were not read. Returns `nil` at the end of the input.
    ///
    /// Empty input has no sections. Plain-text input always has exactly one, whose header
    /// says `print` and nothing else.
    public mutating func nextSection() throws -> DumpHeader? {
        do {
            switch state {
            case .failed(let error): throw error
            case .end: return nil
            case .records:
                while try readRecord() {}
                return try nextSection()
            case .start where plainText:
                state = .records(format: .print, headerLine: 0)
                return DumpHeader(format: .print)
            case .start, .betweenSections:
                return try readHeader()
            }
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// Reads the next record of the current section, or returns `nil` at its `DATA=END`
    /// (for plain text: at the end of the input).
    public mutating func nextRecord() throws -> DumpRecord? {
        try withNextRecord { key, value, line in DumpRecord(key: Array(key), value: Array(value), line: line) }
    }

    /// Reads the next record of the current section and passes its bytes to `body`
    /// without copying them; returns `body`'s result, or `nil` at the end of the section.
    /// The buffers are valid only inside `body`. An error `body` throws leaves the reader
    /// ready for the next record.
    public mutating func withNextRecord<R>(
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ line: Int) throws -> R
    ) throws -> R? {
        switch state {
        case .failed(let error): throw error
        case .records: break
        case .betweenSections, .end: return nil
        case .start: preconditionFailure("DumpReader: call nextSection() before reading records")
        }
        let found: Bool
        do {
            found = try readRecord()
        } catch {
            state = .failed(error)
            throw error
        }
        guard found else { return nil }
        let keyLine = lineNumber - 1
        return try keyScratch.withUnsafeBytes { key in
            try valueScratch.withUnsafeBytes { value in try body(key, value, keyLine) }
        }
    }

    /// Reads every remaining section and record into memory (for small inputs and tests).
    public mutating func readAll() throws -> [DumpSection] {
        var sections: [DumpSection] = []
        while let header = try nextSection() {
            var records: [DumpRecord] = []
            while let record = try nextRecord() { records.append(record) }
            sections.append(DumpSection(header: header, records: records))
        }
        return sections
    }

    // MARK: - Header

    private mutating func readHeader() throws -> DumpHeader? {
        var header = DumpHeader()
        var firstLine: Int?
        while let line = try readLine() {
            let first = firstLine ?? lineNumber
            firstLine = first
            let text = line.range
            if buffer[text].last == 0x0d {
                throw fail("header line ends in a carriage return (CRLF line endings); dump lines must end in LF alone")
            }
            if buffer[text].elementsEqual("HEADER=END".utf8) {
                state = .records(format: header.format, headerLine: first)
                return header
            }
            guard let equals = buffer[text].firstIndex(of: UInt8(ascii: "=")) else {
                throw fail("expected a header line KEYWORD=VALUE or HEADER=END, found \(quoted(text))")
            }
            let keyword = String(decoding: buffer[text.lowerBound..<equals], as: UTF8.self)
            let value = String(decoding: buffer[(equals + 1)..<text.upperBound], as: UTF8.self)
            try apply(keyword: keyword, value: value, to: &header)
        }
        guard let firstLine else {
            state = .end
            return nil
        }
        throw fail("input ends before HEADER=END (the header starts on line \(firstLine))")
    }

    private func apply(keyword: String, value: String, to header: inout DumpHeader) throws {
        func number(_ what: String) throws -> Int {
            guard let n = Int(value), n >= 0 else { throw fail("invalid \(what) \(value.debugDescription)") }
            return n
        }
        switch keyword {
        case "VERSION":
            guard let version = Int(value), (1...3).contains(version) else {
                throw fail("unsupported VERSION \(value.debugDescription) (mdb_load reads versions 1 to 3)")
            }
        case "format":
            guard let format = DumpFormat(rawValue: value) else {
                throw fail("unsupported format \(value.debugDescription) (expected bytevalue or print)")
            }
            header.format = format
        case "database": header.database = value
        case "type":
            guard value == "btree" else { throw fail("unsupported type \(value.debugDescription) (expected btree)") }
        case "mapsize": header.mapSize = try number("mapsize")
        case "maxreaders": header.maxReaders = try number("maxreaders")
        case "db_pagesize": header.pageSize = try number("db_pagesize")
        default:
            if let flag = DumpTableFlags.keywords.first(where: { $0.keyword == keyword })?.flag {
                header.flags.insert(flag)
            } else {
                header.ignoredKeywords.append(keyword)
            }
        }
    }

    // MARK: - Records

    /// Reads one record into `keyScratch`/`valueScratch`; `false` at the section's end.
    private mutating func readRecord() throws -> Bool {
        guard case let .records(format, headerLine) = state else { return false }
        guard let keyLine = try readLine() else {
            if plainText {
                state = .end
                return false
            }
            throw fail("input ends without DATA=END (the section's header starts on line \(headerLine))")
        }
        if !plainText && buffer[keyLine.range].elementsEqual("DATA=END".utf8) {
            state = .betweenSections
            return false
        }
        try decode(keyLine, format: format, what: "key", into: &keyScratch)
        let keyLineNumber = lineNumber
        guard let valueLine = try readLine() else {
            throw fail("input ends after the key line, without its value line")
        }
        if !plainText && buffer[valueLine.range].elementsEqual("DATA=END".utf8) {
            throw fail("missing value line for the key on line \(keyLineNumber) (found DATA=END)")
        }
        try decode(valueLine, format: format, what: "value", into: &valueScratch)
        return true
    }

    private func decode(_ line: Line, format: DumpFormat, what: String, into out: inout [UInt8]) throws {
        var payload = line.range
        if !plainText {
            guard buffer[payload].first == 0x20 else {
                let hint = buffer[payload].last == 0x0d ? " (the line ends in a carriage return: CRLF line endings?)" : ""
                throw fail("\(what) line must start with a space, found \(quoted(payload))\(hint)")
            }
            payload = payload.dropFirst()
        }
        guard line.endsInNewline else {
            throw fail("\(what) line does not end with a newline (truncated input?)")
        }
        if let problem = Self.decode(buffer[payload], format: format, into: &out) {
            let column = problem.offset + (plainText ? 1 : 2)
            switch problem.kind {
            case .oddLength:
                throw fail("odd number of hex digits in \(what)")
            case .badHexDigit:
                let hint = buffer[payload.lowerBound + problem.offset] == 0x0d ? " (a carriage return: CRLF line endings?)" : ""
                throw fail("invalid hex digit \(quoted(payload.lowerBound + problem.offset..<payload.lowerBound + problem.offset + 1)) at column \(column) in \(what)\(hint)")
            case .badEscape:
                let start = payload.lowerBound + problem.offset
                let escape = start..<min(start + 3, payload.upperBound)
                throw fail("bad escape \(quoted(escape)) at column \(column) in \(what) (expected \\\\ or \\ and two hex digits)")
            }
        }
    }

    struct DecodeProblem: Equatable {
        enum Kind { case oddLength, badHexDigit, badEscape }
        var kind: Kind
        /// Offset of the offending byte within the encoded bytes.
        var offset: Int
    }

    /// Decodes the encoded bytes of one line (after its leading space) into `out`.
    static func decode(_ text: ArraySlice<UInt8>, format: DumpFormat, into out: inout [UInt8]) -> DecodeProblem? {
        out.removeAll(keepingCapacity: true)
        if format == .bytevalue && text.count % 2 != 0 {
            return DecodeProblem(kind: .oddLength, offset: text.count - 1)
        }
        out.append(contentsOf: repeatElement(0, count: format == .bytevalue ? text.count / 2 : text.count))
        var problem: DecodeProblem?
        let produced = text.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                DumpTables.nibble.withUnsafeBufferPointer { nibble in
                    var from = 0
                    var to = 0
                    switch format {
                    case .bytevalue:
                        while from < src.count {
                            let high = nibble[Int(src[from])]
                            let low = nibble[Int(src[from + 1])]
                            guard (high | low) & 0xf0 == 0 else {
                                problem = DecodeProblem(kind: .badHexDigit, offset: high == 0xff ? from : from + 1)
                                return to
                            }
                            dst[to] = high << 4 | low
                            from += 2
                            to += 1
                        }
                    case .print:
                        while from < src.count {
                            let byte = src[from]
                            if byte != 0x5c {
                                dst[to] = byte
                                from += 1
                            } else if from + 1 < src.count && src[from + 1] == 0x5c {
                                dst[to] = 0x5c
                                from += 2
                            } else {
                                guard from + 2 < src.count,
                                      nibble[Int(src[from + 1])] != 0xff, nibble[Int(src[from + 2])] != 0xff
                                else {
                                    problem = DecodeProblem(kind: .badEscape, offset: from)
                                    return to
                                }
                                dst[to] = nibble[Int(src[from + 1])] << 4 | nibble[Int(src[from + 2])]
                                from += 3
                            }
                            to += 1
                        }
                    }
                    return to
                }
            }
        }
        out.removeLast(out.count - produced)
        return problem
    }

    // MARK: - Lines

    private struct Line {
        /// The line's bytes in `buffer`, without the `\n`; valid until the next `readLine()`.
        var range: Range<Int>
        var endsInNewline: Bool
    }

    /// The next line of input, or `nil` at the end; pulls chunks as needed.
    private mutating func readLine() throws -> Line? {
        while true {
            if let newline = findNewline() {
                let line = Line(range: position..<newline, endsInNewline: true)
                position = newline + 1
                scanned = position
                lineNumber += 1
                return line
            }
            scanned = buffer.count
            if let source = nextChunk {
                if let chunk = try source() {
                    // Drop what was consumed before growing; only a partial line remains.
                    if position > 0 {
                        buffer.removeSubrange(0..<position)
                        scanned -= position
                        position = 0
                    }
                    buffer.append(contentsOf: chunk)
                    continue
                }
                nextChunk = nil
            }
            guard position < buffer.count else { return nil }
            let line = Line(range: position..<buffer.count, endsInNewline: false)
            position = buffer.count
            scanned = position
            lineNumber += 1
            return line
        }
    }

    private func findNewline() -> Int? {
        buffer.withUnsafeBytes { bytes -> Int? in
            guard scanned < bytes.count, let base = bytes.baseAddress else { return nil }
            guard let hit = memchr(base + scanned, 0x0a, bytes.count - scanned) else { return nil }
            return UnsafeRawPointer(hit) - base
        }
    }

    // MARK: - Errors

    private func fail(_ what: String) -> MapStoreError {
        .invalidArgument(reason: "line \(lineNumber): \(what)")
    }

    /// Up to 40 bytes of input in quotes, with bytes outside 0x20...0x7e as `\xx`.
    private func quoted(_ range: Range<Int>) -> String {
        var text = "\""
        for byte in buffer[range].prefix(40) {
            if byte >= 0x20 && byte <= 0x7e && byte != 0x22 {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\" + String(byte >> 4, radix: 16) + String(byte & 0x0f, radix: 16)
            }
        }
        return text + (range.count > 40 ? "...\"" : "\"")
    }
}
