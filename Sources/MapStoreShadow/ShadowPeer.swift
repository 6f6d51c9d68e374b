import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// The second process of the `two-process` workload: it maps the same data file
/// (MAP_SHARED, PROT_READ, MADV_RANDOM, as a `.readOnly` store would) and reads some pages,
/// so that the store's process and it share page-cache frames.
///
/// Protocol, on the peer's standard input and output: the parent writes one line of page
/// numbers separated by spaces; the peer maps the file, reads one byte of each page, and
/// answers `ready BASE` (its mapping's address in hex); it then holds the mapping until its
/// standard input reaches end of file, and exits 0. Any failure is a line `error: ...` and exit 1.
public enum ShadowPeer {
    /// Runs the peer side on `path` (the `mapstore vm shadow-peer FILE` command).
    public static func serve(path: String) -> Int32 {
        func fail(_ message: String) -> Int32 {
            let line = Array("error: \(message)\n".utf8)
            _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            return 1
        }
        var input: [UInt8] = []
        var byte: UInt8 = 0
        while read(0, &byte, 1) == 1, byte != 0x0a { input.append(byte) }
        let pages = String(decoding: input, as: UTF8.self).split(separator: " ").compactMap { Int($0) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return fail("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return fail("cannot stat \(path)") }
        let length = Int(info.st_size)
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else {
            return fail("mmap \(path): \(String(cString: strerror(errno)))")
        }
        defer { munmap(map, length) }
        _ = madvise(map, length, MADV_RANDOM)
        var sink: UInt8 = 0
        for page in pages where page >= 0 && page * pageSize < length {
            sink &+= map.load(fromByteOffset: page * pageSize, as: UInt8.self)
        }
        KernelProbe.keep(sink)
        let ready = Array("ready \(String(UInt(bitPattern: map), radix: 16))\n".utf8)
        _ = ready.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        while read(0, &byte, 1) > 0 {}
        return 0
    }
}

/// The parent's handle on a running peer process.
final class ShadowPeerProcess {
    let pid: pid_t
    let toPeer: Int32
    /// Where the peer mapped the file.
    let base: UInt

    /// Starts `command` (argv, the file path appended) and has it read `pages`.
    init(command: [String], path: String, pages: [UInt64]) throws {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else {
            throw MapStoreError.io(errno: errno, operation: "pipe", path: path)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        posix_spawn_file_actions_addclose(&actions, toChild[1])
        posix_spawn_file_actions_addclose(&actions, fromChild[0])
        let argv = command + [path]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, argv[0], &actions, nil, &cArgs, environ)
        close(toChild[0])
        close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw MapStoreError.io(errno: rc, operation: "posix_spawn \(argv[0])", path: path)
        }
        pid = child
        toPeer = toChild[1]
        let request = Array((pages.map { String($0) }.joined(separator: " ") + "\n").utf8)
        _ = request.withUnsafeBytes { write(toChild[1], $0.baseAddress, $0.count) }
        var answer: [UInt8] = []
        var byte: UInt8 = 0
        while read(fromChild[0], &byte, 1) == 1, byte != 0x0a { answer.append(byte) }
        close(fromChild[0])
        let line = String(decoding: answer, as: UTF8.self)
        guard line.hasPrefix("ready "), let address = UInt(line.dropFirst(6), radix: 16) else {
            close(toChild[1])
            var status: Int32 = 0
            waitpid(child, &status, 0)
            throw MapStoreError.invalidArgument(reason: "the peer process (\(argv[0])) did not map \(path): \(line.isEmpty ? "no answer" : line)")
        }
        base = address
    }

    /// Lets the peer unmap and exit, and waits for it.
    func finish() {
        close(toPeer)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
