import CShims

#if canImport(Glibc)
import Glibc
#endif

/// Which file a ``StorageIO`` call is about. The kernel does not need it; a recorder does, to
/// keep the data file's log apart from the other files' and to fail the calls of one file only.
enum StorageFile: Sendable, Hashable {
    /// The database's data file (and, when it is created, its directory).
    case data
    /// The lock file: its header and size when it is laid out. Its slots and sync record are
    /// stored through its shared map, which no system call writes.
    case lock
    /// A file written for the user (a backup, a compacted copy, a dump, a restored database):
    /// the temporary beside the target, the rename over it and the sync of their directory.
    case output
}

/// The engine's writes and syncs of its files: every call that changes the data file, the
/// lock file or a file written for the user, or makes it durable, goes through one value of
/// this type (``Options/storageIO``), so the tests can record every such call or fail any one.
///
/// Each method is one system call with the kernel's contract and nothing more: it returns
/// what the call returns (bytes written, or 0) or `-errno` when the call fails. Retrying
/// EINTR, looping over short writes and turning errno into ``MapStoreError`` stay in
/// ``Syscalls``, above this layer, so an implementation that fails or shortens calls on
/// purpose exercises that code as a real kernel would. `file` says which file the call is
/// about (``StorageFile``); the system ignores it.
///
/// Production uses ``SystemIO``. The tests supply a recording one (crash images: every
/// write and sync of the data file in order) and a fault-injecting one (EIO, ENOSPC at call
/// number K of the chosen files). Reads go straight through the map or `pread`, and so do
/// what only opens, locks or removes a file (open, fcntl, unlink): none of it writes bytes.
protocol StorageIO: Sendable {
    /// `pwritev(2)`: `count` buffers that land consecutively in the file from `offset`.
    func pwritev(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, _ count: Int32, at offset: Int, file: StorageFile) -> Int
    /// `pwrite(2)` of `bytes` at `offset`.
    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, file: StorageFile) -> Int
    /// `write(2)` of `bytes` at the descriptor's position: a file written front to back, a
    /// pipe or a device.
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, file: StorageFile) -> Int
    /// `fdatasync(2)`.
    func fdatasync(_ fd: Int32, file: StorageFile) -> Int
    /// `fsync(2)` of a file.
    func fsync(_ fd: Int32, file: StorageFile) -> Int
    /// `fsync(2)` of a directory, open as `fd`: makes the names created or renamed in it
    /// survive a power cut. A method of its own because it makes no file's bytes durable: a
    /// recorder must not take it for a sync of `file`'s contents.
    func fsyncDirectory(_ fd: Int32, file: StorageFile) -> Int
    /// `rename(2)` of `source` over `target`, atomically replacing what `target` named.
    func rename(_ source: String, to target: String, file: StorageFile) -> Int
    /// `msync(2)` with `MS_SYNC` of `length` bytes at `address` in a shared writable map,
    /// which shows the file's bytes from `fileOffset` (the kernel does not need it; a
    /// recorder does, to log the synced bytes as writes at their place in the file).
    func msync(_ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int, file: StorageFile) -> Int
    /// `posix_fallocate(3)` of `length` bytes from `offset` (which returns its error rather
    /// than setting errno: here it is `-error` like the others).
    func fallocate(_ fd: Int32, from offset: Int, length: Int, file: StorageFile) -> Int
    /// Writes zeros over `length` bytes from `offset` (the pages a growth step added past the
    /// file's end, never bytes a commit wrote): 0, or
    /// `-error` of the write that failed. A method of its own, not a `pwritev`, because it
    /// writes nothing but the zeros a grown file reads as anyway: a recorder logs it as growth.
    func zeroFill(_ fd: Int32, from offset: Int, length: Int, file: StorageFile) -> Int
    /// `ftruncate(2)` to `size` bytes.
    func ftruncate(_ fd: Int32, to size: Int, file: StorageFile) -> Int
}

/// The production ``StorageIO``: the system calls themselves. It holds nothing, so storing
/// it costs no memory and calling it one indirect call per system call.
struct SystemIO: StorageIO {
    @inline(__always)
    private static func result(_ value: Int) -> Int { value == -1 ? -Int(errno) : value }

    func pwritev(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, _ count: Int32, at offset: Int, file: StorageFile) -> Int {
        Self.result(Glibc.pwritev(fd, iovecs, count, off_t(offset)))
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, file: StorageFile) -> Int {
        Self.result(Glibc.pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)))
    }

    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, file: StorageFile) -> Int {
        Self.result(Glibc.write(fd, bytes.baseAddress, bytes.count))
    }

    func fdatasync(_ fd: Int32, file: StorageFile) -> Int { Self.result(Int(Glibc.fdatasync(fd))) }

    func fsync(_ fd: Int32, file: StorageFile) -> Int { Self.result(Int(Glibc.fsync(fd))) }

    func fsyncDirectory(_ fd: Int32, file: StorageFile) -> Int { Self.result(Int(Glibc.fsync(fd))) }

    func rename(_ source: String, to target: String, file: StorageFile) -> Int {
        Self.result(Int(Glibc.rename(source, target)))
    }

    func msync(_ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int, file: StorageFile) -> Int {
        Self.result(Int(Glibc.msync(address, length, MS_SYNC)))
    }

    func fallocate(_ fd: Int32, from offset: Int, length: Int, file: StorageFile) -> Int {
        -Int(posix_fallocate(fd, off_t(offset), off_t(length)))
    }

    func ftruncate(_ fd: Int32, to size: Int, file: StorageFile) -> Int { Self.result(Int(Glibc.ftruncate(fd, off_t(size)))) }

    func zeroFill(_ fd: Int32, from offset: Int, length: Int, file: StorageFile) -> Int {
        // Through a descriptor of the same file opened with O_DIRECT where the file system
        // allows it: the zeros go to the disk without filling the page cache (64 MiB of
        // pages nobody reads), and the extents are converted once, here. Otherwise buffered.
        let direct = open("/proc/self/fd/\(fd)", O_WRONLY | cshim_o_direct() | O_CLOEXEC)
        defer { if direct >= 0 { close(direct) } }
        if direct >= 0 {
            let result = zeroFill(through: direct, from: offset, length: length)
            if result != -Int(EINVAL) { return result }
        }
        return zeroFill(through: fd, from: offset, length: length)
    }

    private func zeroFill(through fd: Int32, from offset: Int, length: Int) -> Int {
        // One MiB of zeros, shared by every call and never written to, repeated by pwritev.
        let chunk = ZeroChunk.bytes
        var done = 0
        while done < length {
            let count = min(length - done, ZeroChunk.size * ZeroChunk.repeats)
            let written = withUnsafeTemporaryAllocation(of: iovec.self, capacity: ZeroChunk.repeats) { iovecs -> Int in
                var left = count
                var used = 0
                while left > 0 {
                    iovecs[used] = iovec(iov_base: chunk, iov_len: min(left, ZeroChunk.size))
                    left -= iovecs[used].iov_len
                    used += 1
                }
                return Self.result(Glibc.pwritev(fd, iovecs.baseAddress!, Int32(used), off_t(offset + done)))
            }
            if written == -Int(EINTR) { continue }
            if written < 0 { return written }
            done += written
        }
        return 0
    }
}

/// The zeros ``SystemIO/zeroFill(_:from:length:file:)`` writes: one MiB, allocated once.
private enum ZeroChunk {
    static let size = 1 << 20
    static let repeats = 16
    nonisolated(unsafe) static let bytes: UnsafeMutableRawPointer = {
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        bytes.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        return bytes
    }()
}
