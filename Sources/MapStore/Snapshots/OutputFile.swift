import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Where a backup, a compacted copy or a dump is written, so that a failure never costs the
/// user the file they had.
///
/// A regular file (or a path that does not exist yet) is never written in place: the bytes go
/// to a new temporary file beside it, and only ``commit()`` makes them the file, after an
/// fsync, with a rename and an fsync of the directory. Until then, and whenever the writing
/// fails or the value is dropped uncommitted, the path is exactly as it was and the temporary
/// file is removed. A symbolic link is followed and its target replaced the same way. A
/// character or block device, a FIFO or a socket is written in place and never removed, and a
/// descriptor the caller opened (standard output) is written as it is.
///
/// Its writes, syncs and rename go through the engine's I/O seam (Mapping/StorageIO.swift):
/// a backup's through those of the database it copies, so the tests can fail any one of them.
///
/// ```swift
/// let output = try OutputFile(path: "exports/shop.dump", permissions: 0o600)
/// try output.write(Array("VERSION=3\n".utf8))
/// try output.commit()   // the only step after which exports/shop.dump changed
/// ```
public final class OutputFile {
    /// How the bytes reach their destination.
    public enum Destination: Sendable, Equatable {
        /// A regular file, new or replaced whole by ``OutputFile/commit()``; `path` is the
        /// file itself (a symbolic link's target).
        case replacing(path: String)
        /// A device, FIFO or socket, written in place.
        case inPlace(path: String)
        /// A descriptor the caller opened and still owns.
        case descriptor(Int32)
    }

    /// What the output is called in error messages: the path given, or "stdout".
    public let name: String
    /// Where the bytes go.
    public let destination: Destination
    /// Bytes written so far.
    public private(set) var bytesWritten = 0

    private let fd: Int32
    /// The file being written for a `.replacing` destination.
    let temporaryPath: String?
    private var done = false
    /// Makes the writes, syncs and the rename.
    private let io: any StorageIO

    /// Opens `path` for writing: a temporary file beside it for a regular or missing file,
    /// the file itself for a device or FIFO. A new file gets `permissions`, narrowed to the
    /// permissions of the file it replaces (never wider than either) and by the umask.
    public convenience init(path: String, permissions: UInt32 = 0o644) throws(MapStoreError) {
        try self.init(path: path, permissions: permissions, io: SystemIO())
    }

    /// Opens `path` for writing as ``init(path:permissions:)`` does, writing and syncing
    /// through `io` (a handle's ``Options/storageIO``).
    init(path: String, permissions: UInt32 = 0o644, io: any StorageIO) throws(MapStoreError) {
        name = path
        self.io = io
        destination = try OutputFile.resolve(path)
        switch destination {
        case let .replacing(target):
            var mode = mode_t(permissions & 0o777)
            var existing = stat()
            if stat(target, &existing) == 0 { mode &= existing.st_mode & 0o777 }
            let file = FilePath(target)
            let directory = file.removingLastComponent()
            let base = file.lastComponent?.string ?? "output"
            var attempt = 0
            while true {
                let candidate = (directory.isEmpty ? "" : directory.string + "/") + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                let opened = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
                if opened >= 0 {
                    fd = opened
                    temporaryPath = candidate
                    break
                }
                let code = errno
                attempt += 1
                guard code == EEXIST || code == EINTR, attempt < 100 else {
                    throw MapStoreError.io(errno: code, operation: "create a temporary file beside", path: target)
                }
            }
        case let .inPlace(target):
            var opened: Int32
            repeat { opened = open(target, O_WRONLY | O_CLOEXEC) } while opened < 0 && errno == EINTR
            guard opened >= 0 else { throw MapStoreError.io(errno: errno, operation: "open", path: target) }
            fd = opened
            temporaryPath = nil
        case .descriptor:
            preconditionFailure("a path never resolves to a descriptor")
        }
    }

