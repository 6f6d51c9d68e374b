import CShims
import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// CRC-32C (the page checksum of format version 2) and the version-1 (XXH64) files that
/// must keep working beside it.
@Suite struct PageChecksumTests {
    static let pageSize = Int(getpagesize())

    static func crc(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { mapstore_crc32c(crc, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, $0.count) }
    }

    static func portable(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { mapstore_crc32c_portable(crc, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, $0.count) }
    }

    /// Whether /proc/cpuinfo lists both instructions the hardware path needs.
    static var cpuHasSSE42AndPCLMUL: Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let words = Set(flags.split(separator: " ").map(String.init))
        return words.contains("sse4_2") && words.contains("pclmulqdq")
    }

    @Test func crc32cMatchesThePublishedValues() {
        // The check value of the CRC-32C parameters, and the iSCSI test vectors (RFC 3720, B.4).
        let vectors: [([UInt8], UInt32)] = [
            (Array("123456789".utf8), 0xE306_9283),
            ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
            ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
            ((0..<32).map { UInt8($0) }, 0x46DD_794E),
            ((0..<32).map { UInt8(31 - $0) }, 0x113F_DB5C),
            ([], 0),
        ]
        for (bytes, expected) in vectors {
            #expect(Self.crc(bytes) == expected, "\(bytes.count) bytes")
            #expect(Self.portable(bytes) == expected, "\(bytes.count) bytes, portable")
        }
    }

    @Test func theHardwarePathIsChosenExactlyWhenTheCPUHasIt() {
        #if arch(x86_64)
        #expect((mapstore_crc32c_hardware() == 1) == Self.cpuHasSSE42AndPCLMUL)
        #else
        #expect(mapstore_crc32c_hardware() == 0)
        #endif
    }

    @Test func threeStreamsOneStreamAndTheTablesAgreeForEveryLengthAndAlignment() throws {
        var generator = SeededGenerator(seed: 8)
        let buffer = (0..<(3 * 8 * 512 * 2 + 64)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // Every length up to well past the three-stream threshold, then a stride to beyond
        // one round of the longest stream (so several rounds and a remainder run).
        let lengths = Array(0...800) + Array(stride(from: 801, through: 3 * 8 * 512 * 2, by: 61)) + [4088, 4096, 3 * 8 * 512, 3 * 8 * 512 + 1]
        let hardware = mapstore_crc32c_hardware() == 1
        var mismatches = 0
        try buffer.withUnsafeBytes { raw in
            let base = try #require(raw.baseAddress)
            for offset in 0..<8 {
                for length in lengths where offset + length <= raw.count {
                    let start = base + offset
                    let seed = UInt32(truncatingIfNeeded: length &* 2_654_435_761)
                    let reference = mapstore_crc32c_portable(seed, start, length)
                    var agree = mapstore_crc32c(seed, start, length) == reference
                    if hardware {
                        agree = agree && mapstore_crc32c_hardware_one_stream(seed, start, length) == reference
                            && mapstore_crc32c_hardware_three_streams(seed, start, length) == reference
                    }
                    if !agree {
                        mismatches += 1
                        if mismatches < 5 { Issue.record("CRC-32C paths differ at offset \(offset), length \(length)") }
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func aCRCContinuesAcrossPieces() {
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let whole = Self.crc(bytes)
        for cut in [0, 1, 7, 8, 100, 191, 192, 193, 2500, 4999, 5000] {
            #expect(Self.crc(Array(bytes[cut...]), continuing: Self.crc(Array(bytes[..<cut]))) == whole, "cut at \(cut)")
        }
    }

    /// Patching a CRC for some changed words (``Checksum/crc32cPatched(_:changes:words:following:)``)
    /// gives the CRC of the changed bytes, for one or two words anywhere (any alignment) in
    /// strings of every length up to past a 16 KiB page, on both paths.
    @Test func aPatchedCRCIsTheCRCOfTheChangedBytes() {
        var generator = SeededGenerator(seed: 21)
        for trial in 0..<400 {
            let length = trial < 100 ? 16 + trial : Int.random(in: 16...17_000, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let before = Self.crc(bytes)
            let words = trial % 2 + 1
            let offset = Int.random(in: 0...(length - 8 * words), using: &generator)
            var changes: [UInt64] = []
            for word in 0..<words {
                let change = UInt64.random(in: 1...UInt64.max, using: &generator)
                changes.append(change)
                for byte in 0..<8 { bytes[offset + 8 * word + byte] ^= UInt8(truncatingIfNeeded: change >> (8 * UInt64(byte))) }
            }
            let following = length - offset - 8 * words
            let expected = Self.crc(bytes)
            #expect(mapstore_crc32c_patch(before, changes, words, following) == expected, "\(length) bytes, \(words) word(s) at \(offset)")
            #expect(mapstore_crc32c_patch_portable(before, changes, words, following) == expected, "portable: \(length) bytes, \(words) word(s) at \(offset)")
        }
    }

    /// ``Checksum/crc32cShifted(_:by:)`` joins CRCs, crc(A + B) = shift(crc(A), |B|) ^ crc(B),
    /// for pieces of every length up to past a 16 KiB page, on both paths.
    @Test func aShiftedCRCJoinsTwoPieces() {
        var generator = SeededGenerator(seed: 22)
        for trial in 0..<300 {
            let length = trial < 100 ? trial : Int.random(in: 0...17_000, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let cut = Int.random(in: 0...length, using: &generator)
            let (a, b) = (Self.crc(Array(bytes[..<cut])), Self.crc(Array(bytes[cut...])))
            let whole = Self.crc(bytes)
            #expect(mapstore_crc32c_shift(a, length - cut) ^ b == whole, "\(length) bytes cut at \(cut)")
            #expect(mapstore_crc32c_shift_portable(a, length - cut) ^ b == whole, "portable: \(length) bytes cut at \(cut)")
        }
    }

    // MARK: Files

    /// A database of many pages: small and overflow values, a table, and a free list.
    static func fill(_ db: Database, from start: Int) throws {
        try db.write { txn in
            for i in start..<(start + 2000) { try txn.put("key\(i)", "value \(i) " + String(repeating: "v", count: i % 120)) }
            for i in 0..<3 { try txn.put("big\(start)-\(i)", [UInt8](repeating: UInt8(i), count: 3 * pageSize)) }
            let table = try txn.table("orders")
            for i in start..<(start + 200) { try table.put("order\(i)", "\(i * 3)") }
        }
        try db.write { txn in for i in stride(from: start, to: start + 2000, by: 3) { _ = try txn.delete("key\(i)") } }
    }

    static func formatVersion(_ path: String) throws -> UInt32 {
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self).littleEndian }
    }

    /// Changes both meta pages of the file at `path` with `change`, then reseals each one's checksum.
    static func rewriteMetas(_ path: String, _ change: (Page) -> Void) throws {
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        bytes.withUnsafeMutableBytes { raw in
            for slot in 0..<2 {
                let page = Page(raw.baseAddress! + slot * Self.pageSize, size: Self.pageSize)
                change(page)
                page.setU64(0, page.xxh64(8, Meta.length - 8))
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Every page the main tree's root links to directly carries a checksum of `scheme`.
    static func expectRootChecksum(_ path: String, _ scheme: PageChecksum) throws {
        let root = try Database(path: path, options: .testing()).read { $0.base.main.root }
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        bytes.withUnsafeMutableBytes { raw in
            let page = Page(raw.baseAddress! + Int(root) * pageSize, size: pageSize)
            #expect(page.storedChecksum == page.computeChecksum(scheme))
            let other: PageChecksum = scheme == .crc32c ? .xxh64 : .crc32c
            #expect(page.storedChecksum != page.computeChecksum(other))
            if scheme == .crc32c { #expect(page.storedChecksum >> 32 == 0) }
        }
    }

    @Test func aNewFileIsVersion5WithCRC32CPages() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do {
            let db = try Database(path: path, options: .testing())
            try Self.fill(db, from: 0)
            #expect(try db.check().isEmpty)
        }
        #expect(try Self.formatVersion(path) == Meta.commitRecordVersion)
        try Self.expectRootChecksum(path, .crc32c)
    }

    /// Options that write the free list's working part in chain pages, as builds before
    /// version 4 did.
    static var olderLayout: Options {
        var options = Options.testing()
        options.inlineFreeList = false
        return options
    }

    /// A version-2 file (CRC-32C pages, metas without page lists, as builds before the
    /// one-sync commit wrote) opens and reads as it is; its first commit writes a version-5
    /// meta, after which both slots read as version 5 files do.
    @Test func aVersion2FileOpensAndIsUpgradedByItsFirstCommit() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do { try Self.fill(try Database(path: path, options: Self.olderLayout), from: 0) }
        try Self.rewriteMetas(path) { page in
            // What a version-2 build wrote: no list, no confirmation flag.
            page.setU32(16, 2)
            page.setU32(44, 0)
            page.setU64(120, 0)
        }
        let before = try Database(path: path, options: .testing()).read { txn in (txn.transactionID, try txn.entries().count) }
        #expect(try Self.formatVersion(path) == 2)
        let db = try Database(path: path, options: .testing())
        #expect(try db.read { txn in (txn.transactionID, try txn.entries().count) } == before)
        try db.write { try $0.put([1, 2, 3], [4]) }
        #expect(try db.check().isEmpty)
        let after = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        let versions = (0..<2).map { slot in after.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: slot * Self.pageSize + 16, as: UInt32.self).littleEndian } }
        #expect(versions.contains(Meta.commitRecordVersion), "the commit wrote a version-5 meta: \(versions)")
        #expect(try Database(path: path, options: .testing()).read { txn in try txn.get([1, 2, 3]) } == [4])
    }

    /// A version-3 file (a page list, the free list's working part in a chain page) opens and
    /// reads as it is; its first commit takes the working part inline into a version-5 meta
    /// and frees the old working page, and every page is still accounted for: at once, after
    /// a reopen, and after more commits.
    @Test func aVersion3FileOpensAndIsUpgradedByItsFirstCommit() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do { try Self.fill(try Database(path: path, options: Self.olderLayout), from: 0) }
        try Self.rewriteMetas(path) { page in
            #expect(page.u32(100) == 0)
            page.setU32(16, 3)
        }
        #expect(try Self.formatVersion(path) == 3)
        let rootBefore = try Database(path: path, options: .testing()).read { $0.base.freeListRoot }
        #expect(rootBefore != 0, "the older layout keeps its working part in a chain page")
        do {
            let db = try Database(path: path, options: .testing())
            #expect(try db.check().isEmpty)
            try db.write { try $0.put([1, 2, 3], [4]) }
            let words = try db.read { try $0.freeListWords() }
            #expect(!words.isEmpty, "the first commit took the working part inline")
            #expect(try db.check().isEmpty)
        }
        let db = try Database(path: path, options: .testing())
        #expect(try db.check().isEmpty)
        for i in 0..<50 { try db.write { try $0.put("after\(i)", "\(i)") } }
        for i in stride(from: 0, to: 2000, by: 7) { try db.write { _ = try $0.delete("key\(i)") } }
        #expect(try db.check().isEmpty)
        let versions = try (0..<2).map { slot in
            try [UInt8](#require(FileManager.default.contents(atPath: path))).withUnsafeBytes { $0.loadUnaligned(fromByteOffset: slot * Self.pageSize + 16, as: UInt32.self).littleEndian }
        }
        #expect(versions == [Meta.commitRecordVersion, Meta.commitRecordVersion])
        #expect(try db.read { txn in try txn.get([1, 2, 3]) } == [4])
    }

    @Test(arguments: [MappingMode.readOnly, .writeMap])
    func aVersion1FileOpensIsWrittenAndChecksWithXXH64(mode: MappingMode) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do {
            var old = Options.testing(mode)
            old.newFilePageChecksum = .xxh64
            let db = try Database(path: path, options: old)
            try Self.fill(db, from: 0)
        }
        #expect(try Self.formatVersion(path) == 1)
        try Self.expectRootChecksum(path, .xxh64)

        // Opened by today's defaults: still version 1, written, read with verification, checked.
        do {
            var options = Options.testing(mode)
            options.verifyChecksums = true
            let db = try Database(path: path, options: options)
            try Self.fill(db, from: 5000)
            let found = try db.read { txn in
                [try txn.get("key5001") != nil, try txn.get("key1") != nil, try txn.get("key0") == nil,
                 try txn.get("big5000-2")?.count == 3 * Self.pageSize, try txn.table("orders").get("order5100") != nil]
            }
            #expect(found == [true, true, true, true, true])
            #expect(try db.check().isEmpty)
        }
        #expect(try Self.formatVersion(path) == 1)
        try Self.expectRootChecksum(path, .xxh64)

        // A backup, plain or compacted, is a version-1 file too, and checks.
        for compact in [false, true] {
            let copy = dir.file("copy-\(compact).mapstore")
            try Database(path: path, options: .testing()).backup(to: copy, compact: compact)
            #expect(try Self.formatVersion(copy) == 1)
            let db = try Database(path: copy, options: .testing())
            #expect(try db.check().isEmpty, "compact: \(compact)")
            #expect(try db.read { try $0.get("key5002") } != nil)
        }
    }

    @Test(arguments: [PageChecksum.crc32c, .xxh64])
    func oneFlippedByteIsFoundByCheck(scheme: PageChecksum) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let root: UInt64
        do {
            var options = Options.testing()
            options.newFilePageChecksum = scheme
            let db = try Database(path: path, options: options)
            try Self.fill(db, from: 0)
            root = try db.read { $0.base.main.root }
        }
        let original = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        // A byte in the cells at the page's end, and one in the checksum field's high half.
        for offset in [Self.pageSize - 10, 6] {
            var bytes = original
            bytes[Int(root) * Self.pageSize + offset] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let problems = try Database(path: path, options: .testing()).check()
            #expect(problems.contains { $0.page == root && $0.message.contains("checksum mismatch") }, "offset \(offset): \(problems)")
        }
    }

    @Test func theCLILoadsIntoAndChecksAVersion1File() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do {
            var old = Options.testing()
            old.newFilePageChecksum = .xxh64
            try Self.fill(try Database(path: path, options: old), from: 0)
        }
        var text = "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
        for i in 0..<500 { text += " loaded\(i)\n value\(i)\n" }
        text += "DATA=END\n"
        #expect(try CLI.run(["load", path], stdin: Array(text.utf8)).status == 0)
        let check = try CLI.run(["check", path])
        #expect(check.status == 0, "\(check.err)")
        #expect(try CLI.run(["get", path, "loaded7"]).out == "value7\n")
        #expect(try Self.formatVersion(path) == 1)
    }

    @Test func aVersionThisBuildDoesNotKnowIsAVersionMismatch() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do { try Self.fill(try Database(path: path, options: .testing()), from: 0) }
        // Version 6 with a valid meta checksum: a newer format, not damage.
        try Self.rewriteMetas(path) { $0.setU32(16, 6) }
        var caught: MapStoreError?
        do { _ = try Database(path: path, options: .testing()) } catch { caught = error }
        #expect(caught?.code == "versionMismatch", "\(String(describing: caught))")
        #expect(caught?.description.contains("format version 6") == true, "\(String(describing: caught))")
    }
}
