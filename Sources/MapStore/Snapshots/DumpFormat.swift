// The text format of LMDB's `mdb_dump` / `mdb_load` (docs/dump-format.md), and its writer.
// The reader is in DumpReader.swift. Neither knows anything about the storage engine:
// the CLI feeds records from a read transaction into a DumpWriter, and records from a
// DumpReader into one write transaction.

/// How keys and values are spelled in a dump: the `format=` line of its header.
///
/// Both formats put each key and each value on a line of its own that starts with one
/// space; an empty key or value is a line holding just that space.
public enum DumpFormat: String, Sendable, Equatable, CaseIterable {
    /// Every byte as two lowercase hex digits: what `mdb_dump` writes by default.
    case bytevalue
    /// Bytes 0x20...0x7e as themselves, every other byte as `\` and two lowercase hex
    /// digits: what `mdb_dump -p` writes.
    ///
    /// One deliberate difference from LMDB 0.9.24's `mdb_dump -p`: a backslash (0x5c) is
    /// written as `\5c`, not raw. A raw backslash makes the line unreadable (or silently
    /// misread) by `mdb_load`; `\5c` loads back correctly with every `mdb_load` version and
    /// with ``DumpReader``. libmdbx's `mdbx_dump` escapes it the same way.
    case print
}

/// The per-table flags an LMDB dump header can carry (`dupsort=1`, `integerkey=1`, ...).
///
/// MapStore tables have none of these behaviours; the reader reports them so a loader can
/// refuse a dump whose records would mean something else here (a `dupsort` table holds
/// several values per key). The raw values are LMDB's `MDB_*` flag bits.
public struct DumpTableFlags: OptionSet, Sendable, Hashable {
    /// LMDB's `MDB_*` flag bits.
    public let rawValue: UInt32
    /// Creates flags from LMDB's `MDB_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `reversekey`: keys compare from their last byte.
    public static let reverseKey = DumpTableFlags(rawValue: 0x02)
    /// `dupsort`: a key may have several values, kept sorted.
    public static let dupSort = DumpTableFlags(rawValue: 0x04)
    /// `integerkey`: keys are native-endian unsigned integers.
    public static let integerKey = DumpTableFlags(rawValue: 0x08)
    /// `dupfixed`: with `dupsort`, all values of a key have one size.
    public static let dupFixed = DumpTableFlags(rawValue: 0x10)
    /// `integerdup`: with `dupsort`, values are native-endian unsigned integers.
    public static let integerDup = DumpTableFlags(rawValue: 0x20)
    /// `reversedup`: with `dupsort`, values compare from their last byte.
    public static let reverseDup = DumpTableFlags(rawValue: 0x40)

    /// Header keywords in the order `mdb_dump` writes them.
    static let keywords: [(flag: DumpTableFlags, keyword: String)] = [
        (.reverseKey, "reversekey"), (.dupSort, "dupsort"), (.integerKey, "integerkey"),
        (.dupFixed, "dupfixed"), (.integerDup, "integerdup"), (.reverseDup, "reversedup"),
    ]
}

/// The header of one dump section: the lines from `VERSION=3` to `HEADER=END`.
///
/// `mdb_dump` writes, in this order: `VERSION=3`, `format=`, `database=` (named tables
/// only), `type=btree`, `mapsize=`, `mapaddr=` (fixed-address maps only), `maxreaders=`,
/// `duplicates=1` and one `NAME=1` line per table flag, `db_pagesize=`, `HEADER=END`.
/// `mdb_load` needs none of them but `HEADER=END`.
public struct DumpHeader: Sendable, Equatable {
    /// How the section's keys and values are spelled (`format=`; `bytevalue` when absent).
    public var format: DumpFormat
    /// The named table the section belongs to (`database=`), or `nil` for the main table.
    public var database: String?
    /// The map size of the dumped environment in bytes (`mapsize=`).
    public var mapSize: Int?
    /// The reader-table size of the dumped environment (`maxreaders=`).
    public var maxReaders: Int?
    /// The page size of the dumped table (`db_pagesize=`). `mdb_load` ignores it.
    public var pageSize: Int?
    /// The table's flags (`dupsort=1`, ...). Like `mdb_load`, the reader sets a flag when
    /// its keyword is present, whatever its value.
    public var flags: DumpTableFlags
    /// Keywords the reader skipped, in order, as `mdb_load` does with a warning
    /// (`duplicates`, `mapaddr`, unknown ones). The writer never writes them.
    public var ignoredKeywords: [String]

