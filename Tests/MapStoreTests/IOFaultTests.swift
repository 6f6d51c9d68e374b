import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// I/O faults at every call of a commit: for each call number K of a plain commit, a commit
/// that grows the file, a group commit and the creation of a file, call K fails with EIO or
/// ENOSPC (and, as a control, EINTR, which must be retried). A failed write or sync throws
/// `io` (EIO) or `diskFull` (ENOSPC) and poisons the handle; a failed growth rolls the
/// transaction back and leaves the handle usable (nothing was written). Either way the handle
/// still reads, and it and a reopening with the real system calls find the last good commit
/// (a failed commit's meta is erased, so even one that reached the file is not adopted), with
/// `check()` clean. The one call that fails after a commit is durable, the write of its
/// confirmation copy, poisons the handle but leaves the commit standing: its callers are told
/// it committed, as it did.
@Suite(.serialized) struct IOFaultTests {
    typealias Model = [[UInt8]: [UInt8]]

    enum Workload: String, CaseIterable, Sendable {
        /// Ten puts and a delete.
        case small
        /// 700 values of 3000 bytes: more pages than the file holds (2 MiB after the first
        /// commit's growth step), so it grows.
        case growing
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let mode: MappingMode
        let workload: Workload
        let code: Int32
        var testDescription: String { "\(mode.rawValue), \(workload.rawValue), \(IOFaultTests.name(code))" }
    }

    static func name(_ code: Int32) -> String {
        switch code {
        case EIO: "EIO"
        case ENOSPC: "ENOSPC"
        case EINTR: "EINTR"
        default: "errno \(code)"
        }
    }

    static let codes: [Int32] = [EIO, ENOSPC, EINTR]

    static let cases: [Case] = [MappingMode.readOnly, .writeMap].flatMap { mode in
        Workload.allCases.flatMap { workload in codes.map { Case(mode: mode, workload: workload, code: $0) } }
    }

    static func contents(_ db: Database) throws -> Model {
        try db.read { txn in
            var model: Model = [:]
            for entry in try txn.entries() { model[entry.key] = entry.value }
            return model
        }
    }

    /// The database every trial starts from: 30 small keys, written with the real system calls.
    static func makeBase(_ path: String, mode: MappingMode) throws -> (file: Data, model: Model) {
        let db = try Database(path: path, options: .testing(mode, durability: .full))
        try db.write { txn in for i in 0..<30 { try txn.put("k\(i)", "value \(i)") } }
        return (try Data(contentsOf: URL(fileURLWithPath: path)), try contents(db))
    }

    static func run(_ workload: Workload, _ txn: WriteTransaction) throws {
        switch workload {
        case .small:
            for i in 0..<10 { try txn.put("new\(i)", "fresh \(i)") }
            _ = try txn.delete("k3")
        case .growing:
            for i in 0..<700 { try txn.put("big\(i)", [UInt8](repeating: UInt8(i % 251), count: 3000)) }
        }
    }

    /// The error a failure of `code` must surface as.
    static func expectedError(_ code: Int32) -> String { code == ENOSPC ? "diskFull" : "io" }

    /// Whether the commit was durable before call `failAt`: a meta written (a pwrite into page
    /// 0 or 1) and a completed fdatasync (or, in a write map, msync) after it. Only the confirmation copy's write comes
    /// after that.
    static func durable(_ calls: [FaultInjectingIO.Call], before failAt: Int, pageSize: Int) -> Bool {
        let made = Array(calls.prefix(failAt))
        guard let meta = made.firstIndex(where: { $0.file == .data && $0.kind == "pwrite" && ($0.offset ?? .max) < 2 * pageSize }) else { return false }
        return made[meta...].contains { $0.file == .data && ($0.kind == "fdatasync" || $0.kind == "msync") }
    }

