import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// strace, which kills a process at a chosen system call (its fault injection).
let straceExecutable: String? = ["/usr/bin/strace", "/bin/strace"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// The environment for a process run under strace: LeakSanitizer (in the sanitizer builds of
/// .ci/run) refuses to run under ptrace, so leak checking is off there; nothing else changes.
let underStrace: [String: String] = ProcessInfo.processInfo.environment.merging(["ASAN_OPTIONS": "detect_leaks=0"]) { _, new in new }

/// A writer whose newest meta reaches the page cache but not the disk (killed between its
/// meta write and its sync, or a `.noMetaSync` writer), then another process that writes: a
/// power cut before that process's first sync must leave the last durable commit intact.
///
/// Real processes: the `mapstore` CLI, killed with SIGKILL by strace's fault injection at a
/// chosen fdatasync, and the test helper. The power cut is emulated by writing back the two
/// meta pages as the disk held them before the unsynced meta, over a file that keeps every
/// later page write: the disk a power cut can leave when it drops the meta and keeps the rest.
@Suite(.serialized, .enabled(if: straceExecutable != nil, "needs strace (apt-get install strace; .ci/run does)"))
struct KilledWriterTests {
    static var strace: String? { straceExecutable }

    /// Runs `mapstore ARGUMENTS` under strace, which kills it with SIGKILL when it makes its
    /// `call`th fdatasync (before the call runs). Returns how it ended.
    static func mapstoreKilled(atFdatasync call: Int, _ arguments: [String]) throws -> Process.TerminationReason {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: strace!)
        process.environment = underStrace
        process.arguments = ["-f", "-o", "/dev/null", "-e", "inject=fdatasync:signal=SIGKILL:when=\(call)", CLI.executable] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationReason
    }

    static func bytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

    /// The transaction ids in the two meta slots of `file`.
    static func metaTransactions(_ file: [UInt8], pageSize: Int) -> [UInt64] {
        (0..<2).map { slot in CrashImageTests.Image.txn(file, at: slot * pageSize) }
    }

    enum UnsyncedWriter: String, CaseIterable, CustomTestStringConvertible {
        /// `mapstore put`, killed at its one fdatasync: after its pages and its meta are written,
        /// before the sync that would make them durable.
        case killedBeforeItsMetaSync
        /// The test helper's `.noMetaSync` put, which exits normally leaving its meta unsynced.
        case noMetaSync
        var testDescription: String { rawValue }
    }

    @Test(arguments: UnsyncedWriter.allCases)
    func theNextProcessReusesNoPageTheUnsyncedMetaFreed(writer: UnsyncedWriter) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let pageSize = Int(getpagesize())
        for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
            #expect(try CLI.run(["put", path, key, value]).status == 0)
        }
        // The disk as of commit 3, durable: its meta and, in the other slot, its confirmation.
        let durableMetas = Array(Self.bytes(path).prefix(2 * pageSize))
        #expect(Self.metaTransactions(durableMetas, pageSize: pageSize).sorted() == [3, 3])

        switch writer {
        case .killedBeforeItsMetaSync:
            #expect(try Self.mapstoreKilled(atFdatasync: 1, ["put", path, "d", "4"]) == .uncaughtSignal)
        case .noMetaSync:
            #expect(try TestHelper.start(["put", path, "d", "4"]).wait() == 0)
        }
        let withMeta4 = Self.bytes(path)
        #expect(Self.metaTransactions(withMeta4, pageSize: pageSize).sorted() == [3, 4], "meta 4 is in the page cache")

        // The next process: killed at its first fdatasync, after writing its data pages. (Commit
        // 4 is not known to be on disk, so commit 5 cannot fall back to it after a power cut:
        // it takes two syncs, pages first, and dies at the first.)
        #expect(try Self.mapstoreKilled(atFdatasync: 1, ["put", path, "e", "5"]) == .uncaughtSignal)
        let afterNext = Self.bytes(path)
        #expect(afterNext[(2 * pageSize)...] != withMeta4[(2 * pageSize)...], "the next process wrote pages before its sync")
        #expect(Self.metaTransactions(afterNext, pageSize: pageSize).sorted() == [3, 4], "and no meta")

        // The disk kept meta 4 too: commit 4 opens intact.
        do {
            let db = try Database(path: path, options: .testing())
            #expect(try db.read { $0.transactionID } == 4)
            #expect(try db.check() == [])
            #expect(try db.read { txn in try txn.entries().map { String(decoding: $0.key, as: UTF8.self) } } == ["a", "b", "c", "d"])
        }

        // The power cut dropped meta 4 and kept the next process's page writes.
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 0)
        handle.write(Data(durableMetas))
        try handle.close()
        let db = try Database(path: path, options: .testing())
        #expect(try db.read { $0.transactionID } == 3)
        #expect(try db.check() == [], "commit 3, the last durable one, is intact")
        #expect(try db.read { txn in try txn.entries().map { String(decoding: $0.value, as: UTF8.self) } } == ["1", "2", "3"])
        let check = try CLI.run(["check", path])
        #expect(check.status == 0, "\(check.out)\(check.err)")
    }

    /// The rule costs no sync in the usual case: a `mapstore put` after a durable commit makes
    /// the one fdatasync of its commit. A lock file that cannot vouch for the newest meta (here
    /// a new one, as after a reboot or a lost lock file) costs one more, once.
    @Test func syncsPerOpen() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        #expect(try CLI.run(["put", path, "a", "1"]).status == 0)
        func fdatasyncs(_ arguments: [String]) throws -> Int {
            let log = dir.file("strace.log")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.strace!)
            process.environment = underStrace
            process.arguments = ["-f", "-o", log, "-e", "trace=fdatasync", CLI.executable] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            return String(decoding: Self.bytes(log), as: UTF8.self).split(separator: "\n").filter { $0.contains("fdatasync(") }.count
        }
        #expect(try fdatasyncs(["put", path, "b", "2"]) == 1)
        try FileManager.default.removeItem(atPath: path + "-lock")
        #expect(try fdatasyncs(["put", path, "c", "3"]) == 2, "one sync for the open that found nothing to vouch for the newest meta")
        #expect(try fdatasyncs(["put", path, "d", "4"]) == 1)

        // A record made in another boot (its boot id, bytes 40..<56 of the lock file, changed).
        let lock = try #require(FileHandle(forUpdatingAtPath: path + "-lock"))
        try lock.seek(toOffset: 40)
        let boot = lock.readData(ofLength: 16)
        try lock.seek(toOffset: 40)
        lock.write(Data(boot.map { $0 ^ 0x5A }))
        try lock.close()
        #expect(try fdatasyncs(["put", path, "e", "5"]) == 2, "a record of another boot is not believed")
        #expect(try fdatasyncs(["put", path, "f", "6"]) == 1)

        // Another data file renamed into place (as a restore does) under the same lock file.
        let copy = dir.file("copy.mapstore")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        #expect(rename(copy, path) == 0)
        #expect(try fdatasyncs(["put", path, "g", "7"]) == 2, "a record of another file is not believed")
        #expect(try fdatasyncs(["put", path, "h", "8"]) == 1)
        #expect(try CLI.run(["check", path]).status == 0)
        #expect(try CLI.run(["get", path, "h"]).out == "8\n")
    }
}
