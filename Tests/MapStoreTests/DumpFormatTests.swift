import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

// The fixtures in Tests/Fixtures/dump were made by LMDB 0.9.24's mdb_dump/mdb_load
// (make-fixtures.sh); these tests only read them, so LMDB need not be installed.

private enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/dump")

    static func bytes(_ name: String) throws -> [UInt8] {
        try Array(Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// The header mdb_dump wrote for every fixture environment (LMDB's defaults).
    static func header(_ format: DumpFormat, database: String? = nil, flags: DumpTableFlags = []) -> DumpHeader {
        DumpHeader(format: format, database: database, mapSize: 1_048_576, maxReaders: 126, pageSize: 4096, flags: flags)
    }

    // The records of records.py, which make-fixtures.sh loaded into LMDB.
    static var large: [UInt8] {
        (0..<5000).map { i in
            let byte = UInt8((i * 31 + 7) % 251)
            return byte == 0x5c ? 0x2f : byte
        }
    }

    static var main: [(key: [UInt8], value: [UInt8])] {
        lmdbOrder([
            (b("alpha"), b("one")),
            (b("all-but-backslash"), (0...255).map(UInt8.init).filter { $0 != 0x5c }),
            (b("empty"), []),
            (b("large"), large),
            ([0x00, 0x0a, 0xff], b("binary key")),
            (b("spaces"), b("  leading and trailing  ")),
            (b("utf8"), b("héllo wörld")),
            (b("controls"), b("tab\there\r\nnl")),
            (b("equals"), b("DATA=END")),
            (b("hexlike"), b("deadbeef")),
            (b("~tilde"), [0x7f, 0x80, 0x20, 0x7e, 0x1f]),
            (b("k"), (0x20...0x7e).map(UInt8.init).filter { $0 != 0x5c }),
        ])
    }

    static var backslash: [(key: [UInt8], value: [UInt8])] {
        lmdbOrder([(b("path"), b("C:\\temp\\41")), (b("all-bytes"), (0...255).map(UInt8.init))])
    }

    static var tables: [(name: String, records: [(key: [UInt8], value: [UInt8])])] {
        [
            ("colors", [(b("green"), [0, 255, 0]), (b("red"), [255, 0, 0])]),
            ("fruits", [(b("apple"), b("red")), (b("banana"), b("yellow")), (b("cherry"), [])]),
            ("my table", [(b("only"), b("one record"))]),
        ]
    }
}

private func b(_ text: String) -> [UInt8] { Array(text.utf8) }

/// LMDB's default key order: memcmp, a prefix first.
private func lmdbOrder(_ records: [(key: [UInt8], value: [UInt8])]) -> [(key: [UInt8], value: [UInt8])] {
    records.sorted { $0.key.lexicographicallyPrecedes($1.key) }
}

private func dumpText(_ sections: [(header: DumpHeader, records: [(key: [UInt8], value: [UInt8])])]) throws -> [UInt8] {
    var writer = DumpWriter()
    for section in sections {
        try writer.writeHeader(section.header)
        for record in section.records { try writer.writeRecord(key: record.key, value: record.value) }
        try writer.writeFooter()
    }
    return writer.output
}

private func readAll(_ bytes: [UInt8], plainText: Bool = false) throws -> [DumpSection] {
    var reader = DumpReader(bytes, plainText: plainText)
    return try reader.readAll()
}

private func pairs(_ section: DumpSection) -> [[UInt8]] {
    section.records.flatMap { [$0.key, $0.value] }
}

private func pairs(_ records: [(key: [UInt8], value: [UInt8])]) -> [[UInt8]] {
    records.flatMap { [$0.key, $0.value] }
}

/// Replaces every `\5c` with a raw backslash: our `print` output turned into 0.9.24 mdb_dump's.
private func unescapingBackslashes(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        if bytes[i] == 0x5c, i + 2 < bytes.count, bytes[i + 1] == 0x35, bytes[i + 2] == 0x63 {
            out.append(0x5c)
            i += 3
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return out
}

private func randomRecords(count: Int, seed: UInt64) -> [(key: [UInt8], value: [UInt8])] {
    var rng = SeededGenerator(seed: seed)
    var byKey: [[UInt8]: [UInt8]] = [:]
    while byKey.count < count {
        let key = (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let size = Int.random(in: 0...9, using: &rng) == 0 ? Int.random(in: 2000...9000, using: &rng)
            : Int.random(in: 0...200, using: &rng)
        byKey[key] = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
    return lmdbOrder(byKey.map { ($0.key, $0.value) })
}

@Suite("DumpFormat: writer against mdb_dump")
struct DumpWriterFixtureTests {
    @Test("bytevalue dump is byte-identical to mdb_dump, header included")
    func bytevalueMatchesMdbDump() throws {
        let ours = try dumpText([(Fixture.header(.bytevalue), Fixture.main)])
        #expect(ours == (try Fixture.bytes("main.bytevalue.dump")))
    }

    @Test("print dump is byte-identical to mdb_dump -p when no value holds a backslash")
    func printMatchesMdbDump() throws {
        let ours = try dumpText([(Fixture.header(.print), Fixture.main)])
        #expect(ours == (try Fixture.bytes("main.print.dump")))
    }

    @Test("print escapes a backslash as \\5c where mdb_dump -p writes it raw; nothing else differs")
    func printEscapesBackslash() throws {
        let ours = try dumpText([(Fixture.header(.print), Fixture.backslash)])
        let theirs = try Fixture.bytes("backslash.print.dump")
        #expect(ours != theirs)
        #expect(unescapingBackslashes(ours) == theirs)
        #expect(String(decoding: ours, as: UTF8.self).contains(" C:\\5ctemp\\5c41\n"))
        let bytevalue = try dumpText([(Fixture.header(.bytevalue), Fixture.backslash)])
        #expect(bytevalue == (try Fixture.bytes("backslash.bytevalue.dump")))
    }

    @Test("one section per named table, as mdb_dump -a writes", arguments: DumpFormat.allCases)
    func namedTablesMatchMdbDumpAll(format: DumpFormat) throws {
        let ours = try dumpText(Fixture.tables.map { (Fixture.header(format, database: $0.name), $0.records) })
        #expect(ours == (try Fixture.bytes("tables.all.\(format.rawValue).dump")))
    }

    @Test("a single named table, as mdb_dump -s writes")
    func singleTableMatchesMdbDumpS() throws {
        let fruits = Fixture.tables[1]
        let ours = try dumpText([(Fixture.header(.print, database: fruits.name), fruits.records)])
        #expect(ours == (try Fixture.bytes("tables.fruits.print.dump")))
    }

    @Test("a dupsort header gets duplicates=1 and dupsort=1 where mdb_dump puts them")
    func dupsortHeaderMatchesMdbDump() throws {
        let header = Fixture.header(.bytevalue, flags: .dupSort)
        let ours = try dumpText([(header, [(b("k"), b("1")), (b("k"), b("2"))])])
        #expect(ours == (try Fixture.bytes("dupsort.bytevalue.dump")))
    }
}

@Suite("DumpFormat: reader against mdb_load's input")
struct DumpReaderFixtureTests {
    @Test("reads mdb_dump output in both formats", arguments: DumpFormat.allCases)
    func readsMainDump(format: DumpFormat) throws {
        let sections = try readAll(Fixture.bytes("main.\(format.rawValue).dump"))
        try #require(sections.count == 1)
        #expect(sections[0].header == Fixture.header(format))
        #expect(pairs(sections[0]) == pairs(Fixture.main))
        #expect(sections[0].records.map(\.line) == Array(stride(from: 8, to: 8 + 2 * Fixture.main.count, by: 2)))
    }

    @Test("reads every section of mdb_dump -a output", arguments: DumpFormat.allCases)
    func readsAllTables(format: DumpFormat) throws {
        let sections = try readAll(Fixture.bytes("tables.all.\(format.rawValue).dump"))
        #expect(sections.map(\.header) == Fixture.tables.map { Fixture.header(format, database: $0.name) })
        #expect(sections.map(pairs) == Fixture.tables.map { pairs($0.records) })
        // Line numbers run on across sections: the third header starts on line 29.
        #expect(sections.last?.records.first?.line == 29 + 8)
    }

    @Test("reports table flags and the keywords it skipped")
    func readsDupsortHeader() throws {
        let sections = try readAll(Fixture.bytes("dupsort.bytevalue.dump"))
        try #require(sections.count == 1)
        #expect(sections[0].header.flags == .dupSort)
        #expect(sections[0].header.ignoredKeywords == ["duplicates"])
        #expect(pairs(sections[0]) == [b("k"), b("1"), b("k"), b("2")])
    }

    @Test("plain text (-T) decodes to what mdb_load -T stored")
    func plainTextMatchesMdbLoad() throws {
        let ours = try readAll(Fixture.bytes("plain.txt"), plainText: true)
        let lmdb = try readAll(Fixture.bytes("plain.bytevalue.dump"))
        try #require(ours.count == 1 && lmdb.count == 1)
        #expect(ours[0].header == DumpHeader(format: .print))
        let sorted = lmdbOrder(ours[0].records.map { ($0.key, $0.value) })
        #expect(pairs(sorted) == pairs(lmdb[0]))
        #expect(ours[0].records.map(\.line) == Array(stride(from: 1, to: 17, by: 2)))
    }

    @Test("reads \\\\ as one backslash even after a hex escape, where mdb_load 0.9.24 does not")
    func escapedBackslashAfterHexEscape() throws {
        let ours = try readAll(Fixture.bytes("escaped-backslash.txt"), plainText: true)[0].records
        #expect(ours.map(\.value) == [[0x01, 0x61, 0x5c, 0x62], [0x61, 0x5c, 0x62, 0x01]])
        // 0.9.24 keeps a stale byte for the `\\` that follows `\01`; that is why we write `\5c`.
        let lmdb = try readAll(Fixture.bytes("escaped-backslash.bytevalue.dump"))[0]
        #expect(lmdb.records.first { $0.key == b("late") }?.value == [0x01, 0x61, 0x31, 0x62])
        #expect(lmdb.records.first { $0.key == b("early") }?.value == [0x61, 0x5c, 0x62, 0x01])
    }

    /// Each malformed input, the message we give, and what mdb_load 0.9.24 did with it: the
    /// line it complained about (nil: no complaint) and whether it still exited 0 after
    /// committing what it had read.
    static let malformed: [(file: String, reason: String, mdbLoad: (line: Int?, exitedZero: Bool))] = [
        ("bad-odd-hex.txt", "line 6: odd number of hex digits in value", (6, false)),
        ("bad-hex-digit.txt", "line 6: invalid hex digit \"z\" at column 4 in value", (6, false)),
        ("bad-escape.txt", "line 6: bad escape \"\\zz\" at column 3 in value (expected \\\\ or \\ and two hex digits)", (6, false)),
        ("bad-missing-value.txt", "line 8: missing value line for the key on line 7 (found DATA=END)", (8, false)),
        ("bad-version.txt", "line 1: unsupported VERSION \"4\" (mdb_load reads versions 1 to 3)", (1, false)),
        ("bad-format.txt", "line 2: unsupported format \"base64\" (expected bytevalue or print)", (2, false)),
        ("bad-header-line.txt", "line 3: expected a header line KEYWORD=VALUE or HEADER=END, found \"this is not a header\"", (3, false)),
        ("bad-no-final-newline.txt", "line 6: value line does not end with a newline (truncated input?)", (6, false)),
        ("backslash.print.dump", "line 9: bad escape \"\\]^\" at column 158 in value (expected \\\\ or \\ and two hex digits)", (9, false)),
        // mdb_load commits what it read so far and exits 0 on these; we refuse them.
        ("bad-no-space.txt", "line 7: key line must start with a space, found \"6b32\"", (7, true)),
        ("bad-crlf.txt", "line 1: header line ends in a carriage return (CRLF line endings); dump lines must end in LF alone", (5, true)),
        ("bad-no-data-end.txt", "line 6: input ends without DATA=END (the section's header starts on line 1)", (nil, true)),
        ("bad-no-header-end.txt", "line 3: input ends before HEADER=END (the header starts on line 1)", (nil, true)),
    ]

    @Test("malformed input names the line and the fault", arguments: malformed)
    func malformedInput(file: String, reason: String, mdbLoad: (line: Int?, exitedZero: Bool)) throws {
        let input = try Fixture.bytes(file)
        #expect(throws: MapStoreError.invalidArgument(reason: reason)) { try readAll(input) }

        let stderrFile = file.hasSuffix(".txt") ? file.dropLast(4) + ".stderr" : "backslash.print.reload.stderr"
        let stderr = String(decoding: try Fixture.bytes(stderrFile), as: UTF8.self)
        let complaints = stderr.split(separator: "\n").filter { !$0.contains("unrecognized keyword ignored") }
        let lines = complaints.compactMap { $0.firstMatch(of: /^mdb_load: line (\d+):/).map { Int($0.1)! } }
        #expect(lines.last == mdbLoad.line)
        #expect(stderr.hasSuffix("exit 0\n") == mdbLoad.exitedZero)
    }
}

@Suite("DumpFormat: round trips")
struct DumpRoundTripTests {
    @Test("seeded random binary records survive write then read", arguments: DumpFormat.allCases)
    func randomRoundTrip(format: DumpFormat) throws {
        let records = randomRecords(count: 400, seed: 0x5EED_0001)
        let sections = try readAll(dumpText([(DumpHeader(format: format), records)]))
        try #require(sections.count == 1)
        #expect(sections[0].header.format == format)
        #expect(pairs(sections[0]) == pairs(records))
    }

    @Test("all 256 byte values, exactly as mdb_dump spells them", arguments: DumpFormat.allCases)
    func allByteValues(format: DumpFormat) throws {
        let all = (0...255).map(UInt8.init)
        let text = try dumpText([(DumpHeader(format: format), [(all, all)])])
        let lines = text.split(separator: 0x0a, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let expected = switch format {
        case .bytevalue:
            " " + all.map { String(format: "%02x", $0) }.joined()
        case .print:
            " " + all.map { byte in
                (0x20...0x7e).contains(byte) && byte != 0x5c ? String(UnicodeScalar(byte)) : String(format: "\\%02x", byte)
            }.joined()
        }
        #expect(lines[4] == expected && lines[5] == expected)
        #expect(try pairs(readAll(text)[0]) == [all, all])
    }

    @Test("empty values are a line holding one space, and come back empty", arguments: DumpFormat.allCases)
    func emptyValues(format: DumpFormat) throws {
        let records: [(key: [UInt8], value: [UInt8])] = [(b("a"), []), (b("b"), b("x")), (b("c"), [])]
        let text = try dumpText([(DumpHeader(format: format), records)])
        let body = switch format {
        case .bytevalue: "HEADER=END\n 61\n \n 62\n 78\n 63\n \nDATA=END\n"
        case .print: "HEADER=END\n a\n \n b\n x\n c\n \nDATA=END\n"
        }
        #expect(String(decoding: text, as: UTF8.self).hasSuffix(body))
        #expect(try pairs(readAll(text)[0]) == pairs(records))
    }

    @Test("streaming: tiny writer chunks and odd reader chunks give the same dump and records")
    func streaming() throws {
        let records = randomRecords(count: 120, seed: 42)
        let tables = [(DumpHeader(format: .print, database: "one"), records), (DumpHeader(format: .bytevalue), records)]
        let whole = try dumpText(tables)

        var chunks: [[UInt8]] = []
        var writer = DumpWriter(chunkSize: 100) { chunks.append(Array($0)) }
        for (header, records) in tables {
            try writer.writeHeader(header)
            for record in records { try writer.writeRecord(key: record.key, value: record.value) }
            try writer.writeFooter()
        }
        #expect(writer.output.isEmpty)
        #expect(chunks.count > 10)
        #expect(Array(chunks.joined()) == whole)

        var rng = SeededGenerator(seed: 7)
        var offset = 0
        var reader = DumpReader {
            guard offset < whole.count else { return nil }
            let size = Int.random(in: 0...300, using: &rng)
            defer { offset = min(offset + size, whole.count) }
            return Array(whole[offset..<min(offset + size, whole.count)])
        }
        let sections = try reader.readAll()
        #expect(sections.map(\.header.database) == ["one", nil])
        #expect(sections.map(pairs) == [pairs(records), pairs(records)])
        #expect(try sections == readAll(whole))
    }

    @Test("Data and ArraySlice keys write the same bytes as arrays")
    func collectionsOfBytes() throws {
        var a = DumpWriter()
        var c = DumpWriter()
        try a.writeHeader(DumpHeader())
        try c.writeHeader(DumpHeader())
        try a.writeRecord(key: b("key"), value: [1, 2, 3])
        try c.writeRecord(key: Data("key".utf8), value: [0, 1, 2, 3, 4][1...3])
        #expect(a.output == c.output)
    }
}

@Suite("DumpFormat: reader errors and edge cases")
struct DumpReaderEdgeTests {
    static let header = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"

    private func expectReason(_ input: String, plainText: Bool = false, _ reason: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: MapStoreError.invalidArgument(reason: reason), sourceLocation: sourceLocation) {
            try readAll(b(input), plainText: plainText)
        }
    }

    @Test("print escapes: either hex case, \\\\, and the bad ones")
    func printEscapes() throws {
        let sections = try readAll(b(Self.header + " \\4A\\4b\\\\\\5c\n \\00x\\ff\nDATA=END\n"))
        #expect(pairs(sections[0]) == [b("JK\\\\"), [0, 0x78, 0xff]])
        expectReason(Self.header + " k\n ab\\\nDATA=END\n", "line 6: bad escape \"\\\" at column 4 in value (expected \\\\ or \\ and two hex digits)")
        expectReason(Self.header + " k\\4\n v\nDATA=END\n", "line 5: bad escape \"\\4\" at column 3 in key (expected \\\\ or \\ and two hex digits)")
        expectReason(Self.header + " \\g1\n v\nDATA=END\n", "line 5: bad escape \"\\g1\" at column 2 in key (expected \\\\ or \\ and two hex digits)")
    }

    @Test("bytevalue reads uppercase hex and rejects odd or non-hex keys")
    func bytevalueKeys() throws {
        let header = "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n"
        #expect(try pairs(readAll(b(header + " ABcd\n \nDATA=END\n"))[0]) == [[0xab, 0xcd], []])
        expectReason(header + " abc\n 00\nDATA=END\n", "line 5: odd number of hex digits in key")
        expectReason(header + " 0g\n 00\nDATA=END\n", "line 5: invalid hex digit \"g\" at column 3 in key")
        expectReason(header + " 00\n 00\r\nDATA=END\n", "line 6: odd number of hex digits in value")
        expectReason(header + " 00\n 000\r\nDATA=END\n", "line 6: invalid hex digit \"\\0d\" at column 5 in value (a carriage return: CRLF line endings?)")
    }

    @Test("structure errors name the line")
    func structure() {
        expectReason(Self.header + " k\n", "line 5: input ends after the key line, without its value line")
        expectReason(Self.header + " k\n v\n\nDATA=END\n", "line 7: key line must start with a space, found \"\"")
        expectReason(Self.header + " k\nv\nDATA=END\n", "line 6: value line must start with a space, found \"v\"")
        expectReason(Self.header + "DATA=END\r\n", "line 5: key line must start with a space, found \"DATA=END\\0d\" (the line ends in a carriage return: CRLF line endings?)")
        expectReason(" 6b\n 76\nDATA=END\n", "line 1: expected a header line KEYWORD=VALUE or HEADER=END, found \" 6b\"")
        expectReason("type=hash\nHEADER=END\n", "line 1: unsupported type \"hash\" (expected btree)")
        expectReason("mapsize=lots\nHEADER=END\n", "line 1: invalid mapsize \"lots\"")
        expectReason("VERSION=0\nHEADER=END\n", "line 1: unsupported VERSION \"0\" (mdb_load reads versions 1 to 3)")
        // The line count runs on into the second section.
        expectReason(Self.header + " k\n v\nDATA=END\n" + Self.header + " k\n", "line 12: input ends after the key line, without its value line")
    }

    @Test("plain text: odd line count, missing final newline, raw bytes and \\r kept as data")
    func plainText() throws {
        expectReason("k\nv\nk2\n", plainText: true, "line 3: input ends after the key line, without its value line")
        expectReason("k\nv", plainText: true, "line 2: value line does not end with a newline (truncated input?)")
        let sections = try readAll(b("a b\r\n\t\u{e9}\\0a\n\n\n"), plainText: true)
        #expect(pairs(sections[0]) == [b("a b\r"), b("\t\u{e9}\n"), [], []])
        #expect(try readAll([], plainText: true) == [DumpSection(header: DumpHeader(format: .print), records: [])])
    }

    @Test("lenient where mdb_load is: no VERSION, unknown keywords, DATA=END without newline, empty input")
    func lenient() throws {
        let sections = try readAll(b("mapaddr=0x7f00\nfoo=bar\ndb_pagesize=4096\nHEADER=END\n 00\n 01\nDATA=END"))
        #expect(sections.map(\.header) == [DumpHeader(pageSize: 4096, ignoredKeywords: ["mapaddr", "foo"])])
        #expect(pairs(sections[0]) == [[0], [1]])
        #expect(try readAll([]).isEmpty)
    }

    @Test("an error is final: later calls throw it again")
    func errorsStick() throws {
        var reader = DumpReader(b(Self.header + " k\n \\zz\n k2\n v2\nDATA=END\n"))
        _ = try reader.nextSection()
        let expected = MapStoreError.invalidArgument(reason: "line 6: bad escape \"\\zz\" at column 2 in value (expected \\\\ or \\ and two hex digits)")
        #expect(throws: expected) { try reader.nextRecord() }
        #expect(throws: expected) { try reader.nextRecord() }
        #expect(throws: expected) { try reader.nextSection() }
    }

    @Test("nextSection checks and skips unread records; a throwing body does not spoil the reader")
    func skippingAndThrowingBodies() throws {
        struct Rejected: Error {}
        let input = b(Self.header + " a\n 1\n b\n 2\n c\n 3\nDATA=END\n" + Self.header + " d\n 4\nDATA=END\n")
        var reader = DumpReader(input)
        _ = try reader.nextSection()
        #expect(throws: Rejected.self) { try reader.withNextRecord { _, _, _ in throw Rejected() } }
        #expect(try reader.nextRecord() == DumpRecord(key: b("b"), value: b("2"), line: 7))
        #expect(try reader.nextSection() == DumpHeader(format: .print))
        #expect(try reader.withNextRecord { key, value, line in "\(Array(key))\(Array(value))\(line)" } == "[100][52]16")
        #expect(try reader.nextRecord() == nil)
        #expect(try reader.nextRecord() == nil)
        #expect(try reader.nextSection() == nil)

        var bad = DumpReader(b(Self.header + " a\n 1\n b\nDATA=END\n"))
        _ = try bad.nextSection()
        #expect(throws: MapStoreError.self) { try bad.nextSection() }
    }

    @Test("the writer refuses a database name it could not read back")
    func writerRejectsNewlineInName() {
        var writer = DumpWriter()
        #expect(throws: MapStoreError.invalidArgument(reason: "database name \"a\\nb\" holds a newline or NUL")) {
            try writer.writeHeader(DumpHeader(database: "a\nb"))
        }
    }
}