    /// Writes to `descriptor`, which the caller opened and closes (standard output, say).
    public init(descriptor: Int32, name: String) {
        self.name = name
        destination = .descriptor(descriptor)
        fd = descriptor
        temporaryPath = nil
        io = SystemIO()
    }

    /// Standard output.
    public static func standardOutput() -> OutputFile { OutputFile(descriptor: STDOUT_FILENO, name: "stdout") }

    deinit {
        guard case .descriptor = destination else {
            close(fd)
            if !done, let temporaryPath { unlink(temporaryPath) }
            return
        }
    }

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(MapStoreError) {
        precondition(!done, "OutputFile \(name) written after commit")
        guard !bytes.isEmpty else { return }
        try Syscalls.writeAll(io, fd, name, bytes, file: .output)
        bytesWritten += bytes.count
    }

    /// Appends `bytes`.
    public func write(_ bytes: [UInt8]) throws(MapStoreError) {
        do {
            try bytes.withUnsafeBytes { buffer in try write(buffer) }
        } catch let error as MapStoreError {
            throw error
        } catch {
            preconditionFailure("OutputFile.write throws only MapStoreError")
        }
    }

    /// Makes what was written the output: syncs it and, for a regular file, renames it over
    /// the path and syncs the directory, so it survives a power cut under its name. Nothing
    /// may be written after.
    public func commit() throws(MapStoreError) {
        precondition(!done, "OutputFile \(name) committed twice")
        switch destination {
        case let .replacing(target):
            // Errors name the path the user gave, not the temporary they never see.
            try Syscalls.fsync(io, FileDescriptor(rawValue: fd), name, file: .output)
            try Syscalls.rename(io, temporaryPath!, to: target, file: .output)
            // Renamed: the temporary is the file now, complete and synced, whatever follows.
            done = true
            try Syscalls.fsyncDirectory(io, of: target, file: .output)
        case .inPlace, .descriptor:
            // A regular file behind a descriptor (a shell's `> file`) is synced; pipes, ttys
            // and devices that cannot be synced say EINVAL, which is no failure here.
            var info = stat()
            if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG || (info.st_mode & S_IFMT) == S_IFBLK {
                try Syscalls.fsync(io, FileDescriptor(rawValue: fd), name, file: .output)
            }
            done = true
        }
    }

    /// Where writing `path` goes: follows symbolic links to a file, a missing file (a dangling
    /// link's target), or something that is not a regular file.
    private static func resolve(_ path: String) throws(MapStoreError) -> Destination {
        var current = path
        for _ in 0..<40 {
            var info = stat()
            guard lstat(current, &info) == 0 else {
                if errno == ENOENT { return .replacing(path: current) }
                throw MapStoreError.io(errno: errno, operation: "lstat", path: current)
            }
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                return .replacing(path: current)
            case S_IFDIR:
                throw MapStoreError.invalidArgument(reason: "\(path) is a directory")
            case S_IFLNK:
                // A link to something that is not a regular file (a device, or /proc/self/fd/1
                // on a pipe, whose link text names no file) is written through the link.
                var target = stat()
                if stat(current, &target) == 0, (target.st_mode & S_IFMT) != S_IFREG {
                    if (target.st_mode & S_IFMT) == S_IFDIR { throw MapStoreError.invalidArgument(reason: "\(path) is a directory") }
                    return .inPlace(path: current)
                }
                current = try linkTarget(current)
            default:
                return .inPlace(path: current)
            }
        }
        throw MapStoreError.io(errno: ELOOP, operation: "resolve symbolic links of", path: path)
    }

    /// The path a symbolic link names, relative to the link's directory when it is relative.
    private static func linkTarget(_ link: String) throws(MapStoreError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(link, &buffer, buffer.count - 1)
        guard count >= 0 else { throw MapStoreError.io(errno: errno, operation: "readlink", path: link) }
        let text = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("/") { return text }
        let directory = FilePath(link).removingLastComponent()
        return directory.isEmpty ? text : directory.string + "/" + text
    }
}