    /// Creates a header; `nil` fields are left out when it is written.
    public init(
        format: DumpFormat = .bytevalue, database: String? = nil, mapSize: Int? = nil,
        maxReaders: Int? = nil, pageSize: Int? = nil, flags: DumpTableFlags = [],
        ignoredKeywords: [String] = []
    ) {
        self.format = format
        self.database = database
        self.mapSize = mapSize
        self.maxReaders = maxReaders
        self.pageSize = pageSize
        self.flags = flags
        self.ignoredKeywords = ignoredKeywords
    }
}

/// One key and its value, read from a dump.
public struct DumpRecord: Sendable, Equatable {
    /// The key's bytes (LMDB never stores an empty key, but the format can spell one).
    public var key: [UInt8]
    /// The value's bytes, possibly empty.
    public var value: [UInt8]
    /// The 1-based line number of the key line in the whole input; the value is on the next.
    public var line: Int

    /// Creates a record.
    public init(key: [UInt8], value: [UInt8], line: Int) {
        self.key = key
        self.value = value
        self.line = line
    }
}

/// One section of a dump: a header and the records between `HEADER=END` and `DATA=END`.
public struct DumpSection: Sendable, Equatable {
    /// The section's header.
    public var header: DumpHeader
    /// The section's records, in input order.
    public var records: [DumpRecord]

    /// Creates a section.
    public init(header: DumpHeader, records: [DumpRecord]) {
        self.header = header
        self.records = records
    }
}

/// Lookup tables shared by the writer and the reader, so neither builds text per byte.
enum DumpTables {
    /// `hexDigits[n]` is the lowercase ASCII hex digit of the nibble `n`.
    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `printsAsItself[b]`: `print` format writes `b` raw. This is `isprint` in the C
    /// locale (0x20...0x7e, as `mdb_dump` sees it), minus the backslash (see ``DumpFormat/print``).
    static let printsAsItself: [Bool] = (0...255).map { b in b >= 0x20 && b <= 0x7e && b != 0x5c }

    /// `nibble[c]` is the value of the hex digit `c` (either case, as `mdb_load` accepts),
    /// or `0xff` when `c` is not a hex digit.
    static let nibble: [UInt8] = (0...255).map { c -> UInt8 in
        switch UInt8(c) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(c) - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(c) - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt8(c) - UInt8(ascii: "A") + 10
        default: 0xff
        }
    }
}

/// Writes LMDB's `mdb_dump` text format, one section at a time, without building the
/// whole dump in memory.
///
/// Call ``writeHeader(_:)``, then `writeRecord(key:value:)` once per record in key order,
/// then ``writeFooter()``; repeat for further sections (`mdb_dump -a` writes one per
/// named table). The lines between `HEADER=END` and `DATA=END` are byte-identical to
/// what `mdb_dump` prints for the same records, except that `print` escapes a backslash as `\5c` (see ``DumpFormat/print``).
///
/// Made with ``init()``, the writer collects everything in ``output``. Made with
/// ``init(chunkSize:sink:)``, it hands the sink a chunk whenever about `chunkSize` bytes
/// are pending, and the rest at each ``writeFooter()`` or ``flush()``.
///
/// ```swift
/// var writer = DumpWriter { chunk in try file.writeAll(chunk) }
/// try writer.writeHeader(DumpHeader(format: .print, mapSize: 1 << 20, maxReaders: 126, pageSize: 4096))
/// try writer.writeRecord(key: Array("alpha".utf8), value: Array("one".utf8))
/// try writer.writeFooter()
/// ```
public struct DumpWriter {
    /// The bytes written and not yet handed to the sink (with ``init()``: everything).
    public private(set) var output: [UInt8] = []

    private let sink: ((UnsafeRawBufferPointer) throws -> Void)?
    private let chunkSize: Int
    /// The format of the open section, or `nil` between sections.
    private var sectionFormat: DumpFormat?

    /// Creates a writer that collects the dump in ``output``.
    public init() {
        sink = nil
        chunkSize = .max
    }

    /// Creates a writer that streams the dump to `sink` in chunks of about `chunkSize`
    /// bytes. The buffer is valid only during the call; an error the sink throws comes
    /// out of the write call that flushed.
    public init(chunkSize: Int = 1 << 16, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        precondition(chunkSize > 0, "DumpWriter chunkSize must be positive")
        self.sink = sink
        self.chunkSize = chunkSize
        output.reserveCapacity(chunkSize + 4096)
    }