    @Test(arguments: cases)
    func everyCommitCallFailsCleanly(_ trial: Case) throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let pageSize = Int(getpagesize())
        let (baseFile, before) = try Self.makeBase(path, mode: trial.mode)
        let after = try {
            let scratch = dir.file("scratch.mapstore")
            try baseFile.write(to: URL(fileURLWithPath: scratch))
            let db = try Database(path: scratch, options: .testing(trial.mode))
            try db.write { try Self.run(trial.workload, $0) }
            return try Self.contents(db)
        }()
        var points = 0
        var kinds: Set<String> = []
        for failAt in 0... {
            try baseFile.write(to: URL(fileURLWithPath: path))
            let io = FaultInjectingIO(failAt: failAt, errno: trial.code)
            var options = Options.testing(trial.mode, durability: .full)
            options.storageIO = io
            var thrown: MapStoreError?
            var growthFailed = false
            do {
                let db = try Database(path: path, options: options)
                do {
                    try db.write { try Self.run(trial.workload, $0) }
                } catch let error as MapStoreError {
                    thrown = error
                }
                guard let failed = io.failed else {
                    #expect(thrown == nil, "K=\(failAt): no fault injected, yet \(String(describing: thrown))")
                    break
                }
                points += 1
                kinds.insert(failed.kind)
                growthFailed = failed.kind == "fallocate" || failed.kind == "ftruncate" || failed.kind == "zeroFill"
                let context = "K=\(failAt) \(failed.kind) \(Self.name(trial.code))"
                if trial.code == EINTR || (growthFailed && trial.code == ENOSPC && io.made.count > failAt + 1 && thrown == nil) {
                    // EINTR is retried; a full disk for a whole growth step retries with only what the commit needs.
                    #expect(thrown == nil, "\(context): \(String(describing: thrown))")
                    #expect(try Self.contents(db) == after, "\(context)")
                    continue
                }
                if Self.durable(io.made, before: failAt, pageSize: pageSize) {
                    #expect(failed.kind == "pwrite", "\(context): only the confirmation is written after the sync")
                    #expect(thrown == nil, "\(context): the commit is durable, yet \(String(describing: thrown))")
                    #expect(try Self.contents(db) == after, "\(context)")
                    #expect(throws: MapStoreError.self, "\(context): the handle is poisoned") { try db.write { try $0.put("later", "write") } }
                    #expect(try Self.contents(try Database(path: path, options: .testing(trial.mode))) == after, "\(context): reopened")
                    continue
                }
                #expect(thrown?.code == Self.expectedError(trial.code), "\(context): \(String(describing: thrown))")
                if case let .io(errno, operation, _) = thrown {
                    #expect(errno == trial.code && (operation == failed.kind || (failed.kind == "zeroFill" && operation.hasPrefix("pwritev of"))), "\(context): \(String(describing: thrown))")
                }
                // The handle reads the last good commit: readers adopt only published commits,
                // and a commit is published once its sync returned.
                #expect(try Self.contents(db) == before, "\(context)")
                // A failed growth wrote nothing: the handle goes on. A failed write or sync poisons it.
                do {
                    try db.write { try $0.put("later", "write") }
                    #expect(growthFailed, "\(context): a poisoned handle accepted a write")
                } catch let error as MapStoreError {
                    #expect(!growthFailed && error.code == "poisoned", "\(context): \(error)")
                }
            }
            let reopened = try Database(path: path, options: .testing(trial.mode))
            // A failed commit's meta, even when it reached the file, was erased: its caller was
            // told it failed, and no open adopts it.
            var expected = before
            if growthFailed { expected[Array("later".utf8)] = Array("write".utf8) }
            #expect(try Self.contents(reopened) == expected, "K=\(failAt): reopened")
            #expect(try reopened.check() == [], "K=\(failAt): reopened")
        }
        print("I/O faults \(trial.testDescription): \(points) calls failed in turn (\(kinds.sorted().joined(separator: ", ")))")
        // A write map's one sync is an msync over the meta and the pages.
        #expect(kinds.isSuperset(of: ["pwrite", trial.mode == .writeMap ? "msync" : "fdatasync"]))
        #expect(kinds.contains(trial.mode == .writeMap ? "msync" : "pwritev"))
        if trial.workload == .growing { #expect(kinds.isSuperset(of: ["fallocate", "zeroFill"])) }
    }

