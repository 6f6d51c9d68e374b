import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// I/O faults in the files beside the data file, through the handle's StorageIO: each call of
/// a backup (its writes, the fsync of the temporary, the rename over the target, the fsync of
/// the directory), of a restore, and of laying out a new lock file fails in turn with EIO or
/// ENOSPC (EINTR, as a control, is retried). A failed backup or restore throws `io` or
/// `diskFull` naming the call and the path, leaves the user's existing target byte for byte as
/// it was (or, once the rename is done, the complete new copy) and no temporary file behind;
/// a failed lock-file write is an error from `Database.init`, and the next open works.
@Suite(.serialized) struct FileIOFaultTests {
    typealias Model = [[UInt8]: [UInt8]]

    static func bytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

    static func listing(_ dir: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    static func contents(_ db: Database) throws -> Model {
        try db.read { txn in
            var model: Model = [:]
            for entry in try txn.entries() { model[entry.key] = entry.value }
            return model
        }
    }

    /// The contents of the database file at `path`, opened read-only with the real calls.
    static func contents(ofFile path: String) throws -> Model {
        var options = Options.testing()
        options.readOnly = true
        let db = try Database(path: path, options: options)
        #expect(try db.check() == [], "\(path) checks clean")
        return try contents(db)
    }

    /// The error a failure of `code` in call `kind` must surface as: `diskFull` naming `path`
    /// for ENOSPC, else `io` with the errno and the call.
    static func expectError(_ error: MapStoreError?, code: Int32, kind: String, path: String, _ context: String) {
        let operation = ["write": "write", "fsync": "fsync", "rename": "rename", "fsyncDirectory": "fsync directory",
                         "ftruncate": "ftruncate", "pwrite": "pwrite"][kind] ?? kind
        switch error {
        case let .diskFull(named)? where code == ENOSPC:
            #expect(named == path, "\(context): \(String(describing: error))")
        case let .io(errno, called, named)? where code != ENOSPC:
            #expect(errno == code, "\(context): \(String(describing: error))")
            #expect(called.hasPrefix(operation), "\(context): \(String(describing: error))")
            #expect(named == path, "\(context): \(String(describing: error))")
        default:
            Issue.record("\(context): expected \(code == ENOSPC ? "diskFull" : "io") naming \(path), got \(String(describing: error))")
        }
    }

    /// A database of about 2.5 MiB (so a plain backup is several 1 MiB writes).
    static func fill(_ db: Database, tag: String) throws {
        try db.write { txn in
            for i in 0..<2000 { try txn.put("key\(i)", Array("\(tag) \(i) ".utf8) + [UInt8](repeating: UInt8(i % 251), count: 1000)) }
        }
    }

    static let codes: [Int32] = [EIO, ENOSPC, EINTR]

    /// The output calls a backup of `path` to `target` makes, in order (a dry run to a
    /// scratch path, removed after).
    static func backupCalls(_ path: String, to target: String, compact: Bool, compression: BackupCompression) throws -> [FaultInjectingIO.Call] {
        let counter = FaultInjectingIO(failAt: .max, errno: EIO, files: [.output])
        var options = Options.testing()
        options.storageIO = counter
        let db = try Database(path: path, options: options)
        try db.backup(to: target, compact: compact, compression: compression)
        try FileManager.default.removeItem(atPath: target)
        return counter.made
    }

    /// The calls worth failing: every one but the writes, and of the writes the first three
    /// and the last (a compacted backup writes page by page: thousands of writes alike).
    static func trials(_ calls: [FaultInjectingIO.Call]) -> [Int] {
        let writes = calls.indices.filter { calls[$0].kind == "write" }
        return calls.indices.filter { calls[$0].kind != "write" || writes.prefix(3).contains($0) || $0 == writes.last }
    }

    @Test(arguments: [(false, BackupCompression.none), (true, .none), (false, .gzip)], codes)
    func everyBackupCallFailsWithoutTouchingTheTarget(compactAndCompression: (Bool, BackupCompression), code: Int32) throws {
        let (compact, compression) = compactAndCompression
        let dir = TemporaryDirectory()
        let path = dir.file("shop.mapstore"), target = dir.file("shop.backup")
        var newer: Model
        do {
            let db = try Database(path: path, options: .testing())
            try Self.fill(db, tag: "old")
            try db.backup(to: target, compact: compact, compression: compression)
            try Self.fill(db, tag: "new")
            newer = try Self.contents(db)
        }
        let calls = try Self.backupCalls(path, to: dir.file("dry-run.backup"), compact: compact, compression: compression)
        let old = try #require(Self.bytes(target))
        let files = try Self.listing(dir)
        var kinds: [String] = []
        for failAt in Self.trials(calls) {
            let io = FaultInjectingIO(failAt: failAt, errno: code, files: [.output])
            var options = Options.testing()
            options.storageIO = io
            let db = try Database(path: path, options: options)
            var thrown: MapStoreError?
            do {
                try db.backup(to: target, compact: compact, compression: compression)
            } catch let error as MapStoreError {
                thrown = error
            }
            #expect(try Self.listing(dir) == files, "K=\(failAt): no temporary file is left behind")
            let failed = try #require(io.failed, "K=\(failAt): the backup made fewer calls than its dry run")
            #expect(failed == calls[failAt], "K=\(failAt)")
            kinds.append(failed.kind)
            let context = "K=\(failAt) \(failed.kind) \(IOFaultTests.name(code))"
            if code == EINTR {
                #expect(thrown == nil, "\(context): EINTR is retried, yet \(String(describing: thrown))")
            } else {
                let named = failed.kind == "fsyncDirectory" ? dir.path : target
                Self.expectError(thrown, code: code, kind: failed.kind, path: named, context)
            }
            if failed.kind == "fsyncDirectory" || code == EINTR {
                // Renamed before the directory's sync failed: the target is the whole new copy.
                let restored = dir.file("check.mapstore")
                try Database.restoreBackup(from: target, to: restored, overwrite: true)
                #expect(try Self.contents(ofFile: restored) == newer, "\(context)")
                try FileManager.default.removeItem(atPath: restored)
                try FileManager.default.removeItem(atPath: restored + "-lock")
                try Data(old).write(to: URL(fileURLWithPath: target))  // the old backup back, for the next trial
            } else {
                #expect(Self.bytes(target) == old, "\(context): the previous backup is untouched")
            }
        }
        print("backup faults (compact \(compact), \(compression), \(IOFaultTests.name(code))): \(kinds.joined(separator: ", ")) of \(calls.count) calls")
        #expect(Set(kinds) == ["write", "fsync", "rename", "fsyncDirectory"])
        #expect(kinds.filter { $0 == "write" }.count >= (compression == .none ? 3 : 1), "several writes, each failed in turn")
        // A failed backup is no commit failure: the handle writes on, and backs up (its fault spent).
        let io = FaultInjectingIO(failAt: 0, errno: EIO, files: [.output])
        var options = Options.testing()
        options.storageIO = io
        let db = try Database(path: path, options: options)
        #expect(throws: MapStoreError.self) { try db.backup(to: target, compact: compact, compression: compression) }
        try db.write { try $0.put("after", "a failed backup") }
        newer[Array("after".utf8)] = Array("a failed backup".utf8)
        try db.backup(to: target, compact: compact, compression: compression)
        try Database.restoreBackup(from: target, to: dir.file("final.mapstore"))
        #expect(try Self.contents(ofFile: dir.file("final.mapstore")) == newer)
    }

    @Test(arguments: [BackupCompression.none, .gzip], [EIO, ENOSPC])
    func everyRestoreCallFailsWithoutTouchingTheTarget(compression: BackupCompression, code: Int32) throws {
        let dir = TemporaryDirectory()
        let source = dir.file("source.mapstore"), backup = dir.file("source.backup"), target = dir.file("target.mapstore")
        let restoredModel: Model
        do {
            let db = try Database(path: source, options: .testing())
            try Self.fill(db, tag: "backed up")
            try db.backup(to: backup, compression: compression)
            restoredModel = try Self.contents(db)
        }
        let existingModel: Model
        do {
            let db = try Database(path: target, options: .testing())
            try Self.fill(db, tag: "existing")
            existingModel = try Self.contents(db)
        }
        let existing = try #require(Self.bytes(target))
        let files = try Self.listing(dir)
        var kinds: [String] = []
        for failAt in 0... {
            let io = FaultInjectingIO(failAt: failAt, errno: code, files: [.output])
            var thrown: MapStoreError?
            do {
                try Database.restoreBackup(from: backup, to: target, overwrite: true, io: io)
            } catch let error as MapStoreError {
                thrown = error
            }
            #expect(try Self.listing(dir) == files, "K=\(failAt): no temporary file (or its lock file) is left behind")
            guard let failed = io.failed else {
                #expect(thrown == nil, "K=\(failAt): no fault injected, yet \(String(describing: thrown))")
                #expect(try Self.contents(ofFile: target) == restoredModel)
                break
            }
            kinds.append(failed.kind)
            let context = "K=\(failAt) \(failed.kind) \(IOFaultTests.name(code))"
            Self.expectError(thrown, code: code, kind: failed.kind, path: failed.kind == "fsyncDirectory" ? dir.path : target, context)
            if failed.kind == "fsyncDirectory" {
                // Renamed before the directory's sync failed: the restored copy, checked and whole.
                #expect(try Self.contents(ofFile: target) == restoredModel, "\(context)")
                try Data(existing).write(to: URL(fileURLWithPath: target))
            } else {
                #expect(Self.bytes(target) == existing, "\(context): the existing database is untouched")
                #expect(try Self.contents(ofFile: target) == existingModel, "\(context)")
            }
        }
        print("restore faults (\(compression), \(IOFaultTests.name(code))): \(kinds.joined(separator: ", "))")
        #expect(Set(kinds).isSuperset(of: ["write", "fsync", "rename", "fsyncDirectory"]))
        #expect(kinds.filter { $0 == "write" }.count >= 3, "several writes, each failed in turn")
    }

    /// Laying out a new lock file (truncating it, sizing it, writing its header) fails at each
    /// call: `Database.init` throws, nothing traps, and the next open lays the file out anew.
    @Test(arguments: [EIO, ENOSPC], [false, true])
    func aLockFileWriteFaultIsAnError(code: Int32, readOnly: Bool) throws {
        let dir = TemporaryDirectory()
        var points = 0
        for failAt in 0... {
            let path = dir.file("db\(failAt).mapstore")
            if readOnly {
                // An existing database whose lock file is gone (a reboot cleared it, say).
                let db = try Database(path: path, options: .testing())
                try db.write { try $0.put("kept", "value") }
            }
            try? FileManager.default.removeItem(atPath: path + "-lock")
            let io = FaultInjectingIO(failAt: failAt, errno: code, files: [.lock])
            var options = Options.testing()
            options.readOnly = readOnly
            options.storageIO = io
            var thrown: MapStoreError?
            do {
                _ = try Database(path: path, options: options)
            } catch {
                thrown = error
            }
            guard let failed = io.failed else {
                #expect(thrown == nil, "K=\(failAt): no fault injected, yet \(String(describing: thrown))")
                break
            }
            points += 1
            let context = "K=\(failAt) \(failed.kind) \(IOFaultTests.name(code))"
            #expect(failed.file == .lock && ["ftruncate", "pwrite"].contains(failed.kind), "\(context)")
            Self.expectError(thrown, code: code, kind: failed.kind, path: path + "-lock", context)
            let db = try Database(path: path, options: .testing())
            try db.write { try $0.put("after", "fault") }
            #expect(try db.check() == [], "\(context)")
            #expect(try db.read { try $0.getString("kept") } == (readOnly ? "value" : nil), "\(context)")
        }
        #expect(points == 3, "two ftruncates and the header's pwrite")
    }

    /// The recorder sees a backup's calls as the output's and a new lock file's as the lock
    /// file's, in order, and neither in the data file's log.
    @Test func theRecorderKeepsEachFilesCallsApart() throws {
        let dir = TemporaryDirectory()
        let recorder = RecordingIO()
        var options = Options.testing(durability: .full)
        options.storageIO = recorder
        let db = try Database(path: dir.file(), options: options)
        let created = recorder.calls
        #expect(created.filter { $0.file == .lock }.map(\.kind) == ["ftruncate", "ftruncate", "pwrite"])
        #expect(created.filter { $0.file == .data }.map(\.kind) == ["pwrite", "fsync", "fsyncDirectory"])
        try Self.fill(db, tag: "recorded")
        let operations = recorder.operations
        let before = recorder.calls.count
        try db.backup(to: dir.file("recorded.backup"))
        let backup = recorder.calls.dropFirst(before)
        #expect(backup.allSatisfy { $0.file == .output })
        #expect(backup.map(\.kind) == Array(repeating: "write", count: backup.count - 3) + ["fsync", "rename", "fsyncDirectory"])
        #expect(recorder.operations == operations, "the data file's log has nothing of the backup")
    }
}
