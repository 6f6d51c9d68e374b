import CShims
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One thin wrapper per system call: retry on EINTR, turn errno into ``MapStoreError/io(errno:operation:path:)``.
///
/// swift-system's `FileDescriptor` already does this for open, close, pread, pwrite and
/// ftruncate; the calls it lacks (mmap, msync, madvise, fdatasync, fallocate, fstat,
/// pwritev) are wrapped here and nothing else is. The engine's writes and syncs of its files
/// (the data file, the lock file, the files written for the user, their directories) take a
/// ``StorageIO`` that makes the call itself (``SystemIO`` in production), so tests can record
/// them or make them fail; these wrappers handle what the call returns.
@usableFromInline
package enum Syscalls {
    /// Converts swift-system's `Errno` into the store's error.
    package static func mapError<T>(_ operation: String, _ path: String, _ body: () throws -> T) throws(MapStoreError) -> T {
        do {
            return try body()
        } catch let error as Errno {
            throw MapStoreError.io(errno: error.rawValue, operation: operation, path: path)
        } catch let error as MapStoreError {
            throw error
        } catch {
            throw MapStoreError.io(errno: EIO, operation: operation, path: path)
        }
    }

    /// Runs `call` until it returns something other than -1 with EINTR.
    @inline(__always)
    static func retrying(_ operation: String, _ path: String, _ call: () -> Int) throws(MapStoreError) -> Int {
        while true {
            let result = call()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            throw MapStoreError.io(errno: code, operation: operation, path: path)
        }
    }

    package static func open(_ path: String, create: Bool, writable: Bool) throws(MapStoreError) -> FileDescriptor {
        try mapError("open", path) {
            try FileDescriptor.open(
                FilePath(path),
                writable ? .readWrite : .readOnly,
                options: create ? [.create, .closeOnExec] : [.closeOnExec],
                permissions: create ? [.ownerReadWrite, .groupRead, .otherRead] : nil
            )
        }
    }

    static func fileSize(_ fd: FileDescriptor, _ path: String) throws(MapStoreError) -> Int {
        var info = stat()
        _ = try retrying("fstat", path) { Int(fstat(fd.rawValue, &info)) }
        return Int(info.st_size)
    }

    static func deviceAndInode(_ fd: FileDescriptor, _ path: String) throws(MapStoreError) -> (UInt64, UInt64) {
        var info = stat()
        _ = try retrying("fstat", path) { Int(fstat(fd.rawValue, &info)) }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    package static func pread(_ fd: FileDescriptor, _ path: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(MapStoreError) -> Int {
        var done = 0
        while done < buffer.count {
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let n = try mapError("pread", path) { try fd.read(fromAbsoluteOffset: Int64(offset + done), into: slice) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    // MARK: The engine's writes and syncs, through its StorageIO

    // Each wrapper names the file its call is about (`file`, the data file unless said), so
    // a test's StorageIO can tell the data file's calls from the lock file's and an output's.

    /// Runs `call` (a ``StorageIO`` method: a result, or `-errno`) until it does not fail with
    /// EINTR. A full disk or quota is ``MapStoreError/diskFull(path:)`` whatever call hit it,
    /// any other failure ``MapStoreError/io(errno:operation:path:)``.
    @inline(__always)
    static func storage(_ operation: String, _ path: String, _ call: () -> Int) throws(MapStoreError) -> Int {
        while true {
            let result = call()
            if result >= 0 { return result }
            let code = Int32(-result)
            if code == EINTR { continue }
            if code == ENOSPC || code == EDQUOT { throw MapStoreError.diskFull(path: path) }
            throw MapStoreError.io(errno: code, operation: operation, path: path)
        }
    }

    /// Writes `iovecs` (which must describe consecutive file bytes) at `offset`, looping over short writes.
    static func pwritevAll(_ io: some StorageIO, _ fd: FileDescriptor, _ path: String, _ iovecs: UnsafeMutableBufferPointer<iovec>, at offset: Int,
                           file: StorageFile = .data) throws(MapStoreError) {
        var position = offset
        var first = 0
        while first < iovecs.count {
            let batch = min(iovecs.count - first, 1024)
            let written = try storage("pwritev", path) { io.pwritev(fd.rawValue, iovecs.baseAddress! + first, Int32(batch), at: position, file: file) }
            guard written > 0 else { throw MapStoreError.io(errno: EIO, operation: "pwritev (wrote nothing)", path: path) }
            position += written
            var remaining = written
            while remaining > 0, first < iovecs.count {
                let length = iovecs[first].iov_len
                if remaining >= length {
                    remaining -= length
                    first += 1
                } else {
                    iovecs[first].iov_base += remaining
                    iovecs[first].iov_len -= remaining
                    remaining = 0
                }
            }
        }
    }

    /// Writes all of `buffer` at `offset`, looping over short writes (without swift-system's
    /// generic path, a few hundred instructions a call: every commit writes its meta this way).
    static func pwriteAll(_ io: some StorageIO, _ fd: FileDescriptor, _ path: String, _ buffer: UnsafeRawBufferPointer, at offset: Int,
                          file: StorageFile = .data) throws(MapStoreError) {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[done...])
            let written = try storage("pwrite", path) { io.pwrite(fd.rawValue, rest, at: offset + done, file: file) }
            guard written > 0 else { throw MapStoreError.io(errno: EIO, operation: "pwrite (wrote nothing)", path: path) }
            done += written
        }
    }

    /// Writes all of `buffer` at the descriptor's position (a pipe, a device or a new file
    /// written front to back), looping over short writes.
    static func writeAll(_ io: some StorageIO, _ fd: Int32, _ path: String, _ buffer: UnsafeRawBufferPointer,
                         file: StorageFile) throws(MapStoreError) {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[done...])
            let written = try storage("write", path) { io.write(fd, rest, file: file) }
            guard written > 0 else { throw MapStoreError.io(errno: EIO, operation: "write (wrote nothing)", path: path) }
            done += written
        }
    }

    static func fdatasync(_ io: some StorageIO, _ fd: FileDescriptor, _ path: String, file: StorageFile = .data) throws(MapStoreError) {
        _ = try storage("fdatasync", path) { io.fdatasync(fd.rawValue, file: file) }
    }

    static func fsync(_ io: some StorageIO, _ fd: FileDescriptor, _ path: String, file: StorageFile = .data) throws(MapStoreError) {
        _ = try storage("fsync", path) { io.fsync(fd.rawValue, file: file) }
    }

    /// `fsync` of the directory holding `path`, which makes a file created or renamed there
    /// survive a power cut under its name.
    static func fsyncDirectory(_ io: some StorageIO, of path: String, file: StorageFile = .data) throws(MapStoreError) {
        let directory = FilePath(path).removingLastComponent()
        let name = directory.isEmpty ? "." : directory.string
        var fd: Int32
        repeat { fd = Glibc.open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw MapStoreError.io(errno: errno, operation: "open directory", path: name) }
        defer { Glibc.close(fd) }
        _ = try storage("fsync directory", name) { io.fsyncDirectory(fd, file: file) }
    }

    /// Renames `source` over `target` (one atomic step: `target` names the old file or the new one).
    static func rename(_ io: some StorageIO, _ source: String, to target: String, file: StorageFile) throws(MapStoreError) {
        _ = try storage("rename \(source) to", target) { io.rename(source, to: target, file: file) }
    }

    static func truncate(_ io: some StorageIO, _ fd: FileDescriptor, _ path: String, to size: Int, file: StorageFile = .data) throws(MapStoreError) {
        _ = try storage("ftruncate", path) { io.ftruncate(fd.rawValue, to: size, file: file) }
    }

    /// `msync(MS_SYNC)` of `length` bytes of a shared writable map at `address`, the file's bytes from `fileOffset`.
    static func msync(_ io: some StorageIO, _ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int, _ path: String,
                      file: StorageFile = .data) throws(MapStoreError) {
        _ = try storage("msync", path) { io.msync(address, length, fileOffset: fileOffset, file: file) }
    }

    /// Makes the file at least `offset + length` bytes with its blocks allocated, so a later
    /// write or store through the map cannot fail for lack of space (which would be SIGBUS
    /// in a map). A file system without fallocate gets an ftruncate instead.
    static func allocate(_ io: some StorageIO, _ fd: FileDescriptor, _ path: String, from offset: Int, length: Int,
                         file: StorageFile = .data) throws(MapStoreError) {
        while true {
            let result = io.fallocate(fd.rawValue, from: offset, length: length, file: file)
            if result >= 0 { return }
            let code = Int32(-result)
            if code == EINTR { continue }
            if code == EOPNOTSUPP || code == EINVAL {
                _ = try storage("ftruncate", path) { io.ftruncate(fd.rawValue, to: offset + length, file: file) }
                return
            }
            if code == ENOSPC || code == EDQUOT { throw MapStoreError.diskFull(path: path) }
            throw MapStoreError.io(errno: code, operation: "fallocate", path: path)
        }
    }

    /// Zeros over `length` bytes from `offset`; a full disk is ``MapStoreError/diskFull(path:)``.
    static func zeroFill(_ io: some StorageIO, _ fd: FileDescriptor, _ path: String, from offset: Int, length: Int,
                         file: StorageFile = .data) throws(MapStoreError) {
        while true {
            let result = io.zeroFill(fd.rawValue, from: offset, length: length, file: file)
            guard result < 0 else { return }
            let code = Int32(-result)
            if code == EINTR { continue }  // the zeros are written again: nothing else is in the range
            if code == ENOSPC || code == EDQUOT { throw MapStoreError.diskFull(path: path) }
            throw MapStoreError.io(errno: code, operation: "pwritev of a growth step's zeros", path: path)
        }
    }

    // MARK: Without a StorageIO

    // The shadow's scratch copy (MapStoreShadow), which has no handle's StorageIO to go
    // through, and the reads of a backup being restored.

    package static func pwriteAll(_ fd: FileDescriptor, _ path: String, _ buffer: UnsafeRawBufferPointer, at offset: Int) throws(MapStoreError) {
        _ = try mapError("pwrite", path) { try fd.writeAll(toAbsoluteOffset: Int64(offset), buffer) }
    }

    package static func fsync(_ fd: FileDescriptor, _ path: String) throws(MapStoreError) {
        _ = try retrying("fsync", path) { Int(Glibc.fsync(fd.rawValue)) }
    }

    /// Reads into `buffer` from the descriptor's position until it is full or the input ends;
    /// returns the bytes read (fewer than `buffer.count` only at the end).
    static func readFully(_ fd: Int32, _ path: String, into buffer: UnsafeMutableRawBufferPointer) throws(MapStoreError) -> Int {
        var done = 0
        while done < buffer.count {
            let count = Glibc.read(fd, buffer.baseAddress! + done, buffer.count - done)
            if count < 0 {
                if errno == EINTR { continue }
                throw MapStoreError.io(errno: errno, operation: "read", path: path)
            }
            if count == 0 { break }
            done += count
        }
        return done
    }

    static func mmap(_ address: UnsafeMutableRawPointer?, _ length: Int, _ protection: Int32, _ flags: Int32, _ fd: Int32, _ offset: Int, _ path: String) throws(MapStoreError) -> UnsafeMutableRawPointer {
        let result = Glibc.mmap(address, length, protection, flags, fd, off_t(offset))
        if result == MAP_FAILED || result == nil {
            throw MapStoreError.io(errno: errno, operation: "mmap of \(length) bytes", path: path)
        }
        return result!
    }

    static func munmap(_ address: UnsafeMutableRawPointer, _ length: Int) {
        _ = Glibc.munmap(address, length)
    }

    static func madvise(_ address: UnsafeMutableRawPointer, _ length: Int, _ advice: Int32) {
        // Advice is a hint: a kernel that refuses it changes speed, never correctness.
        _ = Glibc.madvise(address, length, advice)
    }

    /// The machine's page size.
    static var pageSize: Int { Int(cshim_page_size()) }

    /// How a ``futexWait(_:expecting:timeoutNanoseconds:)`` ended.
    enum FutexWait {
        /// Woken by a FUTEX_WAKE (or a signal): look at the word again.
        case woken
        /// The word no longer held the expected value when the wait began.
        case changed
        case timedOut
    }

    /// FUTEX_WAIT, shared between processes: sleeps while the 32-bit word at `address` holds
    /// `expected`, for at most `timeoutNanoseconds`. No EINTR retry: the caller looks at the
    /// word again after any wake, so an interrupted wait is one more wake.
    static func futexWait(_ address: UnsafeMutablePointer<UInt32>, expecting expected: UInt32, timeoutNanoseconds: Int64) -> FutexWait {
        if cshim_futex_wait(address, expected, timeoutNanoseconds) == 0 { return .woken }
        switch errno {
        case EAGAIN: return .changed
        case ETIMEDOUT: return .timedOut
        default: return .woken  // EINTR; EFAULT/EINVAL cannot happen on an aligned word of a live map
        }
    }

    /// FUTEX_WAKE of every thread, of any process, waiting on the word at `address`.
    static func futexWakeAll(_ address: UnsafeMutablePointer<UInt32>) {
        _ = cshim_futex_wake(address, Int32.max)
    }
}
