import Foundation
import Synchronization
@testable import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// A ``StorageIO`` that logs every write of the data file (its offset and a copy of the bytes
/// that reached the file) and every completed sync, in order, and performs each call.
///
/// In a write map the pages are stored into the map, not written: the bytes of each msync'd
/// range are logged, copied from the map when msync is called, as a write at their place in
/// the file, followed by the sync. Growth is logged as the size the file grows to.
///
/// ``operations`` is the data file's log alone; ``calls`` names every call that succeeded, of
/// every file (the lock file's, a backup's), in order.
final class RecordingIO: StorageIO {
    enum Operation: Sendable, Equatable {
        /// `bytes` reached the file at `offset` (not yet durable).
        case write(offset: Int, bytes: [UInt8])
        /// Everything before this is durable.
        case sync
        /// The file grew to at least this many bytes (fallocate, or its ftruncate fallback).
        case grow(toSize: Int)
    }

    /// A call that succeeded: which file, and its kind (the method's name).
    struct Call: Sendable, Equatable {
        let file: StorageFile
        let kind: String
    }

    private let log = Mutex<[Operation]>([])
    private let callLog = Mutex<[Call]>([])
    private let system = SystemIO()
    /// Syncs (fdatasync, msync) to let through before one fails (``failSync(after:)``), or nil.
    private let syncsBeforeFailure = Mutex<Int?>(nil)

    /// Whether the writer is "killed": set by the failure of ``failSync(after:)``, after
    /// which every write of the data file fails too, as nothing more of a killed process's
    /// reaches the file (not even the erasure of its meta), until ``revive()``.
    private let killed = Mutex(false)

    /// Makes the data file's sync (fdatasync or msync) after the next `count` ones fail with
    /// EIO without syncing, once, and every data-file write after it: a writer killed in that
    /// call leaves what it wrote before it in the page cache only.
    func failSync(after count: Int) { syncsBeforeFailure.withLock { $0 = count } }

    /// Whether this sync is the one ``failSync(after:)`` fails (which kills the writer).
    private func syncFails(_ file: StorageFile) -> Bool {
        guard file == .data else { return false }
        let fails = syncsBeforeFailure.withLock { remaining in
            guard let left = remaining else { return false }
            remaining = left == 0 ? nil : left - 1
            return left == 0
        }
        if fails { killed.withLock { $0 = true } }
        return fails
    }

    /// Lets data-file writes through again (the next process).
    func revive() { killed.withLock { $0 = false } }

    private var isKilled: Bool { killed.withLock { $0 } }

    /// Everything logged of the data file so far, in order.
    var operations: [Operation] { log.withLock { $0 } }

    /// Every call of every file that succeeded so far, in order.
    var calls: [Call] { callLog.withLock { $0 } }

    private func append(_ operation: Operation) { log.withLock { $0.append(operation) } }

    /// Notes a call that returned `result` and tells whether it succeeded on the data file,
    /// whose log it then belongs to.
    private func noted(_ kind: String, _ file: StorageFile, _ result: Int) -> Bool {
        guard result >= 0 else { return false }
        callLog.withLock { $0.append(Call(file: file, kind: kind)) }
        return file == .data
    }

    func pwritev(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, _ count: Int32, at offset: Int, file: StorageFile) -> Int {
        if file == .data, isKilled { return -Int(EIO) }
        let written = system.pwritev(fd, iovecs, count, at: offset, file: file)
        guard noted("pwritev", file, written), written > 0 else { return written }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(written)
        for index in 0..<Int(count) where bytes.count < written {
            let take = min(iovecs[index].iov_len, written - bytes.count)
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: iovecs[index].iov_base, count: take))
        }
        append(.write(offset: offset, bytes: bytes))
        return written
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, file: StorageFile) -> Int {
        if file == .data, isKilled { return -Int(EIO) }
        let written = system.pwrite(fd, bytes, at: offset, file: file)
        if noted("pwrite", file, written), written > 0 { append(.write(offset: offset, bytes: Array(bytes.prefix(written)))) }
        return written
    }

    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, file: StorageFile) -> Int {
        let written = system.write(fd, bytes, file: file)
        let ofData = noted("write", file, written)
        precondition(!ofData, "the data file is written at offsets only")
        return written
    }

    func fdatasync(_ fd: Int32, file: StorageFile) -> Int {
        if syncFails(file) { return -Int(EIO) }
        let result = system.fdatasync(fd, file: file)
        if noted("fdatasync", file, result) { append(.sync) }
        return result
    }

    func fsync(_ fd: Int32, file: StorageFile) -> Int {
        let result = system.fsync(fd, file: file)
        if noted("fsync", file, result) { append(.sync) }
        return result
    }

    /// Not in the data file's log: it makes a name durable, not the file's bytes.
    func fsyncDirectory(_ fd: Int32, file: StorageFile) -> Int {
        let result = system.fsyncDirectory(fd, file: file)
        _ = noted("fsyncDirectory", file, result)
        return result
    }

    func rename(_ source: String, to target: String, file: StorageFile) -> Int {
        let result = system.rename(source, to: target, file: file)
        let ofData = noted("rename", file, result)
        precondition(!ofData, "the data file is never renamed")
        return result
    }

    func msync(_ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int, file: StorageFile) -> Int {
        if file == .data {
            // In the map's pages, so in the file, whether or not the sync succeeds.
            append(.write(offset: fileOffset, bytes: Array(UnsafeRawBufferPointer(start: address, count: length))))
        }
        if syncFails(file) { return -Int(EIO) }
        let result = system.msync(address, length, fileOffset: fileOffset, file: file)
        if noted("msync", file, result) { append(.sync) }
        return result
    }

    func fallocate(_ fd: Int32, from offset: Int, length: Int, file: StorageFile) -> Int {
        let result = system.fallocate(fd, from: offset, length: length, file: file)
        if noted("fallocate", file, result) { append(.grow(toSize: offset + length)) }
        return result
    }

    func ftruncate(_ fd: Int32, to size: Int, file: StorageFile) -> Int {
        let result = system.ftruncate(fd, to: size, file: file)
        if noted("ftruncate", file, result) { append(.grow(toSize: size)) }
        return result
    }

    /// Logged as growth: zeros are what a grown file reads as anyway.
    func zeroFill(_ fd: Int32, from offset: Int, length: Int, file: StorageFile) -> Int {
        if file == .data, isKilled { return -Int(EIO) }
        let result = system.zeroFill(fd, from: offset, length: length, file: file)
        if noted("zeroFill", file, result) { append(.grow(toSize: offset + length)) }
        return result
    }
}