    /// Starts a section: writes the header lines in `mdb_dump`'s order, leaving out `nil`
    /// fields, then `HEADER=END`. ``DumpHeader/ignoredKeywords`` are not written.
    ///
    /// - Throws: ``MapStoreError/invalidArgument(reason:)`` if the database name holds a
    ///   newline or NUL (it could not be read back), or what the sink throws.
    public mutating func writeHeader(_ header: DumpHeader) throws {
        precondition(sectionFormat == nil, "DumpWriter.writeHeader called inside a section; call writeFooter() first")
        var text = "VERSION=3\nformat=\(header.format.rawValue)\n"
        if let name = header.database {
            guard !name.utf8.contains(0x0a), !name.utf8.contains(0) else {
                throw MapStoreError.invalidArgument(reason: "database name \(name.debugDescription) holds a newline or NUL")
            }
            text += "database=\(name)\n"
        }
        text += "type=btree\n"
        if let mapSize = header.mapSize { text += "mapsize=\(mapSize)\n" }
        if let maxReaders = header.maxReaders { text += "maxreaders=\(maxReaders)\n" }
        if header.flags.contains(.dupSort) { text += "duplicates=1\n" }
        for (flag, keyword) in DumpTableFlags.keywords where header.flags.contains(flag) {
            text += "\(keyword)=1\n"
        }
        if let pageSize = header.pageSize { text += "db_pagesize=\(pageSize)\n" }
        text += "HEADER=END\n"
        output.append(contentsOf: text.utf8)
        sectionFormat = header.format
        try flushIfFull()
    }

    /// Writes one record: a key line and a value line, each a space, the encoded bytes
    /// and a newline. Records go out in the order given; `mdb_dump` gives them in key order.
    public mutating func writeRecord(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        guard let format = sectionFormat else {
            preconditionFailure("DumpWriter.writeRecord called outside a section; call writeHeader(_:) first")
        }
        Self.appendLine(key, format: format, to: &output)
        Self.appendLine(value, format: format, to: &output)
        try flushIfFull()
    }

    /// Writes one record from any byte collections (`[UInt8]`, `Data`, an `ArraySlice`...).
    public mutating func writeRecord(key: some Collection<UInt8>, value: some Collection<UInt8>) throws {
        try Self.withRawBytes(key) { key in
            try Self.withRawBytes(value) { value in try writeRecord(key: key, value: value) }
        }
    }

    /// Ends the section with `DATA=END` and, when streaming, hands everything pending to the sink.
    public mutating func writeFooter() throws {
        precondition(sectionFormat != nil, "DumpWriter.writeFooter called outside a section")
        output.append(contentsOf: "DATA=END\n".utf8)
        sectionFormat = nil
        try flush()
    }

    /// When streaming, hands everything pending to the sink; otherwise does nothing.
    public mutating func flush() throws {
        guard let sink, !output.isEmpty else { return }
        try output.withUnsafeBytes { try sink($0) }
        output.removeAll(keepingCapacity: true)
    }

    /// Returns ``output`` and empties it (for a writer made with ``init()``).
    public mutating func takeOutput() -> [UInt8] {
        defer { output = [] }
        return output
    }

    private mutating func flushIfFull() throws {
        if output.count >= chunkSize { try flush() }
    }

    /// Appends ` ENCODED\n`. Sizes the room for the worst case, fills it through one
    /// pointer with table lookups, then trims: no per-byte appends or String work.
    static func appendLine(_ bytes: UnsafeRawBufferPointer, format: DumpFormat, to out: inout [UInt8]) {
        let start = out.count
        let room = 2 + bytes.count * (format == .bytevalue ? 2 : 3)
        out.append(contentsOf: repeatElement(0, count: room))
        let end = out.withUnsafeMutableBufferPointer { dst in
            DumpTables.hexDigits.withUnsafeBufferPointer { hex in
                var at = start
                dst[at] = 0x20
                at += 1
                switch format {
                case .bytevalue:
                    for byte in bytes {
                        dst[at] = hex[Int(byte >> 4)]
                        dst[at + 1] = hex[Int(byte & 0x0f)]
                        at += 2
                    }
                case .print:
                    DumpTables.printsAsItself.withUnsafeBufferPointer { raw in
                        for byte in bytes {
                            if raw[Int(byte)] {
                                dst[at] = byte
                                at += 1
                            } else {
                                dst[at] = 0x5c
                                dst[at + 1] = hex[Int(byte >> 4)]
                                dst[at + 2] = hex[Int(byte & 0x0f)]
                                at += 3
                            }
                        }
                    }
                }
                dst[at] = 0x0a
                return at + 1
            }
        }
        out.removeLast(out.count - end)
    }

    static func withRawBytes<R>(
        _ bytes: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        if let result = try bytes.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(bytes).withUnsafeBytes(body)
    }
}
