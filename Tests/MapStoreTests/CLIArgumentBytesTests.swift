import Foundation
import MapStoreTestSupport
import Testing

// Arguments are bytes as given (docs/cli.md, issue 15): swift-argument-parser hands
// commands Strings, in which bytes that are not UTF-8 would become U+FFFD, so two distinct
// keys would be stored as one. Such an argument is refused before anything is opened.

@Suite struct CLIArgumentBytesTests {
    let directory = TemporaryDirectory()

    /// A database path in this test's directory.
    func db(_ name: String = "test.mapstore") -> String { directory.file(name) }

    /// "a" and a byte that no UTF-8 sequence holds.
    static let notUTF8: [UInt8] = [0x61, 0xff]

    /// The bytes of a template argument: `DB` is the database, `HERE` this test's directory,
    /// and every `BAD` becomes ``notUTF8``.
    func bytes(_ template: String) -> [UInt8] {
        if template == "DB" { return utf8(db()) }
        let parts = template.replacingOccurrences(of: "HERE", with: directory.path).components(separatedBy: "BAD")
        return Array(parts.map(utf8).joined(separator: Self.notUTF8))
    }

    /// Checks that `result` is the refusal: exit 2, nothing on stdout, one line on stderr that
    /// says why and names the argument by its position.
    func expectRefused(_ result: CLIResult, argument position: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 2, "\(result.err)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(result.err.contains("not valid UTF-8; use --hex"), "\(result.err)", sourceLocation: sourceLocation)
        #expect(result.err.contains("argument \(position)"), "\(result.err)", sourceLocation: sourceLocation)
        #expect(result.err.split(separator: "\n").count == 1, sourceLocation: sourceLocation)
    }

    @Test func distinctKeysThatAreNotUTF8AreRefusedNotStoredAsOne() throws {
        // Before the fix both puts succeeded and left one key, 61efbfbd, holding "two".
        for (key, value) in [([0x61, 0xff] as [UInt8], "one"), ([0x61, 0xfe], "two")] {
            let put = try CLI.run(bytes: [utf8("put"), utf8(db()), key, utf8(value)])
            expectRefused(put, argument: 3)
        }
        #expect(!FileManager.default.fileExists(atPath: db()))
        #expect(!FileManager.default.fileExists(atPath: db() + "-lock"))
        // Spelled in hex they are two keys.
        #expect(try CLI.run(["put", "--hex", db(), "61ff", "6f6e65"]).status == 0)
        #expect(try CLI.run(["put", "--hex", db(), "61fe", "74776f"]).status == 0)
        #expect(try CLI.run(["scan", "--hex", db()]).lines == ["61fe\t74776f", "61ff\t6f6e65"])
    }

    @Test(arguments: [
        (["put", "DB", "k", "BAD"], 4),
        (["put", "DB", "BAD", "v"], 3),
        (["get", "DB", "BAD"], 3),
        (["del", "DB", "BAD"], 3),
        (["scan", "DB", "--prefix", "BAD"], 4),
        (["scan", "DB", "--from=BAD"], 3),
        (["scan", "DB", "--to", "BAD"], 4),
        (["dump", "DB", "-s", "BAD"], 4),
        (["get", "DB", "k", "--snapshot", "BAD"], 5),
        (["snapshot", "create", "DB", "BAD"], 4),
        (["backup", "DB", "HERE/BAD.backup"], 3),
        (["dump", "DB", "-o", "HERE/BAD.dump"], 4),
        (["put", "HERE/BAD.mapstore", "k", "v"], 2),
        (["vm", "compare", "DB", "--workload", "BAD"], 5),
    ])
    func anArgumentThatIsNotUTF8ChangesAndCreatesNothing(arguments: [String], position: Int) throws {
        #expect(try CLI.run(["put", db(), "k", "v"]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: db()))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        let result = try CLI.run(bytes: arguments.map(bytes))
        expectRefused(result, argument: position)
        #expect(try Data(contentsOf: URL(fileURLWithPath: db())) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == files)
    }

    @Test func validUTF8ArgumentsOfEveryLengthStillWork() throws {
        // Two-, three- and four-byte sequences pass the check untouched.
        let key = "é€😀"
        #expect(try CLI.run(bytes: [utf8("put"), utf8(db()), utf8(key), utf8("v")]).status == 0)
        #expect(try CLI.run(["scan", "--hex", db()]).lines == [utf8(key).map { String(format: "%02x", $0) }.joined() + "\t76"])
    }
}