    /// The same for a group of four async writers committed together (one sync of their pages,
    /// one meta, one sync of the meta): every writer of a failed group gets an error (the
    /// injected one, or `poisoned` for those whose part was already written), and reopening
    /// finds either none of the group or all of it.
    @Test(arguments: [MappingMode.readOnly, .writeMap], [EIO, ENOSPC])
    func everyGroupCommitCallFailsCleanly(mode: MappingMode, code: Int32) async throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let pageSize = Int(getpagesize())
        let writers = 4
        let (baseFile, before) = try Self.makeBase(path, mode: mode)
        var after = before
        for writer in 0..<writers { for i in 0..<5 { after[Array("g\(writer)-\(i)".utf8)] = Array("group \(writer)".utf8) } }
        var points = 0
        for failAt in 0... {
            try baseFile.write(to: URL(fileURLWithPath: path))
            let io = FaultInjectingIO(failAt: failAt, errno: code)
            var options = Options.testing(mode, durability: .full)
            options.storageIO = io
            options.groupCommit = true
            var errors: [MapStoreError?] = []
            do {
                let db = try Database(path: path, options: options)
                let holder = GroupCommitTests.WriterThreadHolder(db)
                errors = await withTaskGroup(of: MapStoreError?.self) { group in
                    for writer in 0..<writers {
                        group.addTask {
                            do {
                                try await db.write { txn in for i in 0..<5 { try txn.put("g\(writer)-\(i)", "group \(writer)") } }
                                return nil
                            } catch {
                                return error as? MapStoreError ?? .invalidArgument(reason: "\(error)")
                            }
                        }
                    }
                    await GroupCommitTests.waitForQueued(db, writers)
                    holder.letGo()
                    var errors: [MapStoreError?] = []
                    for await error in group { errors.append(error) }
                    return errors
                }
                // Let the writer thread finish its drain, so nothing keeps this handle's environment open.
                db.environment.writerQueue.sync {}
                guard let failed = io.failed else {
                    #expect(errors.allSatisfy { $0 == nil }, "K=\(failAt): no fault injected, yet \(errors)")
                    break
                }
                points += 1
                let context = "K=\(failAt) \(failed.kind) \(Self.name(code))"
                if Self.durable(io.made, before: failAt, pageSize: pageSize) {
                    #expect(errors.allSatisfy { $0 == nil }, "\(context): the group is durable, yet \(errors)")
                    #expect(try Self.contents(db) == after, "\(context)")
                    #expect(try Self.contents(try Database(path: path, options: .testing(mode))) == after, "\(context): reopened")
                    continue
                }
                #expect(errors.allSatisfy { $0 != nil }, "\(context): a writer of a failed group was told it committed")
                #expect(errors.contains { $0?.code == Self.expectedError(code) }, "\(context): \(errors)")
                #expect(errors.allSatisfy { $0.map { [Self.expectedError(code), "poisoned"].contains($0.code) } ?? false }, "\(context): \(errors)")
                #expect(try Self.contents(db) == before, "\(context)")
                #expect(throws: MapStoreError.self) { try db.write { try $0.put("later", "write") } }
            }
            let reopened = try Database(path: path, options: .testing(mode))
            #expect(try Self.contents(reopened) == before, "K=\(failAt): reopened")
            #expect(try reopened.check() == [], "K=\(failAt): reopened")
        }
        print("I/O faults group commit \(mode.rawValue) \(Self.name(code)): \(points) calls failed in turn")
        // Each writer's pwritev (none in a write map), the one sync (an msync in a write map), the meta's and its confirmation's pwrites.
        #expect(points >= (mode == .readOnly ? writers + 3 : 3))
    }

    /// Creating a database writes its two meta pages, syncs them and syncs their directory: a
    /// failure there is an error from `Database.init`, and the next open (with the real calls)
    /// makes a good file.
    @Test(arguments: [EIO, ENOSPC])
    func creatingADatabaseFailsCleanly(code: Int32) throws {
        let dir = TemporaryDirectory()
        var points = 0
        for failAt in 0... {
            let path = dir.file("new\(failAt).mapstore")
            let io = FaultInjectingIO(failAt: failAt, errno: code)
            var options = Options.testing(.readOnly, durability: .full)
            options.storageIO = io
            do {
                _ = try Database(path: path, options: options)
                #expect(io.failed == nil, "K=\(failAt): the fault was not reported")
                break
            } catch {
                points += 1
                #expect(error.code == Self.expectedError(code), "K=\(failAt): \(error)")
            }
            let db = try Database(path: path, options: .testing(.readOnly, durability: .full))
            try db.write { try $0.put("a", "b") }
            #expect(try db.check() == [])
        }
        #expect(points == 3, "a pwrite, an fsync and the directory's fsync")
    }
}
