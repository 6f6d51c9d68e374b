import CShims

#if canImport(Glibc)
import Glibc
#endif

/// One real `mmap` of a data file, reserved at its maximum size so it never moves.
///
/// The mapping owns itself: it is noncopyable and unmaps in `deinit`. Pages past the end
/// of the file are reserved but never touched: the store grows the file (with
/// `posix_fallocate`, so a full disk is an error and never SIGBUS) before it uses them.
/// In `.privateCopyOnWrite` mode the part past the end of the file is anonymous private
/// memory instead, because the file itself is never written.
@usableFromInline
struct FileMapping: ~Copyable {
    /// Start of the reservation; page `n` of the file is at `base + n * pageSize`.
    @usableFromInline let base: UnsafeMutableRawPointer
    /// Bytes reserved.
    let length: Int
    let mode: MappingMode

    /// Maps `fd` (`path` is for error messages) reserving `length` bytes of address space.
    init(fd: Int32, path: String, length: Int, fileSize: Int, mode: MappingMode, pageSize: Int) throws(MapStoreError) {
        let base: UnsafeMutableRawPointer
        switch mode {
        case .readOnly:
            base = try Syscalls.mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0, path)
        case .writeMap:
            base = try Syscalls.mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0, path)
        case .privateCopyOnWrite:
            // Private writable memory is charged against commit unless MAP_NORESERVE: a
            // 1 TiB reservation fails with ENOMEM without it (measured on this kernel).
            let flags = MAP_PRIVATE | MAP_ANONYMOUS | cshim_map_noreserve()
            base = try Syscalls.mmap(nil, length, PROT_READ | PROT_WRITE, flags, -1, 0, "anonymous reservation for \(path)")
            let filePart = min(length, (fileSize + pageSize - 1) / pageSize * pageSize)
            if filePart > 0 {
                do {
                    _ = try Syscalls.mmap(base, filePart, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | cshim_map_fixed() | cshim_map_noreserve(), fd, 0, path)
                } catch {
                    Syscalls.munmap(base, length)
                    throw error
                }
            }
        }
        self.base = base
        self.length = length
        self.mode = mode
    }

    deinit {
        Syscalls.munmap(base, length)
    }

    /// Flushes `count` pages from `first` to the file and waits (`msync(MS_SYNC)`, through `io`).
    func sync(firstPage first: Int, count: Int, pageSize: Int, io: some StorageIO, path: String) throws(MapStoreError) {
        try Syscalls.msync(io, base + first * pageSize, count * pageSize, fileOffset: first * pageSize, path)
    }

    /// Advises the kernel how `bytes` bytes from the start will be read.
    func advise(_ pattern: AccessPattern, bytes: Int) {
        guard bytes > 0 else { return }
        let span = min(bytes, length)
        switch pattern {
        case .random: Syscalls.madvise(base, span, MADV_RANDOM)
        case .sequential:
            Syscalls.madvise(base, span, MADV_SEQUENTIAL)
            Syscalls.madvise(base, span, MADV_WILLNEED)
        case .normal: Syscalls.madvise(base, span, MADV_NORMAL)
        case .automatic: Syscalls.madvise(base, span, MADV_RANDOM)
        }
    }

    /// Gives [`from`, `from + bytes`) the read hint of `pattern` (no WILLNEED): after a growth,
    /// so the whole file keeps the hint it got at open. Without it the added part would have
    /// the kernel's default read-ahead (and large folios) while the rest is MADV_RANDOM.
    func adviseReadHint(_ pattern: AccessPattern, from: Int, bytes: Int) {
        guard bytes > 0, from >= 0, from < length else { return }
        let span = min(bytes, length - from)
        switch pattern {
        case .random, .automatic: Syscalls.madvise(base + from, span, MADV_RANDOM)
        case .sequential: Syscalls.madvise(base + from, span, MADV_SEQUENTIAL)
        case .normal: Syscalls.madvise(base + from, span, MADV_NORMAL)
        }
    }
}