/// A ``StorageIO`` that performs every call except call number `failAt` (counting from 0,
/// every method counts) of the files in `files` (the data file unless told), which fails with
/// `errno` and does nothing. Calls of other files go through uncounted. With EINTR the
/// caller's retry is the next call, which succeeds.
final class FaultInjectingIO: StorageIO {
    /// One call: its kind (`pwritev`, `pwrite`, `write`, `fdatasync`, `fsync`,
    /// `fsyncDirectory`, `rename`, `msync`, `fallocate`, `ftruncate`, `zeroFill`), the file offset it was
    /// about (the size for `ftruncate`; nil for the syncs, `write` and `rename`) and its file.
    struct Call: Sendable, Equatable {
        let kind: String
        let offset: Int?
        var file: StorageFile = .data
    }

    let failAt: Int
    let errno: Int32
    let files: Set<StorageFile>
    private let calls = Mutex<[Call]>([])
    private let system = SystemIO()

    init(failAt: Int, errno: Int32, files: Set<StorageFile> = [.data]) {
        self.failAt = failAt
        self.errno = errno
        self.files = files
    }

    /// Every counted call made so far, the failed one included.
    var made: [Call] { calls.withLock { $0 } }

    /// The failed call, once it has been made.
    var failed: Call? { calls.withLock { $0.count > failAt ? $0[failAt] : nil } }

    /// Counts a call of a file in `files`; true when this is the one to fail.
    private func fails(_ kind: String, _ offset: Int?, _ file: StorageFile) -> Bool {
        guard files.contains(file) else { return false }
        return calls.withLock { calls in
            calls.append(Call(kind: kind, offset: offset, file: file))
            return calls.count - 1 == failAt
        }
    }

    func pwritev(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, _ count: Int32, at offset: Int, file: StorageFile) -> Int {
        fails("pwritev", offset, file) ? -Int(errno) : system.pwritev(fd, iovecs, count, at: offset, file: file)
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, file: StorageFile) -> Int {
        fails("pwrite", offset, file) ? -Int(errno) : system.pwrite(fd, bytes, at: offset, file: file)
    }

    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, file: StorageFile) -> Int {
        fails("write", nil, file) ? -Int(errno) : system.write(fd, bytes, file: file)
    }

    func fdatasync(_ fd: Int32, file: StorageFile) -> Int {
        fails("fdatasync", nil, file) ? -Int(errno) : system.fdatasync(fd, file: file)
    }

    func fsync(_ fd: Int32, file: StorageFile) -> Int { fails("fsync", nil, file) ? -Int(errno) : system.fsync(fd, file: file) }

    func fsyncDirectory(_ fd: Int32, file: StorageFile) -> Int {
        fails("fsyncDirectory", nil, file) ? -Int(errno) : system.fsyncDirectory(fd, file: file)
    }

    func rename(_ source: String, to target: String, file: StorageFile) -> Int {
        fails("rename", nil, file) ? -Int(errno) : system.rename(source, to: target, file: file)
    }

    func msync(_ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int, file: StorageFile) -> Int {
        fails("msync", fileOffset, file) ? -Int(errno) : system.msync(address, length, fileOffset: fileOffset, file: file)
    }

    func fallocate(_ fd: Int32, from offset: Int, length: Int, file: StorageFile) -> Int {
        fails("fallocate", offset, file) ? -Int(errno) : system.fallocate(fd, from: offset, length: length, file: file)
    }

    func ftruncate(_ fd: Int32, to size: Int, file: StorageFile) -> Int {
        fails("ftruncate", size, file) ? -Int(errno) : system.ftruncate(fd, to: size, file: file)
    }

    func zeroFill(_ fd: Int32, from offset: Int, length: Int, file: StorageFile) -> Int {
        fails("zeroFill", offset, file) ? -Int(errno) : system.zeroFill(fd, from: offset, length: length, file: file)
    }
}
