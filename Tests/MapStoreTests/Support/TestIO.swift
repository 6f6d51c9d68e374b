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
final class RecordingIO: StorageIO {
    enum Operation: Sendable, Equatable {
        /// `bytes` reached the file at `offset` (not yet durable).
        case write(offset: Int, bytes: [UInt8])
        /// Everything before this is durable.
        case sync
        /// The file grew to at least this many bytes (fallocate, or its ftruncate fallback).
        case grow(toSize: Int)
    }

    private let log = Mutex<[Operation]>([])
    private let system = SystemIO()
    /// fdatasync calls to let through before one fails (``failFdatasync(after:)``), or nil.
    private let syncsBeforeFailure = Mutex<Int?>(nil)

    /// Makes the fdatasync after the next `count` ones fail with EIO without syncing, once:
    /// a writer killed in that call leaves what it wrote before it in the page cache only.
    func failFdatasync(after count: Int) { syncsBeforeFailure.withLock { $0 = count } }

    /// Everything logged so far, in order.
    var operations: [Operation] { log.withLock { $0 } }

    private func append(_ operation: Operation) { log.withLock { $0.append(operation) } }

    func pwritev(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, _ count: Int32, at offset: Int) -> Int {
        let written = system.pwritev(fd, iovecs, count, at: offset)
        guard written > 0 else { return written }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(written)
        for index in 0..<Int(count) where bytes.count < written {
            let take = min(iovecs[index].iov_len, written - bytes.count)
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: iovecs[index].iov_base, count: take))
        }
        append(.write(offset: offset, bytes: bytes))
        return written
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        let written = system.pwrite(fd, bytes, at: offset)
        if written > 0 { append(.write(offset: offset, bytes: Array(bytes.prefix(written)))) }
        return written
    }

    func fdatasync(_ fd: Int32) -> Int {
        let fails = syncsBeforeFailure.withLock { remaining in
            guard let left = remaining else { return false }
            remaining = left == 0 ? nil : left - 1
            return left == 0
        }
        if fails { return -Int(EIO) }
        let result = system.fdatasync(fd)
        if result == 0 { append(.sync) }
        return result
    }

    func fsync(_ fd: Int32) -> Int {
        let result = system.fsync(fd)
        if result == 0 { append(.sync) }
        return result
    }

    func msync(_ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int) -> Int {
        append(.write(offset: fileOffset, bytes: Array(UnsafeRawBufferPointer(start: address, count: length))))
        let result = system.msync(address, length, fileOffset: fileOffset)
        if result == 0 { append(.sync) }
        return result
    }

    func fallocate(_ fd: Int32, from offset: Int, length: Int) -> Int {
        let result = system.fallocate(fd, from: offset, length: length)
        if result == 0 { append(.grow(toSize: offset + length)) }
        return result
    }

    func ftruncate(_ fd: Int32, to size: Int) -> Int {
        let result = system.ftruncate(fd, to: size)
        if result == 0 { append(.grow(toSize: size)) }
        return result
    }
}

/// A ``StorageIO`` that performs every call except call number `failAt` (counting from 0,
/// every method counts), which fails with `errno` and does nothing. With EINTR the caller's
/// retry is the next call, which succeeds.
final class FaultInjectingIO: StorageIO {
    /// One call: its kind (`pwritev`, `pwrite`, `fdatasync`, `fsync`, `msync`, `fallocate`,
    /// `ftruncate`) and the file offset it was about (nil for the syncs).
    struct Call: Sendable, Equatable {
        let kind: String
        let offset: Int?
    }

    let failAt: Int
    let errno: Int32
    private let calls = Mutex<[Call]>([])
    private let system = SystemIO()

    init(failAt: Int, errno: Int32) {
        self.failAt = failAt
        self.errno = errno
    }

    /// Every call made so far, the failed one included.
    var made: [Call] { calls.withLock { $0 } }

    /// The failed call, once it has been made.
    var failed: Call? { calls.withLock { $0.count > failAt ? $0[failAt] : nil } }

    /// Counts a call; true when this is the one to fail.
    private func fails(_ kind: String, _ offset: Int?) -> Bool {
        calls.withLock { calls in
            calls.append(Call(kind: kind, offset: offset))
            return calls.count - 1 == failAt
        }
    }

    func pwritev(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, _ count: Int32, at offset: Int) -> Int {
        fails("pwritev", offset) ? -Int(errno) : system.pwritev(fd, iovecs, count, at: offset)
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        fails("pwrite", offset) ? -Int(errno) : system.pwrite(fd, bytes, at: offset)
    }

    func fdatasync(_ fd: Int32) -> Int { fails("fdatasync", nil) ? -Int(errno) : system.fdatasync(fd) }

    func fsync(_ fd: Int32) -> Int { fails("fsync", nil) ? -Int(errno) : system.fsync(fd) }

    func msync(_ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int) -> Int {
        fails("msync", fileOffset) ? -Int(errno) : system.msync(address, length, fileOffset: fileOffset)
    }

    func fallocate(_ fd: Int32, from offset: Int, length: Int) -> Int {
        fails("fallocate", offset) ? -Int(errno) : system.fallocate(fd, from: offset, length: length)
    }

    func ftruncate(_ fd: Int32, to size: Int) -> Int {
        fails("ftruncate", size) ? -Int(errno) : system.ftruncate(fd, to: size)
    }
}
