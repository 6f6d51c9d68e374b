import CShims
import Foundation
import MapStoreTestSupport
import SystemPackage
import Testing
@testable import MapStore

/// The lock file's writer mutex (version 2) and what happens to a lock file of version 1.
@Suite struct LockFileTests {
    /// A version-1 lock file as an older build laid it out: 64-byte header, slots after it.
    static func writeVersion1LockFile(_ path: String) throws {
        var bytes = [UInt8](repeating: 0, count: 8192)
        withUnsafeBytes(of: ReaderTable.magic.littleEndian) { for (i, byte) in $0.enumerated() { bytes[i] = byte } }
        withUnsafeBytes(of: UInt32(1).littleEndian) { for (i, byte) in $0.enumerated() { bytes[8 + i] = byte } }
        withUnsafeBytes(of: UInt32(126).littleEndian) { for (i, byte) in $0.enumerated() { bytes[12 + i] = byte } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func anUnusedVersion1LockFileIsLaidOutAgain() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do { try Database(path: path, options: .testing()).write { try $0.put("k", "v") } }
        try Self.writeVersion1LockFile(path + "-lock")
        let db = try Database(path: path, options: .testing())
        try db.write { try $0.put("k2", "v2") }
        #expect(try db.read { try $0.getString("k") } == "v")
        let header = try #require(FileManager.default.contents(atPath: path + "-lock"))
        #expect(header[8] == 2, "the lock file is version 2 now")
    }

    /// A machine that crashes while a writer holds the mutex leaves it marked as held by a
    /// thread that is gone and that no robust-list walk will release: the first opener
    /// after the crash must lay the lock file out anew, or every writer would wait forever.
    @Test func aWriterMutexLeftHeldByACrashedMachineIsReset() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do { try Database(path: path, options: .testing()).write { try $0.put("k", "v") } }
        let lockPath = path + "-lock"
        var bytes = try #require(FileManager.default.contents(atPath: lockPath))
        // glibc keeps the owner's thread id in the mutex's first word: one above any pid_max.
        withUnsafeBytes(of: Int32(0x3FFF_FFF0).littleEndian) { for (i, byte) in $0.enumerated() { bytes[ReaderTable.writerMutexOffset + i] = byte } }
        try bytes.write(to: URL(fileURLWithPath: lockPath))
        let db = try Database(path: path, options: .testing())
        let reopened = try #require(FileManager.default.contents(atPath: lockPath))
        let owner = reopened[ReaderTable.writerMutexOffset..<ReaderTable.writerMutexOffset + 4]
        try #require(owner.allSatisfy { $0 == 0 }, "the stale owner is cleared before any writer waits on it")
        try db.write { try $0.put("k2", "v2") }
        #expect(try db.read { try $0.getString("k") } == "v")
        #expect(try db.check() == [])
    }

    @Test func aVersion1LockFileInUseIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        do { try Database(path: path, options: .testing()).write { try $0.put("k", "v") } }
        try Self.writeVersion1LockFile(path + "-lock")
        // Another open description holds a liveness lock, as a process of the older build would.
        let other = try FileDescriptor.open(path + "-lock", .readWrite)
        defer { try? other.close() }
        #expect(cshim_ofd_setlk(other.rawValue, cshim_f_rdlck(), ReaderTable.livenessBase + 1, 1, 0) == 0)
        #expect(throws: MapStoreError.self) { _ = try Database(path: path, options: .testing()) }
    }

    @Test func writersOfTwoHandlesAndManyThreadsTakeTurns() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let first = try Database(path: path, options: .testing())
        let second = try Database(path: path, options: .testing())
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            let db = worker % 2 == 0 ? first : second
            for i in 0..<50 {
                try? db.write { txn in
                    let count = (try txn.getString("count")).flatMap { Int($0) } ?? 0
                    try txn.put("count", String(count + 1))
                    try txn.put("w\(worker)-\(i)", "x")
                }
            }
        }
        #expect(try first.read { try $0.getString("count") } == "400")
        #expect(try first.check() == [])
    }

    /// Writers scan the slots up to the highest one ever claimed: a reader alone in a slot
    /// above a freed one still holds its pages.
    @Test func aReaderInAHigherSlotPinsItsPages() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { txn in for i in 0..<300 { try txn.put("key\(i)", "v0") } }
        let opened = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let seen = Lock<[String?]>([])
        try db.read { _ in
            // This reader takes slot 0; the thread's reader takes slot 1.
            Thread {
                _ = try? db.read { reader in
                    opened.signal()
                    release.wait()
                    let values = (0..<300).map { try? reader.getString("key\($0)") }
                    seen.withLock { $0 = values }
                }
                done.signal()
            }.start()
            opened.wait()
        }
        // Slot 0 is free again; only slot 1 reads, at the first commit.
        #expect(db.readers().map(\.index) == [1])
        for round in 1...40 { try db.write { txn in for i in 0..<300 { try txn.put("key\(i)", "v\(round)") } } }
        release.signal()
        done.wait()
        #expect(seen.withLock { $0 } == Array(repeating: "v0", count: 300))
        #expect(try db.check() == [])
    }

    @Test func aNestedWriteOnOneThreadThrows() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try db.write { _ in
            #expect(throws: MapStoreError.self) { try db.write { try $0.put("inner", "x") } }
        }
    }
}
