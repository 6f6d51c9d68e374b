import MapStore
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A copy of a database in a new directory beside it, for a shadow workload that writes: the
/// user's file is never changed (issue 15).
///
/// The directory, `DB.vm-compare-XXXXXX/` (mode 0700) beside the file DB names (a symlink is
/// followed to its target), lies on the same file system as DB, so the kernel's page cache
/// and write-back treat the copy as they treat DB. It holds the copy, under DB's file name,
/// and the lock file the run creates for it; nothing of DB's lock file is copied.
enum ScratchCopy {
    /// Runs `body` with the path of a fresh copy of the database at `path`, and removes the
    /// copy's directory afterwards, whether `body` returns or throws.
    static func with<R>(of path: String, _ body: (String) throws -> R) throws -> R {
        let source = try resolved(path)
        let directory = try makeDirectory(beside: source)
        defer { removeDirectory(directory) }
        let copy = directory + "/" + (source.split(separator: "/").last.map(String.init) ?? "copy.mapstore")
        try copyDatabase(source, to: copy)
        return try body(copy)
    }

    /// Copies the data file `source` to the new file `copy`, consistently while writers go on.
    ///
    /// A read transaction pins a commit R. The meta pages are copied first, so the newest
    /// commit N they name is R or later, and no writer reuses a page N reaches while R is read
    /// (a page is reused only once no reader is older than the commit that freed it, and that
    /// commit is later than N). The rest of the file is copied after, to its end at that time:
    /// a commit grows the file before it writes its meta. The copy is synced, so its pages
    /// start clean in the page cache, as a settled database's do.
    private static func copyDatabase(_ source: String, to copy: String) throws {
        var options = Options()
        options.readOnly = true
        options.create = false
        let db = try Database(path: source, options: options)
        try db.read { _ in
            let input = try Syscalls.open(source, create: false, writable: false)
            defer { try? input.close() }
            let output = try Syscalls.mapError("open", copy) {
                try FileDescriptor.open(FilePath(copy), .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                                        permissions: [.ownerReadWrite])
            }
            defer { try? output.close() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: db.pageSize)
            defer { buffer.deallocate() }
            var offset = 0
            var piece = 2 * db.pageSize  // the meta pages alone first (see above)
            while true {
                let count = try Syscalls.pread(input, source, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<piece]), at: offset)
                if count == 0 { break }
                try Syscalls.pwriteAll(output, copy, UnsafeRawBufferPointer(rebasing: buffer[..<count]), at: offset)
                offset += count
                piece = buffer.count
            }
            try Syscalls.fsync(output, copy)
        }
    }

    /// The absolute path of `path` with every symlink resolved.
    private static func resolved(_ path: String) throws -> String {
        guard let real = realpath(path, nil) else { throw MapStoreError.io(errno: errno, operation: "realpath", path: path) }
        defer { free(real) }
        return String(cString: real)
    }

    /// A new, private directory `file.vm-compare-XXXXXX` beside `file`.
    private static func makeDirectory(beside file: String) throws -> String {
        var template = Array((file + ".vm-compare-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw MapStoreError.io(errno: errno, operation: "mkdtemp (a directory for a scratch copy)", path: file + ".vm-compare-XXXXXX")
        }
        return String(cString: made)
    }

    /// Removes `directory` and the files in it (the copy and its lock file).
    private static func removeDirectory(_ directory: String) {
        var names: [String] = []
        if let stream = opendir(directory) {
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(stream)
        }
        for name in names { unlink(directory + "/" + name) }
        rmdir(directory)
    }
}
