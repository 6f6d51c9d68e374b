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

/// Where backup bytes go: an ``OutputFile``, written front to back, plain or through zlib's
/// deflate. The sink only encodes; the output decides when the bytes become the file
/// (``OutputFile/commit()``), so a backup that fails leaves the path as it was.
final class BackupSink {
    let output: OutputFile
    private let compression: BackupCompression
    private var stream: UnsafeMutablePointer<z_stream>?
    private let out: UnsafeMutableRawPointer
    private static let chunk = 1 << 18
    /// Bytes written to the output so far.
    var bytesWritten: Int { output.bytesWritten }

    init(output: OutputFile, compression: BackupCompression) throws(MapStoreError) {
        self.output = output
        self.compression = compression
        out = UnsafeMutableRawPointer.allocate(byteCount: Self.chunk, alignment: 16)
        if compression == .gzip {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // windowBits 15 + 16: a gzip wrapper rather than zlib's own.
            let status = deflateInit2_(stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                                       ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard status == Z_OK else {
                stream.deallocate()  // `out` is freed by deinit: every property is set by now
                throw MapStoreError.invalidArgument(reason: "zlib deflateInit2 failed (\(status)) for \(output.name)")
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
    }

    private func writeOut(_ bytes: UnsafeRawBufferPointer) throws(MapStoreError) {
        try output.write(bytes)
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
                throw MapStoreError.invalidArgument(reason: "zlib deflate failed (\(status)) writing \(output.name)")
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

    /// Ends the stream (a gzip stream gets its trailer) and commits the output.
    func finish() throws(MapStoreError) {
        if let stream { try deflate(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, stream: stream) }
        try output.commit()
    }
}

/// Where restore reads a backup from: a file or a descriptor (standard input), read front to
/// back, as it is or through zlib's inflate when it starts with gzip's magic bytes (1f 8b).
/// Damage in a gzip stream (bad data, CRC or length, a truncated end, trailing bytes) is a
/// ``MapStoreError/corrupted(page:reason:)`` naming the backup and the page of the database it
/// was decoding.
final class BackupSource {
    let path: String
    let isGzip: Bool
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var stream: UnsafeMutablePointer<z_stream>?
    /// Raw bytes read ahead: `input[inputStart..<inputEnd]` are not consumed yet.
    private let input: UnsafeMutableRawPointer
    private var inputStart = 0
    private var inputEnd = 0
    private static let chunk = 1 << 18
    private var ended = false
    /// Decoded bytes handed out so far.
    private(set) var produced = 0
    /// Bytes of the backup itself taken so far (compressed ones for gzip): how far through
    /// `fileSize` the restore has come.
    var consumed: Int { stream.map { Int($0.pointee.total_in) } ?? produced }
    /// Size of the backup in bytes when it is a regular file (0 for a pipe).
    let fileSize: Int
    /// Permission bits of the backup file (0o644 for a pipe).
    let permissions: UInt32

    convenience init(path: String) throws(MapStoreError) {
        let file = try Syscalls.open(path, create: false, writable: false)
        try self.init(descriptor: file.rawValue, name: path, owns: true)
    }

    init(descriptor: Int32, name: String, owns: Bool) throws(MapStoreError) {
        path = name
        fd = descriptor
        ownsDescriptor = owns
        var info = stat()
        let regular = fstat(descriptor, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        fileSize = regular ? Int(info.st_size) : 0
        permissions = regular ? UInt32(info.st_mode & 0o777) : 0o644
        let input = UnsafeMutableRawPointer.allocate(byteCount: Self.chunk, alignment: 16)
        self.input = input
        // Two bytes tell gzip's magic (a pipe may hand them over one at a time).
        let start: Int
        do throws(MapStoreError) {
            start = try Syscalls.readFully(descriptor, name, into: UnsafeMutableRawBufferPointer(start: input, count: 2))
        } catch {
            input.deallocate()
            if owns { close(descriptor) }
            throw error
        }
        inputEnd = start
        isGzip = start == 2 && input.load(as: UInt8.self) == 0x1f && input.load(fromByteOffset: 1, as: UInt8.self) == 0x8b
        if isGzip {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            let status = inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard status == Z_OK else {
                stream.deallocate()  // the rest is freed by deinit: every property is set by now
                throw MapStoreError.invalidArgument(reason: "zlib inflateInit2 failed (\(status)) for \(name)")
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
        if ownsDescriptor { close(fd) }
    }

    /// Reads more raw bytes after those buffered (moving them to the front); returns how many
    /// arrived (0 at the end of the input).
    private func refill() throws(MapStoreError) -> Int {
        if inputStart > 0 {
            (input).copyMemory(from: input + inputStart, byteCount: inputEnd - inputStart)
            inputEnd -= inputStart
            inputStart = 0
        }
        guard inputEnd < Self.chunk else { return 0 }
        var count: Int
        repeat { count = Glibc.read(fd, input + inputEnd, Self.chunk - inputEnd) } while count < 0 && errno == EINTR
        guard count >= 0 else { throw MapStoreError.io(errno: errno, operation: "read", path: path) }
        inputEnd += count
        return count
    }

    private func damaged(_ reason: String, pageSize: Int) -> MapStoreError {
        .corrupted(page: UInt64(produced / pageSize), reason: "backup \(path): \(reason)")
    }

    /// Fills `buffer` completely and returns its size, or returns fewer bytes only at the
    /// end of the backup (0 when it is over).
    func read(into buffer: UnsafeMutableRawBufferPointer, pageSize: Int) throws(MapStoreError) -> Int {
        guard let stream else {
            let buffered = min(inputEnd - inputStart, buffer.count)
            buffer.baseAddress!.copyMemory(from: input + inputStart, byteCount: buffered)
            inputStart += buffered
            let filled = buffered + (try Syscalls.readFully(fd, path, into: UnsafeMutableRawBufferPointer(rebasing: buffer[buffered...])))
            produced += filled
            return filled
        }
        var filled = 0
        while filled < buffer.count, !ended {
            if inputStart == inputEnd {
                inputStart = 0
                inputEnd = 0
                guard try refill() > 0 else { throw damaged("gzip stream ends early (truncated file)", pageSize: pageSize) }
            }
            stream.pointee.next_in = (input + inputStart).assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = uInt(inputEnd - inputStart)
            stream.pointee.next_out = (buffer.baseAddress! + filled).assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(buffer.count - filled)
            let before = buffer.count - filled
            let status = inflate(stream, Z_NO_FLUSH)
            filled += before - Int(stream.pointee.avail_out)
            inputStart = inputEnd - Int(stream.pointee.avail_in)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                ended = true
                let trailing = inputStart != inputEnd ? inputEnd - inputStart : try refill()
                if trailing > 0 {
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
