import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

// The README's typed-table snippet, as it stands there (its `import MapStore` is above);
// `snippetIsTheREADMEs` checks that every line of it is here, so the two cannot drift.

struct Order: Codable, Equatable {
    var item: String
    var quantity: Int
    var note: String? = nil
}

func aliceOrders(in db: Database) throws -> [(key: Tuple, value: Order)] {
    try db.write { txn in
        let orders = try txn.table("orders", key: Tuple.self, value: Order.self)   // binary-coded values
        try orders.put(Tuple("alice", 2), Order(item: "pear", quantity: 1, note: "ripe"))
        try orders.put(Tuple("alice", 1), Order(item: "apple", quantity: 3))
        try orders.put(Tuple("bob", 1), Order(item: "fig", quantity: 12))
    }
    return try db.read { txn in
        let orders = try txn.table("orders", key: Tuple.self, value: Order.self)
        return try orders.entries(in: .prefix(Tuple("alice")))   // ("alice", 1), then ("alice", 2)
    }
}

// The README's observation snippet, as it stands there, in a function a test runs.
func printCommits(of db: Database) async {
    for await event in db.commits(reportingTables: true) {
        print(event.transactionID, event.changedTables ?? [])
    }
}

@Suite struct ReadmeExampleTests {
    /// The observation snippet runs: it sees a commit, and cancelling its task ends the loop.
    @Test func observationSnippetRuns() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let watching = Task { await printCommits(of: db) }
        try await db.write { try $0.put("a", "1") }
        watching.cancel()
        await watching.value
        #expect(try await db.read { try $0.getString("a") } == "1")
    }

    /// Every line of the README's observation snippet is in ``printCommits(of:)``.
    @Test func observationSnippetIsTheREADMEs() throws {
        let readme = try Self.readme()
        let start = try #require(readme.range(of: "- Observation:"))
        let fence = try #require(readme.range(of: "```swift\n", range: start.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```\n", range: fence.upperBound..<readme.endIndex))
        let lines = readme[fence.upperBound..<end.lowerBound].split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let here = try String(contentsOfFile: #filePath, encoding: .utf8).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(!lines.isEmpty)
        for line in lines where !line.isEmpty { #expect(here.contains(line), "not in this file: \(line)") }
    }

    @Test func snippetRuns() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let orders = try aliceOrders(in: db)
        #expect(orders.map(\.key) == [Tuple("alice", 1), Tuple("alice", 2)])
        #expect(orders.map(\.value) == [Order(item: "apple", quantity: 3), Order(item: "pear", quantity: 1, note: "ripe")])
    }

    /// The README's error example is the error this test gets.
    @Test func errorExampleIsWhatATableSays() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        struct Wrong: Codable { var item: String; var quantity: String }
        try db.write { txn in
            try txn.table("orders", key: Tuple.self, value: Wrong.self).put(Tuple("alice", 3), Wrong(item: "apple", quantity: "3"))
        }
        let readme = try Self.readme()
        do {
            _ = try db.read { txn in try txn.table("orders", key: Tuple.self, value: Order.self).get(Tuple("alice", 3)) }
            Issue.record("a String read as an Int")
        } catch let error as MapStoreError {
            let flowed = readme.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            let shown = flowed.contains("`\(error.description)`")
            #expect(shown, "README.md should show: \(error.description)")
        }
    }

    @Test func snippetIsTheREADMEs() throws {
        let readme = try Self.readme()
        let start = try #require(readme.range(of: "## Typed tables and tuple keys"))
        let fence = try #require(readme.range(of: "```swift\n", range: start.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```\n", range: fence.upperBound..<readme.endIndex))
        let snippet = readme[fence.upperBound..<end.lowerBound]
        let here = try String(contentsOfFile: #filePath, encoding: .utf8)
        let body = snippet.replacingOccurrences(of: "import MapStore\n\n", with: "")
        #expect(snippet.hasPrefix("import MapStore\n\n"))
        #expect(here.contains(body), "the README's snippet and this file differ")
    }

    static func readme() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    }
}
