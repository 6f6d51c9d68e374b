import Foundation
import Logging
import MapStoreTestSupport
import MetricsTestKit
import Testing
@testable import MapStore

/// A swift-log handler that keeps every message, for asserting on what was logged.
final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    struct Entry {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }
    private let entries = Lock<[Entry]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?,
             source: String, file: String, function: String, line: UInt) {
        entries.withLock { $0.append(Entry(level: level, message: message.description, metadata: metadata ?? [:])) }
    }

    var logged: [Entry] { entries.withLock { $0 } }

    /// A logger writing into `handler`.
    static func logger() -> (Logger, CapturingLogHandler) {
        let handler = CapturingLogHandler()
        return (Logger(label: "mapstore.test") { _ in handler }, handler)
    }
}

@Suite(.serialized) struct ObservabilityTests {
    @Test func openingAndRecoveryAreLogged() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let (logger, handler) = CapturingLogHandler.logger()
        var options = Options.testing(durability: .full)
        options.logger = logger
        let pageSize = Int(getpagesize())
        let slot1AtFirst: Data
        do {
            let db = try Database(path: path, options: options)
            try db.write { try $0.put("a", "1") }
            slot1AtFirst = try Data(contentsOf: URL(fileURLWithPath: path))[pageSize..<(2 * pageSize)]
            try db.write { try $0.put("a", "2") }
        }
        #expect(handler.logged.first?.message == "opened database")
        #expect(handler.logged.first?.metadata["txn"] == "0")
        // Damage the newest meta (txn 2, slot 0) as a crash before its sync returned leaves it,
        // commit 1's meta still in slot 1 (not yet its confirmation): the reopen recovers and says so.
        let file = try #require(FileHandle(forUpdatingAtPath: path))
        try file.seek(toOffset: 100)
        file.write(Data([0xFF, 0xEE]))
        try file.seek(toOffset: UInt64(pageSize))
        file.write(slot1AtFirst)
        try file.close()
        let (recoveryLogger, recovery) = CapturingLogHandler.logger()
        options.logger = recoveryLogger
        let db = try Database(path: path, options: options)
        #expect(try db.read { try $0.getString("a") } == "1")
        let warning = try #require(recovery.logged.first { $0.level == .warning })
        #expect(warning.message.contains("meta page is damaged"))
        #expect(warning.metadata["txn"] == "1")
    }

    @Test func aReclaimedStaleReaderIsLogged() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let (logger, handler) = CapturingLogHandler.logger()
        var options = Options.testing()
        options.logger = logger
        let db = try Database(path: path, options: options)
        try db.write { try $0.put("k", "v") }
        let reader = try TestHelper.start(["hold-read", path])
        #expect(reader.readLine() == "ready 1")
        let pid = reader.process.processIdentifier
        reader.kill()
        try db.write { try $0.put("k", "w") }
        try db.write { try $0.put("k", "x") }
        let warning = handler.logged.first { $0.message.contains("reclaimed the reader slot") }
        #expect(warning?.metadata["pid"] == "\(pid)")
    }

    @Test func commitsAreCountedTimedAndSized() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let metrics = TestMetrics()
        var options = Options.testing()
        options.metricsFactory = metrics
        let db = try Database(path: path, options: options)
        for i in 0..<3 { try db.write { try $0.put("key\(i)", String(repeating: "v", count: 5000)) } }
        try db.write { _ in }  // nothing changed: no commit
        let dimensions = [("db", path)]
        #expect(try metrics.expectCounter("mapstore_commits_total", dimensions).totalValue == 3)
        #expect(try metrics.expectTimer("mapstore_commit_duration", dimensions).values.count == 3)
        // Each commit writes at least its leaf, a 2-page overflow run and the meta page.
        #expect(try metrics.expectCounter("mapstore_bytes_written_total", dimensions).totalValue >= Int64(3 * 4 * db.pageSize))
        #expect(try metrics.expectGauge("mapstore_pages_in_use", dimensions).lastValue == Double(try db.stat().usedPages))
        #expect(try metrics.expectGauge("mapstore_readers", dimensions).lastValue == 0)
    }
}
