internal import CZlib
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// How a backup file is encoded.
public enum BackupCompression: Sendable, Equatable {
    /// The database file's bytes as they are.
    case none
    /// A gzip stream (RFC 1952) through the system zlib; `gunzip` restores the plain file.
    case gzip
}

/// Where backup bytes go: a new file, written front to back, plain or through zlib's deflate.
/// A sink that is not finished removes its file, so a failed backup leaves nothing behind.
final class BackupSink {
    let path: String
    private let fd: FileDescriptor
    private let compression: BackupCompression
    private var stream: UnsafeMutablePointer<z_stream>?
    private let out: UnsafeMutableRawPointer
    private static let chunk = 1 << 18
    private var finished = false
    /// Bytes written to the file so far.
    private(set) var bytesWritten = 0

    init(path: String, compression: BackupCompression) throws(MapStoreError) {
        self.path = path
        self.compression = compression
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MapStoreError.io(errno: errno, operation: "open", path: path) }
        self.fd = FileDescriptor(rawValue: fd)
        out = UnsafeMutableRawPointer.allocate(byteCount: Self.chunk, alignment: 16)
        if compression == .gzip {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // windowBits 15 + 16: a gzip wrapper rather than zlib's own.
            let status = deflateInit2_(stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                                       ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard status == Z_OK else {
                stream.deallocate()
                abandonFile()
                throw MapStoreError.invalidArgument(reason: "zlib deflateInit2 failed (\(status)) for \(path)")
            }
            self.stream = stream
        }
    }

    deinit {
        if let stream {
            deflateEnd(stream)
            stream.deallocate()
        }
        out.deallocate()
        if !finished { abandonFile() }
    }

    private func abandonFile() {
        try? fd.close()
        unlink(path)
    }

    private func writeOut(_ bytes: UnsafeRawBufferPointer) throws(MapStoreError) {
        try Syscalls.pwriteAll(fd, path, bytes, at: bytesWritten)
        bytesWritten += bytes.count
    }

    /// Appends `bytes` to the backup.
    func write(_ bytes: UnsafeRawBufferPointer) throws(MapStoreError) {
        guard let stream else { return try writeOut(bytes) }
        try deflate(bytes, flush: Z_NO_FLUSH, stream: stream)
    }

    private func deflate(_ bytes: UnsafeRawBufferPointer, flush: Int32, stream: UnsafeMutablePointer<z_stream>) throws(MapStoreError) {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(bytes.count)
        while true {
            stream.pointee.next_out = out.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(Self.chunk)
            let status = CZlib.deflate(stream, flush)
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw MapStoreError.invalidArgument(reason: "zlib deflate failed (\(status)) writing \(path)")
            }
            let produced = Self.chunk - Int(stream.pointee.avail_out)
            if produced > 0 { try writeOut(UnsafeRawBufferPointer(start: out, count: produced)) }
            if flush == Z_FINISH {
                if status == Z_STREAM_END { return }
            } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 {
                return
            }
        }
    }

    /// Ends the stream, syncs and closes the file.
    func finish() throws(MapStoreError) {
        if let stream { try deflate(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, stream: stream) }
        try Syscalls.fsync(fd, path)
        finished = true
        do { try fd.close() } catch let error as Errno {
            throw MapStoreError.io(errno: error.rawValue, operation: "close", path: path)
        } catch {
            throw MapStoreError.io(errno: EIO, operation: "close", path: path)
        }
    }
}

/// Where restore reads a backup from: the file as it is, or through zlib's inflate when it
/// starts with gzip's magic bytes (1f 8b). Damage in a gzip stream (bad data, CRC or length,
/// a truncated end, trailing bytes) is a ``MapStoreError/corrupted(page:reason:)`` naming
/// the file and the page of the database it was decoding.
final class BackupSource {
    let path: String
    let isGzip: Bool
    private let fd: FileDescriptor
    private var stream: UnsafeMutablePointer<z_stream>?
    private let input: UnsafeMutableRawPointer
    private static let chunk = 1 << 18
    private var fileOffset = 0
    private var ended = false
    /// Decoded bytes handed out so far.
    private(set) var produced = 0
    /// Size of the backup file in bytes.
    let fileSize: Int

    init(path: String) throws(MapStoreError) {
        self.path = path
        fd = try Syscalls.open(path, create: false, writable: false)
        input = UnsafeMutableRawPointer.allocate(byteCount: Self.chunk, alignment: 16)
        do throws(MapStoreError) {
            fileSize = try Syscalls.fileSize(fd, path)
            let magic = UnsafeMutableRawBufferPointer(start: input, count: 2)
            let count = try Syscalls.pread(fd, path, into: magic, at: 0)
            isGzip = count == 2 && magic[0] == 0x1f && magic[1] == 0x8b
        } catch {
            try? fd.close()
            input.deallocate()
            throw error
        }
        if isGzip {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            let status = inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard status == Z_OK else {
                stream.deallocate()
                throw MapStoreError.invalidArgument(reason: "zlib inflateInit2 failed (\(status)) for \(path)")
            }
            stream.pointee.avail_in = 0
            self.stream = stream
        }
    }

    deinit {
        if let stream {
            inflateEnd(stream)
            stream.deallocate()
        }
        input.deallocate()
        try? fd.close()
    }

    private func damaged(_ reason: String, pageSize: Int) -> MapStoreError {
        .corrupted(page: UInt64(produced / pageSize), reason: "backup \(path): \(reason)")
    }

    /// Fills `buffer` completely and returns its size, or returns fewer bytes only at the
    /// end of the backup (0 when it is over).
    func read(into buffer: UnsafeMutableRawBufferPointer, pageSize: Int) throws(MapStoreError) -> Int {
        guard let stream else {
            var filled = 0
            while filled < buffer.count {
                let count = try Syscalls.pread(fd, path, into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]), at: fileOffset)
                if count == 0 { break }
                filled += count
                fileOffset += count
            }
            produced += filled
            return filled
        }
        var filled = 0
        while filled < buffer.count, !ended {
            if stream.pointee.avail_in == 0 {
                let count = try Syscalls.pread(fd, path, into: UnsafeMutableRawBufferPointer(start: input, count: Self.chunk), at: fileOffset)
                guard count > 0 else { throw damaged("gzip stream ends early (truncated file)", pageSize: pageSize) }
                fileOffset += count
                stream.pointee.next_in = input.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_in = uInt(count)
            }
            stream.pointee.next_out = (buffer.baseAddress! + filled).assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(buffer.count - filled)
            let before = buffer.count - filled
            let status = inflate(stream, Z_NO_FLUSH)
            filled += before - Int(stream.pointee.avail_out)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                ended = true
                if stream.pointee.avail_in != 0 || fileOffset < fileSize {
                    throw damaged("bytes after the end of the gzip stream", pageSize: pageSize)
                }
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                throw damaged("gzip stream damaged (\(message))", pageSize: pageSize)
            }
        }
        produced += filled
        return filled
    }
}
