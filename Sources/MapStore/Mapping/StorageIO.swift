#if canImport(Glibc)
import Glibc
#endif

/// The engine's writes and syncs of its data file: every call that changes the file or makes
/// it durable goes through one value of this type (``Options/storageIO``).
///
/// Each method is one system call with the kernel's contract and nothing more: it returns
/// what the call returns (bytes written, or 0) or `-errno` when the call fails. Retrying
/// EINTR, looping over short writes and turning errno into ``MapStoreError`` stay in
/// ``Syscalls``, above this layer, so an implementation that fails or shortens calls on
/// purpose exercises that code as a real kernel would.
///
/// Production uses ``SystemIO``. The tests supply a recording one (crash images: every
/// write and sync in order) and a fault-injecting one (EIO, ENOSPC at call number K).
/// Reads go straight through the map and are not part of it.
protocol StorageIO: Sendable {
    /// `pwritev(2)`: `count` buffers that land consecutively in the file from `offset`.
    func pwritev(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, _ count: Int32, at offset: Int) -> Int
    /// `pwrite(2)` of `bytes` at `offset`.
    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int
    /// `fdatasync(2)`.
    func fdatasync(_ fd: Int32) -> Int
    /// `fsync(2)`.
    func fsync(_ fd: Int32) -> Int
    /// `msync(2)` with `MS_SYNC` of `length` bytes at `address` in a shared writable map,
    /// which shows the file's bytes from `fileOffset` (the kernel does not need it; a
    /// recorder does, to log the synced bytes as writes at their place in the file).
    func msync(_ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int) -> Int
    /// `posix_fallocate(3)` of `length` bytes from `offset` (which returns its error rather
    /// than setting errno: here it is `-error` like the others).
    func fallocate(_ fd: Int32, from offset: Int, length: Int) -> Int
    /// `ftruncate(2)` to `size` bytes.
    func ftruncate(_ fd: Int32, to size: Int) -> Int
}

/// The production ``StorageIO``: the system calls themselves. It holds nothing, so storing
/// it costs no memory and calling it one indirect call per system call.
struct SystemIO: StorageIO {
    @inline(__always)
    private static func result(_ value: Int) -> Int { value == -1 ? -Int(errno) : value }

    func pwritev(_ fd: Int32, _ iovecs: UnsafePointer<iovec>, _ count: Int32, at offset: Int) -> Int {
        Self.result(Glibc.pwritev(fd, iovecs, count, off_t(offset)))
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        Self.result(Glibc.pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)))
    }

    func fdatasync(_ fd: Int32) -> Int { Self.result(Int(Glibc.fdatasync(fd))) }

    func fsync(_ fd: Int32) -> Int { Self.result(Int(Glibc.fsync(fd))) }

    func msync(_ address: UnsafeMutableRawPointer, _ length: Int, fileOffset: Int) -> Int {
        Self.result(Int(Glibc.msync(address, length, MS_SYNC)))
    }

    func fallocate(_ fd: Int32, from offset: Int, length: Int) -> Int {
        -Int(posix_fallocate(fd, off_t(offset), off_t(length)))
    }

    func ftruncate(_ fd: Int32, to size: Int) -> Int { Self.result(Int(Glibc.ftruncate(fd, off_t(size)))) }
}
